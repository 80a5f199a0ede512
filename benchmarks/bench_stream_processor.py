"""The CPU the proxy's Chat Completions stream processor spends on one stream, with whole reads passed on or not.

    .venv/bin/python -m benchmarks.bench_stream_processor [--tokens 100] [--repeat 300]

Builds an OpenAI chat stream of ``--tokens`` content events (a first event with the id and model, the content, the
finishing event, the usage event, ``[DONE]``), as the proxy asks for it (usage included, hidden from the client),
and feeds it to ``_ChatStream`` in three read shapes: an event a read (a real provider, token by token), four
events a read, and the whole stream in one read (a short answer). For each: microseconds a stream, with whole
reads of plain events passed on (``_ChatStream._passes``, the proxy's path) and with every event cut and checked
on its own; the two outputs are checked equal first.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import orjson

from payi_server.proxy.adapters.openai import _ChatStream


def _event(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def stream_events(tokens: int) -> list[bytes]:
    head: dict[str, Any] = {
        "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "system_fingerprint": "fp_bench", "usage": None,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}],
    }
    events = [_event(head)]
    events += [
        _event({**head, "choices": [{"index": 0, "delta": {"content": f" word{i}"}, "logprobs": None,
                                     "finish_reason": None}]})
        for i in range(tokens)
    ]
    events.append(_event({**head, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]}))
    events.append(_event({**head, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": tokens,
                                                           "total_tokens": 5 + tokens}}))
    events.append(b"data: [DONE]\n\n")
    return events


def _result(units: Any, response_id: str | None, model: str | None) -> dict[str, Any]:
    return {"request_id": "1", "units": units}


def run(reads: list[bytes], *, whole: bool) -> bytes:
    stream = _ChatStream(_result, False, hide_usage=True)
    if not whole:
        stream._passes = lambda chunk: False  # type: ignore[method-assign]
    return b"".join([stream.feed(read) for read in reads]) + stream.finish()


def measure(tokens: int, repeat: int) -> dict[str, dict[str, float]]:
    events = stream_events(tokens)
    shapes = {
        "an event a read": events,
        "4 events a read": [b"".join(events[i : i + 4]) for i in range(0, len(events), 4)],
        "the stream in one read": [b"".join(events)],
    }
    out: dict[str, dict[str, float]] = {}
    for name, reads in shapes.items():
        if run(reads, whole=True) != run(reads, whole=False):
            raise AssertionError(f"{name}: the two paths disagree")
        out[name] = {}
        for whole in (True, False):
            started = time.perf_counter()
            for _ in range(repeat):
                run(reads, whole=whole)
            out[name]["whole reads passed" if whole else "event by event"] = round(
                (time.perf_counter() - started) / repeat * 1e6, 1
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    print(f"A chat stream of {args.tokens} content events; microseconds a stream (mean of {args.repeat}).\n")
    print("| reads | whole reads passed (the proxy) | event by event |")
    print("|---|---|---|")
    for name, figures in measure(args.tokens, args.repeat).items():
        print(f"| {name} | {figures['whole reads passed']:,.1f} | {figures['event by event']:,.1f} |")


if __name__ == "__main__":
    main()
