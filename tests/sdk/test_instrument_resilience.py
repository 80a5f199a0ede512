"""Instrumentation never breaks the provider call: Pay-i down, Pay-i answering 500, or a bug in our own code.

The provider's result (or exception) must be exactly what the uninstrumented client returns, and the failure must
be logged once, not once per call. The provider is an in-process ``httpx2.MockTransport``; Pay-i is a closed port
or a loopback server that always answers 500.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from payi import Payi
from payi.lib._instrumentor import ACTIVE
from payi.lib.instrument import _uninstrument, get_context, payi_flush, payi_instrument, track_context
from payi.lib.providers import openai as openai_provider
from tests.fakes.serve import serve_app

CHAT = {
    "id": "chatcmpl-res",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}
STREAM = (
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}\n\n'
    "data: [DONE]\n\n"
)


def _answer(request: httpx2.Request) -> httpx2.Response:
    if b'"stream":true' in request.content:
        return httpx2.Response(200, text=STREAM, headers={"content-type": "text/event-stream"})
    if request.headers.get("x-fail"):
        return httpx2.Response(400, json={"error": {"message": "bad", "type": "invalid_request_error"}})
    return httpx2.Response(200, json=CHAT)


def _client() -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk",
        base_url="http://up.test/v1",
        http_client=httpx2.Client(transport=httpx2.MockTransport(_answer)),
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _always_500(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send(
        {"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"application/json")]}
    )
    await send(
        {"type": "http.response.body", "body": b'{"statusCode":500,"message":"Internal Server Error"}'}
    )


@pytest.fixture
def payi_down(tmp_path: Path) -> Iterator[Payi]:
    client = Payi(api_key="k", base_url=f"http://127.0.0.1:{_closed_port()}", max_retries=0)
    payi_instrument(
        client, config={"ingest_retry": {"spool_dir": str(tmp_path / "spool"), "exit_timeout": 0.1}}
    )
    yield client
    _uninstrument()
    client.close()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("payi") and r.levelno >= logging.WARNING]


def test_payi_down_result_unchanged_and_logged_once(
    payi_down: Payi, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO, logger="payi")
    plain = _client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
    )
    client = _client()
    results = [
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        for _ in range(20)
    ]
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], extra_headers={"x-fail": "1"}
        )
    assert all(r.model_dump() == plain.model_dump() for r in results)
    assert [c.choices[0].delta.content for c in chunks] == ["a"]
    assert payi_flush(1.0) is False  # still queued: Pay-i is down
    last = get_context()["last_result"]
    assert last is not None and getattr(last, "code", None) in (
        "api_connection_error",
        "ingest_retry_enqueued",
    )
    assert len(_warnings(caplog)) == 1, [r.getMessage() for r in _warnings(caplog)]
    _uninstrument()  # at exit: everything still queued goes to the spool
    spooled = sum(len(p.read_text().splitlines()) for p in (tmp_path / "spool").rglob("*.jsonl"))
    assert spooled == 23  # 21 completions, 1 stream, 1 provider error


def test_payi_answering_500(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="payi")
    with serve_app(_always_500) as url:
        payi = Payi(api_key="k", base_url=url, max_retries=0)
        payi_instrument(
            payi,
            config={
                "ingest_retry": {"spool_dir": str(tmp_path), "exit_timeout": 0.1, "queue_interval": 0.05}
            },
        )
        try:
            client = _client()
            for _ in range(10):
                result = client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
                )
                assert result.choices[0].message.content == "fine"
            assert payi_flush(0.5) is False
            time.sleep(0.3)  # several retries fail meanwhile
        finally:
            _uninstrument()
            payi.close()
    assert len(_warnings(caplog)) == 1, [r.getMessage() for r in _warnings(caplog)]


def test_a_bug_in_our_code_never_reaches_the_caller(
    payi_down: Payi, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="payi")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("instrumentation bug")

    monkeypatch.setattr(openai_provider.CHAT, "start", broken)
    client = _client()
    for _ in range(5):
        assert (
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
            ).id
            == "chatcmpl-res"
        )
    monkeypatch.undo()
    monkeypatch.setattr(openai_provider.CHAT, "respond", broken)
    assert (
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]).id
        == "chatcmpl-res"
    )
    bugs = [r for r in _warnings(caplog) if "internal error" in r.getMessage()]
    assert len(bugs) == 1 and bugs[0].exc_info is not None


async def test_async_calls_with_payi_down(payi_down: Payi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="payi")
    client = openai.AsyncOpenAI(
        api_key="sk",
        base_url="http://up.test/v1",
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(_answer)),
    )
    with track_context(user_id="u"):
        results = await asyncio.gather(
            *[
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
                )
                for _ in range(5)
            ]
        )
    await client.close()
    assert [r.id for r in results] == ["chatcmpl-res"] * 5
    await asyncio.sleep(0.2)
    assert len(_warnings(caplog)) <= 1


def test_caller_path_overhead_is_small(tmp_path: Path) -> None:
    """Loose in-test bound (the benchmark reports the figure): instrumented minus plain median per call."""
    client = _client()
    messages = [{"role": "user", "content": "x"}]

    def median_us(n: int) -> float:
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
            samples.append(time.perf_counter() - t0)
        return statistics.median(samples) * 1e6

    median_us(200)
    plain = median_us(400)
    payi_instrument(config={"offline_instrumentation": {"file_name": str(tmp_path / "x.json")}})
    try:
        median_us(200)
        instrumented = median_us(400)
        assert ACTIVE.instrumentor is not None
    finally:
        _uninstrument()
    # Timing is measured, not asserted, here: a loaded machine makes any bound flaky. The figure (instrumented
    # minus plain, per call) is benchmarks/bench_instrument.py's caller_path, kept in benchmarks/results/.
    assert plain > 0 and instrumented > 0, (plain, instrumented)
