"""Anthropic usage -> Pay-i units: cache read/write/1h, large context, web search, stream merge (traps.md 1-3)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from anthropic.types import Message, RawMessageDeltaEvent, RawMessageStartEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from payi.lib.units import side_total
from payi.lib.units.anthropic import (
    LARGE_CONTEXT_THRESHOLD,
    AnthropicStreamUsage,
    anthropic_resource_scope,
    anthropic_response_units,
    anthropic_usage_units,
    estimate_prompt_text_tokens,
    estimate_vision_tokens,
    merge_usage,
)

MODEL = "claude-sonnet-4-5-20250929"
MSG_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"

# --------------------------------------------------------------------------------------------- fixtures
# Shapes follow Anthropic's Messages API reference and streaming guide; validated with the anthropic client's models.


def message(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": MSG_ID,
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": "Hello! How can I help you today?"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


def stream_events(start_usage: dict[str, Any], delta_usage: dict[str, Any]) -> list[dict[str, Any]]:
    """The parsed ``data`` of each SSE event of a streamed Messages call."""
    start_message = message(start_usage)
    start_message.update(content=[], stop_reason=None)
    return [
        {"type": "message_start", "message": start_message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello!"}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": " How can I help you today?"},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": delta_usage,
        },
        {"type": "message_stop"},
    ]


CACHE_USAGE: dict[str, Any] = {
    "input_tokens": 21,
    "cache_creation_input_tokens": 1188,
    "cache_read_input_tokens": 2051,
    "cache_creation": {"ephemeral_5m_input_tokens": 456, "ephemeral_1h_input_tokens": 732},
    "output_tokens": 393,
    "service_tier": "standard",
}


def test_fixtures_parse_with_the_anthropic_client_models() -> None:
    Message.model_validate(message(CACHE_USAGE))
    events = stream_events({**CACHE_USAGE, "output_tokens": 1}, {"output_tokens": 393})
    RawMessageStartEvent.model_validate(events[0])
    RawMessageDeltaEvent.model_validate(events[-2])


# --------------------------------------------------------------------------------------------- non-streaming


def test_plain_message() -> None:
    usage = {"input_tokens": 11, "output_tokens": 21}
    assert anthropic_response_units(message(usage)) == {"text": {"input": 11, "output": 21}}


def test_cache_read_write_and_1h_write() -> None:
    # input_tokens EXCLUDES cache reads and writes: nothing is subtracted
    units = anthropic_response_units(message(CACHE_USAGE))
    assert units == {
        "text": {"input": 21, "output": 393},
        "text_cache_read": {"input": 2051},
        "text_cache_write": {"input": 456},
        "text_cache_write_1h": {"input": 732},
    }
    assert side_total(units, "input") == 21 + 1188 + 2051


def test_cache_write_total_without_breakdown_is_a_5m_write() -> None:
    usage = {
        "input_tokens": 3,
        "cache_creation_input_tokens": 2051,
        "cache_read_input_tokens": 0,
        "output_tokens": 5,
    }
    assert anthropic_usage_units(usage) == {
        "text": {"input": 3, "output": 5},
        "text_cache_write": {"input": 2051},
    }
    # an all-zero breakdown (older API versions) counts as no breakdown, like the official SDK
    usage["cache_creation"] = {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}
    assert anthropic_usage_units(usage)["text_cache_write"] == {"input": 2051}


def test_only_1h_writes() -> None:
    usage = {
        "input_tokens": 3,
        "cache_creation_input_tokens": 5000,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 5000},
        "output_tokens": 5,
    }
    assert anthropic_usage_units(usage) == {
        "text": {"input": 3, "output": 5},
        "text_cache_write_1h": {"input": 5000},
    }


@pytest.mark.parametrize(
    ("input_tokens", "cache_write", "cache_read", "large"),
    [
        (150_000, 0, 49_999, False),
        (150_000, 0, 50_000, True),  # >= 200k counts
        (1, 100_000, 100_000, True),  # cache tokens count towards the threshold
        (199_999, 0, 0, False),
        (250_000, 0, 0, True),
    ],
)
def test_large_context_suffix(input_tokens: int, cache_write: int, cache_read: int, large: bool) -> None:
    usage = {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "output_tokens": 100,
        "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 0},
    }
    suffix = "_large_context" if large else ""
    expected: dict[str, dict[str, int]] = {"text" + suffix: {"input": input_tokens, "output": 100}}
    if cache_read:
        expected["text_cache_read" + suffix] = {"input": cache_read}
    if cache_write:
        expected["text_cache_write" + suffix] = {"input": cache_write}
    expected["web_search_request"] = {"output": 2}  # never suffixed
    assert anthropic_usage_units(usage) == expected
    # vision follows the same rule
    with_vision = anthropic_usage_units(usage, text_token_estimate=1)
    if input_tokens > 1:
        assert with_vision["vision" + suffix] == {"input": input_tokens - 1}
        assert with_vision["text" + suffix] == {"input": 1, "output": 100}
    assert LARGE_CONTEXT_THRESHOLD == 200_000


def test_web_search_requests_are_output_units() -> None:
    usage = {
        "input_tokens": 105,
        "output_tokens": 6039,
        "cache_read_input_tokens": 7123,
        "cache_creation_input_tokens": 7345,
        "server_tool_use": {"web_search_requests": 1},
    }
    assert anthropic_usage_units(usage)["web_search_request"] == {"output": 1}


@pytest.mark.parametrize(
    ("geo", "scope"),
    [("us", "datazone.us"), ("eu", "datazone.eu"), ("global", None), ("not_available", None), (None, None)],
)
def test_inference_geo_scope(geo: str | None, scope: str | None) -> None:
    usage = {"input_tokens": 1, "output_tokens": 1, "inference_geo": geo}
    assert anthropic_resource_scope(usage) == scope
    assert anthropic_resource_scope(None) is None


# --------------------------------------------------------------------------------------------- streaming


def feed_all(events: list[dict[str, Any]], **kwargs: Any) -> AnthropicStreamUsage:
    acc = AnthropicStreamUsage(**kwargs)
    for event in events:
        acc.feed(event)
    return acc


def test_stream_merges_message_start_and_message_delta() -> None:
    start = {
        "input_tokens": 472,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 2,
        "service_tier": "standard",
    }
    acc = feed_all(stream_events(start, {"output_tokens": 89}))
    # cumulative, not additive: output is 89, not 2 + 89
    assert acc.units() == {"text": {"input": 472, "output": 89}}
    final = message({**start, "output_tokens": 89})
    assert acc.units() == anthropic_response_units(final)
    assert acc.model == MODEL
    assert acc.response_id == MSG_ID
    assert acc.saw_delta and acc.finished


def test_stream_cache_fields_from_message_start_survive_a_delta_without_them() -> None:
    # the classic API: message_delta carries only output_tokens; cache fields come from message_start
    acc = feed_all(stream_events({**CACHE_USAGE, "output_tokens": 1}, {"output_tokens": 393}))
    assert acc.units() == anthropic_response_units(message(CACHE_USAGE))
    assert acc.units()["text_cache_read"] == {"input": 2051}  # not priced as plain input


def test_stream_newer_api_delta_repeats_input_and_cache_fields() -> None:
    # newer API versions repeat the cumulative input and cache totals in message_delta (null = not repeated)
    start = {**CACHE_USAGE, "output_tokens": 1}
    delta = {
        "input_tokens": 21,
        "cache_creation_input_tokens": 1188,
        "cache_read_input_tokens": 2051,
        "output_tokens": 393,
        "server_tool_use": None,
    }
    RawMessageDeltaEvent.model_validate(stream_events(start, delta)[-2])
    acc = feed_all(stream_events(start, delta))
    assert acc.units() == anthropic_response_units(
        message(CACHE_USAGE)
    )  # repeated values are not added twice


def test_stream_server_tool_use_grows_input_and_cache_in_message_delta() -> None:
    # with server tools (web search) input and cache totals grow after message_start; the delta wins
    start = {
        "input_tokens": 2679,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 3,
    }
    delta = {
        "input_tokens": 10682,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 510,
        "server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 0},
    }
    acc = feed_all(stream_events(start, delta))
    assert acc.units() == {"text": {"input": 10682, "output": 510}, "web_search_request": {"output": 1}}


def test_stream_cache_writes_beyond_the_message_start_breakdown_are_still_billed() -> None:
    # trap 3: pricing only message_start's breakdown under-bills writes made by later server-tool turns
    start = {
        "input_tokens": 50,
        "cache_creation_input_tokens": 1000,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 1,
    }
    delta = {"input_tokens": 80, "cache_creation_input_tokens": 2500, "output_tokens": 300}
    units = feed_all(stream_events(start, delta)).units()
    assert units == {"text": {"input": 80, "output": 300}, "text_cache_write": {"input": 2500}}

    start["cache_creation"] = {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1000}
    units = feed_all(stream_events(start, delta)).units()
    assert units == {"text": {"input": 80, "output": 300}, "text_cache_write_1h": {"input": 2500}}


def test_stream_large_context_is_decided_on_the_merged_usage() -> None:
    start = {"input_tokens": 190_000, "cache_read_input_tokens": 0, "output_tokens": 1}
    delta = {"input_tokens": 201_000, "output_tokens": 40}
    units = feed_all(stream_events(start, delta)).units()
    assert units == {"text_large_context": {"input": 201_000, "output": 40}}


def test_stream_cut_after_message_start_still_bills_the_input() -> None:
    # traps.md row 11: a client that disconnects early is still charged for what the provider reported
    events = stream_events({**CACHE_USAGE, "output_tokens": 1}, {"output_tokens": 393})[:4]
    acc = feed_all(events)
    assert acc.has_usage and not acc.saw_delta and not acc.finished
    assert acc.units()["text"] == {"input": 21, "output": 1}
    assert acc.units()["text_cache_read"] == {"input": 2051}


def test_stream_without_events_has_no_usage() -> None:
    acc = AnthropicStreamUsage()
    assert acc.feed({"type": "ping"}) is False
    assert not acc.has_usage
    assert acc.units() == {}


def test_stream_inference_geo() -> None:
    acc = feed_all(
        stream_events({"input_tokens": 5, "output_tokens": 1, "inference_geo": "us"}, {"output_tokens": 9})
    )
    assert acc.resource_scope() == "datazone.us"


def test_merge_usage_overrides_and_keeps() -> None:
    base: dict[str, Any] = {"a": 1, "b": 2, "nested": {"x": 1, "y": 2}}
    merge_usage(base, {"a": 10, "b": None, "nested": {"y": 20}, "c": 3})
    assert base == {"a": 10, "b": 2, "nested": {"x": 1, "y": 20}, "c": 3}


# --------------------------------------------------------------------------------------------- vision


def words(text: str) -> int:
    return len(text.split())


VISION_REQUEST: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 1024,
    "system": "You describe images for blind users",
    "messages": [
        {"role": "user", "content": "Hello there"},
        {
            "role": "user",
            "content": [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
                },
                {"type": "text", "text": "Describe this image."},
            ],
        },
    ],
}


def test_vision_estimate_and_units() -> None:
    assert estimate_prompt_text_tokens(VISION_REQUEST, words) == 3
    assert estimate_prompt_text_tokens(VISION_REQUEST, words, all_messages=True) == 3 + 2 + 6
    assert estimate_prompt_text_tokens(VISION_REQUEST, None) is None
    assert estimate_vision_tokens(VISION_REQUEST, 1600, words) == 1597
    usage = {"input_tokens": 1600, "output_tokens": 30, "cache_read_input_tokens": 100}
    assert anthropic_usage_units(usage, text_token_estimate=3) == {
        "text": {"input": 3, "output": 30},
        "text_cache_read": {"input": 100},
        "vision": {"input": 1597},
    }


# --------------------------------------------------------------------------------------------- properties

counts = st.integers(min_value=0, max_value=400_000)


@settings(max_examples=400, deadline=None, database=None)
@given(
    input_tokens=counts,
    output_tokens=counts,
    cache_read=counts,
    write_5m=counts,
    write_1h=counts,
    provisional_output=st.integers(min_value=0, max_value=5),
    repeat_in_delta=st.booleans(),
    web_searches=st.integers(min_value=0, max_value=20),
)
def test_property_stream_and_non_stream_price_identically(
    input_tokens: int,
    output_tokens: int,
    cache_read: int,
    write_5m: int,
    write_1h: int,
    provisional_output: int,
    repeat_in_delta: bool,
    web_searches: int,
) -> None:
    final_usage: dict[str, Any] = {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": write_5m + write_1h,
        "cache_read_input_tokens": cache_read,
        "cache_creation": {"ephemeral_5m_input_tokens": write_5m, "ephemeral_1h_input_tokens": write_1h},
        "output_tokens": output_tokens,
        "server_tool_use": {"web_search_requests": web_searches, "web_fetch_requests": 0},
        "service_tier": "standard",
    }
    start = copy.deepcopy(final_usage)
    start["output_tokens"] = min(provisional_output, output_tokens)
    start["server_tool_use"] = {"web_search_requests": 0, "web_fetch_requests": 0}
    delta: dict[str, Any] = {
        "output_tokens": output_tokens,
        "server_tool_use": final_usage["server_tool_use"],
    }
    if repeat_in_delta:
        delta.update(
            input_tokens=input_tokens,
            cache_creation_input_tokens=write_5m + write_1h,
            cache_read_input_tokens=cache_read,
        )
    non_stream = anthropic_response_units(message(final_usage))
    streamed = feed_all(stream_events(start, delta)).units()
    assert streamed == non_stream
    # conservation: every input token is priced exactly once
    assert side_total(non_stream, "input") == input_tokens + write_5m + write_1h + cache_read
    assert side_total(non_stream, "output") == output_tokens + web_searches
