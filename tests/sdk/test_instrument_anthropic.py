"""``payi_instrument`` with the real ``anthropic`` client against the fake upstream and our live server."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from payi.lib.helpers import payi_anthropic_url
from payi.lib.instrument import get_context, payi_flush, track_context
from tests.fakes.config import FakeConfig

from .instrument_env import MESSAGES, InstrumentEnv, fake_config, ienv

__all__ = ["fake_config", "ienv"]

MODEL = "claude-3-5-haiku-20241022"
CACHED = {
    "input_tokens": 10,
    "output_tokens": 20,
    "cache_read_input_tokens": 1000,
    "cache_creation_input_tokens": 200,
}


def _direct(env: InstrumentEnv, **headers: str) -> anthropic.Anthropic:
    return env.closing(
        anthropic.Anthropic(api_key="sk-ant", base_url=env.fake_url, default_headers=headers, max_retries=0)
    )  # type: ignore[no-any-return]


def _proxied(env: InstrumentEnv, **headers: str) -> anthropic.Anthropic:
    return env.closing(  # type: ignore[no-any-return]
        anthropic.Anthropic(
            api_key="sk-ant",
            base_url=payi_anthropic_url(env.live.url),
            default_headers={"xProxy-Api-Key": env.key, **headers},
        )
    )


def _same_record(ingested: dict[str, Any], proxied: dict[str, Any]) -> None:
    for column in (
        "category",
        "resource",
        "units",
        "cost_input",
        "cost_output",
        "cost_total",
        "user_id",
        "use_case_name",
        "limit_ids",
        "http_status_code",
        "resource_scope",
    ):
        assert ingested[column] == proxied[column], column


def test_create_and_stream_ingest_match_the_proxy(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    with track_context(use_case_name="writer", user_id="u-2"):
        message = _direct(ienv).messages.create(model=MODEL, max_tokens=30, messages=MESSAGES)  # type: ignore[arg-type]
        with _direct(ienv).messages.stream(model=MODEL, max_tokens=30, messages=MESSAGES) as stream:  # type: ignore[arg-type]
            streamed_text = "".join(stream.text_stream)
            final = stream.get_final_message()
        raw = _direct(ienv).messages.create(model=MODEL, max_tokens=30, messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        events = list(raw)
        assert payi_flush(5)  # the ingested rows first
        with track_context(proxy=True):
            proxied = _proxied(ienv).messages.create(model=MODEL, max_tokens=30, messages=MESSAGES)  # type: ignore[arg-type]
    assert streamed_text == message.content[0].text == proxied.content[0].text  # type: ignore[union-attr]
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    assert payi_flush(5)
    create_row, stream_row, raw_row, proxy_row = ienv.recorded(4)
    for row in (create_row, stream_row, raw_row):
        _same_record(row, proxy_row)
        assert row["source"] == "ingest" and row["category"] == "system.anthropic" and row["cost_total"] > 0
    assert create_row["provider_response_id"] == message.id and stream_row["provider_response_id"] == final.id
    assert stream_row["time_to_first_token_ms"] is not None
    assert create_row["use_case_name"] == "writer" and create_row["user_id"] == "u-2"


@pytest.mark.parametrize("fake_config", [FakeConfig(stream_chunks=3, anthropic_full_delta_usage=True)])
async def test_async_create_stream_and_cache_units(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    client = anthropic.AsyncAnthropic(
        api_key="sk-ant", base_url=ienv.fake_url, default_headers={"x-fake-usage": json.dumps(CACHED)}
    )
    message = await client.messages.create(model=MODEL, max_tokens=30, messages=MESSAGES)  # type: ignore[arg-type]
    stream = await client.messages.create(model=MODEL, max_tokens=30, messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    events = [event async for event in stream]
    async with client.messages.stream(model=MODEL, max_tokens=30, messages=MESSAGES) as helper:  # type: ignore[arg-type]
        text = [t async for t in helper.text_stream]
    await client.close()
    assert events and text and message.usage.cache_read_input_tokens == 1000
    assert payi_flush(5)
    rows = ienv.recorded(3)
    expected = {
        "text": {"input": 10, "output": 20},
        "text_cache_read": {"input": 1000},
        "text_cache_write": {"input": 200},
    }
    assert [r["units"] for r in rows] == [expected] * 3
    # 10 x 0.8e-6 + 1000 x 0.08e-6 + 200 x 1e-6 input, 20 x 4e-6 output
    assert float(rows[0]["cost_total"]) == pytest.approx(0.000288 + 20 * 4e-6)
    assert rows[1]["cost_total"] == rows[0]["cost_total"] == rows[2]["cost_total"]


def test_proxy_mode_stream_and_limit_block(ienv: InstrumentEnv) -> None:
    ienv.instrument(config={"proxy": True})
    limit = ienv.payi().limits.create(limit_name="tiny", max=1e-9, limit_type="block").limit.limit_id
    client = _proxied(ienv)
    with track_context(limit_ids=[limit], use_case_name="limited"):
        with client.messages.stream(model=MODEL, max_tokens=30, messages=MESSAGES) as stream:  # type: ignore[arg-type]
            events = list(stream)
        assert any(e.type == "message_delta" and "xproxy_result" in (e.model_extra or {}) for e in events)
        with pytest.raises(anthropic.BadRequestError):
            client.messages.create(model=MODEL, max_tokens=30, messages=MESSAGES)  # type: ignore[arg-type]
        last = get_context()["last_result"]
    assert last is not None and getattr(last, "code", None) == "limit_reached"
    rows = ienv.recorded(2)
    assert rows[0]["limit_ids"] == [limit] and rows[0]["use_case_name"] == "limited"


def test_error_and_tool_use(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    with pytest.raises(anthropic.InternalServerError):
        _direct(ienv, **{"x-fake-status": "500"}).messages.create(
            model=MODEL, max_tokens=30, messages=MESSAGES
        )  # type: ignore[arg-type]
    assert payi_flush(5)
    (row,) = ienv.recorded(1)
    assert row["http_status_code"] == 500 and row["failed"] is True and row["category"] == "system.anthropic"


def test_exception_without_status_is_a_semantic_failure(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    client = ienv.closing(anthropic.Anthropic(api_key="k", base_url="http://127.0.0.1:9", max_retries=0))
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.create(model=MODEL, max_tokens=30, messages=MESSAGES)  # type: ignore[arg-type]
    assert payi_flush(5)
    (row,) = ienv.recorded(1)
    assert row["http_status_code"] == 299
    assert row["properties"]["system.failure"] == "APIConnectionError"
    assert row["provider_response_id"].startswith("payi_")
