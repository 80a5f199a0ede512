"""LangChain's ``ChatOpenAI`` and ``ChatAnthropic`` (real packages) metered by ``payi_instrument``: they call the
providers' ``with_raw_response`` methods, plain and streamed, sync and async, against the fake upstream."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from payi.lib.instrument import payi_flush, track_context

from .instrument_env import InstrumentEnv, fake_config, ienv

__all__ = ["fake_config", "ienv"]

langchain_openai = pytest.importorskip("langchain_openai")
langchain_anthropic = pytest.importorskip("langchain_anthropic")

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-3-5-haiku-20241022"
PROMPT = "alpha beta gamma delta epsilon zeta eta theta"


def _chat_anthropic(env: InstrumentEnv) -> Any:
    return langchain_anthropic.ChatAnthropic(
        model=ANTHROPIC_MODEL, api_key="sk-ant", base_url=env.fake_url, max_tokens=30, max_retries=0
    )


def _chat_openai(env: InstrumentEnv, **options: Any) -> Any:
    return langchain_openai.ChatOpenAI(
        model=OPENAI_MODEL, api_key="sk", base_url=env.openai_direct, max_retries=0, **options
    )


def _check(rows: list[dict[str, Any]], category: str, count: int) -> None:
    assert len(rows) == count
    for row in rows:
        assert row["source"] == "ingest" and row["category"] == category, row
        assert row["cost_total"] > 0 and row["units"]["text"]["input"] > 0 and row["units"]["text"]["output"] > 0
        assert row["use_case_name"] == "lc" and row["user_id"] == "u-lc"


def test_chat_anthropic_plain_and_streamed(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    model = _chat_anthropic(ienv)
    with track_context(use_case_name="lc", user_id="u-lc"):
        answer = model.invoke(PROMPT)
        chunks = list(model.stream(PROMPT))
    assert answer.content and "".join(str(chunk.content) for chunk in chunks)
    assert payi_flush(5)
    rows = ienv.recorded(2)
    _check(rows, "system.anthropic", 2)
    assert rows[0]["provider_response_id"] == answer.response_metadata["id"]
    assert rows[0]["units"] == rows[1]["units"]  # the same answer, metered the same way plain and streamed


async def test_chat_anthropic_async(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    model = _chat_anthropic(ienv)
    with track_context(use_case_name="lc", user_id="u-lc"):
        answer = await model.ainvoke(PROMPT)
        chunks = [chunk async for chunk in model.astream(PROMPT)]
    assert answer.content and chunks
    assert payi_flush(5)
    _check(ienv.recorded(2), "system.anthropic", 2)


def test_chat_openai_headers_and_responses_api(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    with track_context(use_case_name="lc", user_id="u-lc"):
        plain = _chat_openai(ienv).invoke(PROMPT)
        with_headers = _chat_openai(ienv, include_response_headers=True).invoke(PROMPT)
        streamed = list(_chat_openai(ienv, include_response_headers=True).stream(PROMPT))
        responses = _chat_openai(ienv, use_responses_api=True).invoke(PROMPT)
        responses_streamed = list(_chat_openai(ienv, use_responses_api=True).stream(PROMPT))
    assert plain.content and "headers" in with_headers.response_metadata and streamed
    assert responses.content and responses_streamed
    assert payi_flush(5)
    rows = ienv.recorded(5)
    _check(rows, "system.openai", 5)
    assert rows[0]["units"] == rows[1]["units"] == rows[2]["units"]


async def test_chat_openai_async(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    with track_context(use_case_name="lc", user_id="u-lc"):
        plain = await _chat_openai(ienv, include_response_headers=True).ainvoke(PROMPT)
        streamed = [c async for c in _chat_openai(ienv, include_response_headers=True).astream(PROMPT)]
        responses = await _chat_openai(ienv, use_responses_api=True).ainvoke(PROMPT)
        responses_streamed = [c async for c in _chat_openai(ienv, use_responses_api=True).astream(PROMPT)]
    assert plain.content and streamed and responses.content and responses_streamed
    assert payi_flush(5)
    _check(ienv.recorded(4), "system.openai", 4)


def test_raw_and_streaming_response_forms_of_the_providers(ienv: InstrumentEnv) -> None:
    """The SDK calls directly: with_raw_response (read or streamed events) and with_streaming_response."""
    ienv.instrument()
    client = ienv.closing(anthropic.Anthropic(api_key="sk-ant", base_url=ienv.fake_url, max_retries=0))
    oai = ienv.closing(openai.OpenAI(api_key="sk", base_url=ienv.openai_direct, max_retries=0))
    messages: Any = [{"role": "user", "content": PROMPT}]
    with track_context(use_case_name="lc", user_id="u-lc"):
        raw = client.messages.with_raw_response.create(model=ANTHROPIC_MODEL, max_tokens=30, messages=messages)
        assert raw.parse().usage.output_tokens > 0
        raw_stream = client.messages.with_raw_response.create(
            model=ANTHROPIC_MODEL, max_tokens=30, messages=messages, stream=True
        )
        assert [event.type for event in raw_stream.parse()][-1] == "message_stop"
        with client.messages.with_streaming_response.create(
            model=ANTHROPIC_MODEL, max_tokens=30, messages=messages
        ) as streamed:
            assert streamed.parse().id
        with client.messages.with_streaming_response.create(
            model=ANTHROPIC_MODEL, max_tokens=30, messages=messages
        ) as streamed:
            assert streamed.json()["id"]  # type: ignore[index]  # read, never parsed
        with oai.chat.completions.with_streaming_response.create(
            model=OPENAI_MODEL, messages=messages, stream=True
        ) as streamed:
            assert list(streamed.parse())
    assert payi_flush(5)
    rows = ienv.recorded(5)
    _check(rows[:4], "system.anthropic", 4)
    _check(rows[4:], "system.openai", 1)


async def test_async_raw_and_streaming_response_forms(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    client = anthropic.AsyncAnthropic(api_key="sk-ant", base_url=ienv.fake_url, max_retries=0)
    messages: Any = [{"role": "user", "content": PROMPT}]
    with track_context(use_case_name="lc", user_id="u-lc"):
        raw = await client.messages.with_raw_response.create(model=ANTHROPIC_MODEL, max_tokens=30, messages=messages)
        assert (await raw.parse()).id
        async with client.messages.with_streaming_response.create(
            model=ANTHROPIC_MODEL, max_tokens=30, messages=messages, stream=True
        ) as streamed:
            assert [event.type async for event in await streamed.parse()][-1] == "message_stop"
        async with client.messages.with_streaming_response.create(
            model=ANTHROPIC_MODEL, max_tokens=30, messages=messages
        ) as streamed:
            assert (await streamed.json())["id"]  # type: ignore[index]
    await client.close()
    assert payi_flush(5)
    rows = ienv.recorded(3)
    _check(rows, "system.anthropic", 3)
    assert rows[0]["units"] == rows[1]["units"] == rows[2]["units"]
