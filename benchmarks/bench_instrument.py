"""What ``payi_instrument`` (ingest mode) adds to a provider call, sequential calls, in microseconds.

    .venv/bin/python -m benchmarks.bench_instrument [--calls 2000] [--rounds 5] [--json benchmarks/results/instrument.json]

Three setups, each timing the same OpenAI chat call (plain and streamed) with the real ``openai`` client:

- ``caller_path``: the provider is an in-process ``httpx2.MockTransport`` and events are handed to a no-op
  sender, so the difference is exactly the instrumentor's work on the caller's thread (context, headers,
  request snapshot, clock, stream bookkeeping, queue hand-off);
- ``loopback``: the fake upstream and ``payi-server serve`` each in their own process on loopback ports; what the
  caller sees end to end while the background sender really ingests every call;
- ``in_process_worst_case``: the provider is the in-process mock (the caller never waits on I/O, so the
  sender's CPU competes with it for the GIL) and events really go to the server.

Rounds alternate instrumented and detached (patches inert) to cancel drift; the unpatched baseline is measured
first. Wall figures are medians and means over all calls; ``added_cpu_us`` is the CPU time of the application process
(every thread: the caller and the background sender, not the servers) added per call, which a loaded machine
disturbs far less than wall time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import openai
from tests.e2e.servers import run_server

from benchmarks.bench_proxy import fake_upstream
from payi import Payi
from payi.lib._instrumentor import ACTIVE
from payi.lib.instrument import _uninstrument, payi_flush, payi_instrument

MESSAGES = [{"role": "user", "content": "say something short"}]
CHAT = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16},
}
_CHUNK = '{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"ok"}}]}'
_USAGE = '{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}}'
STREAM = f"data: {_CHUNK}\n\ndata: {_CHUNK}\n\ndata: {_USAGE}\n\ndata: [DONE]\n\n"


def _mock(request: httpx2.Request) -> httpx2.Response:
    if b'"stream":true' in request.content:
        return httpx2.Response(200, text=STREAM, headers={"content-type": "text/event-stream"})
    return httpx2.Response(200, json=CHAT)


def _calls(client: openai.OpenAI) -> dict[str, Callable[[], Any]]:
    def plain() -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=16)  # type: ignore[arg-type]

    def streamed() -> Any:
        return list(
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=16, stream=True)
        )  # type: ignore[arg-type]

    return {"chat": plain, "chat_stream": streamed}


def _time(fn: Callable[[], Any], n: int, cpu: list[float] | None = None) -> list[float]:
    """Wall time of each call (us); appends the process CPU time per call (all threads, us) to ``cpu``."""
    samples = []
    c0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e6)
    if cpu is not None:
        cpu.append((time.process_time() - c0) / n * 1e6)
    return samples


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_us": round(statistics.median(ordered), 1),
        "mean_us": round(statistics.fmean(ordered), 1),
        "p99_us": round(ordered[int(len(ordered) * 0.99) - 1], 1),
    }


def _measure(
    client: openai.OpenAI, instrument: Callable[[], None], calls: int, rounds: int
) -> dict[str, Any]:
    """Baseline unpatched, then alternating detached / instrumented rounds."""
    fns = _calls(client)
    out: dict[str, Any] = {}
    baseline = {name: _time(fn, calls // 4) for name, fn in fns.items()}  # warm-up included
    baseline = {name: _time(fn, calls) for name, fn in fns.items()}
    instrument()
    inst = ACTIVE.instrumentor
    detached: dict[str, list[float]] = {name: [] for name in fns}
    attached: dict[str, list[float]] = {name: [] for name in fns}
    cpu_off: dict[str, list[float]] = {name: [] for name in fns}
    cpu_on: dict[str, list[float]] = {name: [] for name in fns}
    for name, fn in fns.items():
        _time(fn, calls // 4)  # warm-up
        for _ in range(rounds):
            ACTIVE.instrumentor = None
            detached[name] += _time(fn, calls // rounds, cpu_off[name])
            ACTIVE.instrumentor = inst
            c0 = time.process_time()
            attached[name] += _time(fn, calls // rounds)
            assert payi_flush(30), "events were not delivered"
            cpu_on[name].append(
                (time.process_time() - c0) / (calls // rounds) * 1e6
            )  # the sender's work included
    for name in fns:
        base, off, on = _summary(baseline[name]), _summary(detached[name]), _summary(attached[name])
        out[name] = {
            "unpatched": base,
            "patched_but_detached": off,
            "instrumented": on,
            "added_median_us": round(on["median_us"] - off["median_us"], 1),
            "added_mean_us": round(on["mean_us"] - off["mean_us"], 1),
            "cpu_per_call_us": {
                "detached": round(statistics.median(cpu_off[name]), 1),
                "instrumented": round(statistics.median(cpu_on[name]), 1),
            },
            "added_cpu_us": round(statistics.median(cpu_on[name]) - statistics.median(cpu_off[name]), 1),
        }
    sender = inst.sender if inst is not None else None
    out["events_delivered"] = getattr(sender, "delivered", None)
    _uninstrument()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000, help="calls per scenario and mode")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", default="", help="also write the results to this file")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    mock_client = openai.OpenAI(
        api_key="sk",
        base_url="http://upstream.test/v1",
        http_client=httpx2.Client(transport=httpx2.MockTransport(_mock)),
    )

    def caller_path_only() -> None:
        payi_instrument(
            config={"offline_instrumentation": {"file_name": str(Path(tempfile.gettempdir()) / "bench.json")}}
        )
        inst = ACTIVE.instrumentor
        assert inst is not None and inst.sender is not None
        inst.sender.submit = lambda work: None  # type: ignore[method-assign]

    results["caller_path"] = _measure(mock_client, caller_path_only, args.calls, args.rounds)

    with tempfile.TemporaryDirectory() as tmp, fake_upstream() as fake_url:
        env = {"PAYI_SERVER_ACCESS_LOG": "false", "PAYI_SERVER_LOG_LEVEL": "warning"}
        with run_server(Path(tmp) / "srv", env) as server:
            payi = Payi(api_key=server.keys["app1"], base_url=server.url)

            def ingest() -> None:
                payi_instrument(payi, config={"ingest_retry": {"spool_dir": str(Path(tmp) / "spool")}})

            loop_client = openai.OpenAI(api_key="sk", base_url=fake_url + "/v1")
            results["loopback"] = _measure(loop_client, ingest, args.calls, args.rounds)
            results["in_process_worst_case"] = _measure(mock_client, ingest, args.calls, args.rounds)
            loop_client.close()
            payi.close()
    mock_client.close()
    text = json.dumps(results, indent=2)
    print(text)
    for setup, data in results.items():
        for name in ("chat", "chat_stream"):
            row = data[name]
            print(
                f"{setup:22s} {name:12s} wall: +{row['added_median_us']:6.1f} us median (+{row['added_mean_us']:6.1f} mean)"
                f" of {row['instrumented']['median_us']:7.1f} us   process CPU: +{row['added_cpu_us']:6.1f} us per call"
            )
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
