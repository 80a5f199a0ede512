"""OpenAI usage -> Pay-i units: chat completions, Responses API, embeddings, streams, vision (traps.md rows 1-3)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseCompletedEvent

from payi.lib.units import normalize_units, side_total
from payi.lib.units.openai import (
    OpenAIChatStreamUsage,
    OpenAIResponsesStreamUsage,
    estimate_prompt_text_tokens,
    estimate_vision_tokens,
    openai_response_units,
    openai_usage_units,
)

# --------------------------------------------------------------------------------------------- fixtures
# Shapes follow the OpenAI API reference; each is validated with the openai client's own models below.


def chat_completion(usage: dict[str, Any], model: str = "o3-mini-2025-01-31") -> dict[str, Any]:
    return {
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": 1741570283,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "The image shows a wooden boardwalk extending through a lush green marshland.",
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": "fp_fc9f1d7035",
    }


CACHED_REASONING_USAGE: dict[str, Any] = {
    "prompt_tokens": 2006,
    "completion_tokens": 300,
    "total_tokens": 2306,
    "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 128,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


def chat_stream(usage: dict[str, Any] | None, model: str = "o3-mini-2025-01-31") -> list[dict[str, Any]]:
    """The chunks of the same call streamed with ``stream_options: {"include_usage": true}``."""
    base = {
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion.chunk",
        "created": 1741570283,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_fc9f1d7035",
    }
    deltas: list[dict[str, Any]] = [
        {"role": "assistant", "content": "", "refusal": None},
        {"content": "The image shows"},
        {"content": " a wooden boardwalk."},
        {},
    ]
    chunks = []
    for i, delta in enumerate(deltas):
        finish = "stop" if i == len(deltas) - 1 else None
        chunks.append(
            {
                **base,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                "usage": None,
            }
        )
    if usage is not None:
        chunks.append({**base, "choices": [], "usage": usage})
    return chunks


def responses_body(usage: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    return {
        "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
        "object": "response",
        "created_at": 1741476542,
        "status": status,
        "error": None,
        "incomplete_details": None if status == "completed" else {"reason": "max_output_tokens"},
        "instructions": None,
        "max_output_tokens": None,
        "model": "o4-mini-2025-04-16",
        "output": [
            {
                "type": "message",
                "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {
                        "type": "output_text",
                        "text": "In a peaceful grove beneath a silver moon...",
                        "annotations": [],
                    }
                ],
            }
        ],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": "medium", "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


RESPONSES_USAGE: dict[str, Any] = {
    "input_tokens": 5328,
    "input_tokens_details": {"cached_tokens": 4096, "cache_write_tokens": 0},
    "output_tokens": 952,
    "output_tokens_details": {"reasoning_tokens": 704},
    "total_tokens": 6280,
}


def responses_stream(usage: dict[str, Any], terminal: str = "response.completed") -> list[dict[str, Any]]:
    status = {
        "response.completed": "completed",
        "response.incomplete": "incomplete",
        "response.failed": "failed",
    }
    created = responses_body(usage, status="in_progress")
    created["usage"] = None
    created["output"] = []
    final = responses_body(usage, status=status[terminal])
    return [
        {"type": "response.created", "sequence_number": 0, "response": created},
        {"type": "response.in_progress", "sequence_number": 1, "response": created},
        {
            "type": "response.output_text.delta",
            "sequence_number": 2,
            "item_id": "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
            "output_index": 0,
            "content_index": 0,
            "delta": "In a peaceful grove",
            "logprobs": [],
        },
        {"type": terminal, "sequence_number": 3, "response": final},
    ]


# --------------------------------------------------------------------------------------------- fixture sanity


def test_fixtures_parse_with_the_openai_client_models() -> None:
    ChatCompletion.model_validate(chat_completion(CACHED_REASONING_USAGE))
    for chunk in chat_stream(CACHED_REASONING_USAGE):
        ChatCompletionChunk.model_validate(chunk)
    Response.model_validate(responses_body(RESPONSES_USAGE))
    ResponseCompletedEvent.model_validate(responses_stream(RESPONSES_USAGE)[-1])


# --------------------------------------------------------------------------------------------- chat completions


def test_chat_cached_and_reasoning_tokens_are_split_out() -> None:
    # prompt_tokens INCLUDES cached tokens; completion_tokens INCLUDES reasoning tokens
    units = openai_response_units(chat_completion(CACHED_REASONING_USAGE))
    assert units == {
        "text": {"input": 2006 - 1920, "output": 300 - 128},
        "text_cache_read": {"input": 1920},
        "reasoning": {"output": 128},
    }
    # nothing is counted twice and nothing is lost
    assert side_total(units, "input") == 2006
    assert side_total(units, "output") == 300


def test_chat_without_details() -> None:
    usage = {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29}
    assert openai_usage_units(usage) == {"text": {"input": 19, "output": 10}}


def test_zero_sides_and_units_are_omitted() -> None:
    usage = {
        "prompt_tokens": 0,
        "completion_tokens": 7,
        "total_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }
    assert openai_usage_units(usage) == {"text": {"output": 7}}
    assert openai_usage_units({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}) == {}
    assert openai_usage_units(None) == {}
    assert openai_usage_units({}) == {}
    assert openai_response_units({"id": "x"}) == {}


def test_audio_tokens_are_split_from_text() -> None:
    usage = {
        "prompt_tokens": 64,
        "completion_tokens": 240,
        "total_tokens": 304,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 40},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 200, "text_tokens": 40},
    }
    assert openai_usage_units(usage) == {
        "text": {"input": 24, "output": 40},
        "audio": {"input": 40, "output": 200},
    }


def test_provider_reported_image_tokens_become_vision() -> None:
    usage = {
        "prompt_tokens": 1200,
        "completion_tokens": 20,
        "total_tokens": 1220,
        "prompt_tokens_details": {"cached_tokens": 0, "image_tokens": 1105, "text_tokens": 95},
    }
    assert openai_usage_units(usage) == {"text": {"input": 95, "output": 20}, "vision": {"input": 1105}}


def test_malformed_counts_never_go_negative() -> None:
    usage = {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 50},
        "completion_tokens_details": {"reasoning_tokens": "lots"},
    }
    assert openai_usage_units(usage) == {"text": {"output": 5}, "text_cache_read": {"input": 50}}
    assert openai_usage_units({"prompt_tokens": None, "completion_tokens": True}) == {}
    assert openai_usage_units({"prompt_tokens": 12.0, "completion_tokens_details": None}) == {
        "text": {"input": 12}
    }


def test_chat_stream_equals_non_stream() -> None:
    acc = OpenAIChatStreamUsage()
    carried = [acc.feed(chunk) for chunk in chat_stream(CACHED_REASONING_USAGE)]
    assert carried == [False, False, False, False, True]
    assert acc.has_usage
    assert acc.units() == openai_response_units(chat_completion(CACHED_REASONING_USAGE))
    assert acc.model == "o3-mini-2025-01-31"
    assert acc.response_id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"


def test_chat_stream_without_usage_reports_no_usage() -> None:
    acc = OpenAIChatStreamUsage()
    for chunk in chat_stream(None):
        acc.feed(chunk)
    assert not acc.has_usage
    assert acc.units() == {}


def test_chat_stream_model_is_the_upstream_model_not_an_empty_azure_prelude() -> None:
    # Azure sends a first chunk with model "" and prompt_filter_results; the resolved model comes later.
    prelude = {
        "id": "",
        "object": "",
        "created": 0,
        "model": "",
        "choices": [],
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
    }
    acc = OpenAIChatStreamUsage()
    acc.feed(prelude)
    for chunk in chat_stream(CACHED_REASONING_USAGE, model="gpt-4o-2024-11-20"):
        acc.feed(chunk)
    assert acc.model == "gpt-4o-2024-11-20"
    assert acc.response_id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"


def test_usage_on_the_last_content_chunk_is_picked_too() -> None:
    # some OpenAI-compatible upstreams put usage on the finish chunk instead of a separate one
    chunks = chat_stream(None)
    chunks[-1]["usage"] = CACHED_REASONING_USAGE
    acc = OpenAIChatStreamUsage()
    for chunk in chunks:
        acc.feed(chunk)
    assert acc.units() == openai_usage_units(CACHED_REASONING_USAGE)


# --------------------------------------------------------------------------------------------- responses api


def test_responses_cached_and_reasoning() -> None:
    units = openai_response_units(responses_body(RESPONSES_USAGE))
    assert units == {
        "text": {"input": 5328 - 4096, "output": 952 - 704},
        "text_cache_read": {"input": 4096},
        "reasoning": {"output": 704},
    }


@pytest.mark.parametrize("terminal", ["response.completed", "response.incomplete", "response.failed"])
def test_responses_stream_equals_non_stream(terminal: str) -> None:
    acc = OpenAIResponsesStreamUsage()
    carried = [acc.feed(event) for event in responses_stream(RESPONSES_USAGE, terminal)]
    assert carried == [False, False, False, True]
    assert acc.finished
    assert acc.units() == openai_response_units(responses_body(RESPONSES_USAGE))
    assert acc.model == "o4-mini-2025-04-16"
    assert acc.response_id == "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"


def test_responses_stream_cut_before_the_terminal_event_has_no_usage() -> None:
    acc = OpenAIResponsesStreamUsage()
    for event in responses_stream(RESPONSES_USAGE)[:-1]:
        acc.feed(event)
    assert not acc.has_usage and not acc.finished
    assert acc.units() == {}


# --------------------------------------------------------------------------------------------- embeddings


def test_embeddings() -> None:
    body = {
        "object": "list",
        "data": [
            {"object": "embedding", "embedding": [0.0023064255, -0.009327292, -0.0028842222], "index": 0}
        ],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }
    CreateEmbeddingResponse.model_validate(body)
    assert openai_response_units(body) == {"text": {"input": 8}}


# --------------------------------------------------------------------------------------------- vision


def words(text: str) -> int:
    return len(text.split())


CHAT_VISION_REQUEST: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "You are a careful assistant who describes photos"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://example.com/boardwalk.jpg", "detail": "low"},
                },
                {"type": "text", "text": "Answer briefly"},
            ],
        },
    ],
}


def test_vision_estimate_follows_the_official_rule_by_default() -> None:
    # only the text parts of messages that carry an image are counted: 5 + 2 words
    assert estimate_prompt_text_tokens(CHAT_VISION_REQUEST, words) == 7
    # all_messages also counts the system prompt (8 words)
    assert estimate_prompt_text_tokens(CHAT_VISION_REQUEST, words, all_messages=True) == 15
    assert estimate_vision_tokens(CHAT_VISION_REQUEST, 120, words) == 113


def test_no_vision_split_without_counter_or_image() -> None:
    assert estimate_prompt_text_tokens(CHAT_VISION_REQUEST, None) is None
    text_only = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }
    assert estimate_prompt_text_tokens(text_only, words) is None
    assert estimate_vision_tokens(text_only, 120, words) == 0
    assert estimate_vision_tokens(CHAT_VISION_REQUEST, 120, None) == 0


def test_vision_units_use_the_uncached_prompt() -> None:
    usage = {
        "prompt_tokens": 1300,
        "completion_tokens": 40,
        "total_tokens": 1340,
        "prompt_tokens_details": {"cached_tokens": 1024},
    }
    estimate = estimate_prompt_text_tokens(CHAT_VISION_REQUEST, words)
    units = openai_usage_units(usage, text_token_estimate=estimate)
    assert units == {
        "text": {"input": 7, "output": 40},
        "text_cache_read": {"input": 1024},
        "vision": {"input": 1300 - 1024 - 7},
    }
    assert "vision_large_context" not in units  # OpenAI never uses large-context names


def test_vision_estimate_for_the_responses_api() -> None:
    request = {
        "model": "gpt-4.1",
        "instructions": "Be brief please",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "what's in this image?"},
                    {"type": "input_image", "image_url": "https://example.com/cat.png"},
                ],
            }
        ],
    }
    assert estimate_prompt_text_tokens(request, words) == 4
    assert estimate_prompt_text_tokens(request, words, all_messages=True) == 7
    assert estimate_prompt_text_tokens({"model": "gpt-4.1", "input": "just text"}, words) is None


def test_stream_accumulators_apply_the_same_vision_split() -> None:
    usage = {"prompt_tokens": 900, "completion_tokens": 12, "total_tokens": 912}
    acc = OpenAIChatStreamUsage(text_token_estimate=7)
    for chunk in chat_stream(usage):
        acc.feed(chunk)
    assert acc.units() == openai_usage_units(usage, text_token_estimate=7)
    assert acc.units()["vision"] == {"input": 893}


# --------------------------------------------------------------------------------------------- properties

counts = st.integers(min_value=0, max_value=5_000_000)


@settings(max_examples=300, deadline=None, database=None)
@given(prompt=counts, cached=counts, completion=counts, reasoning=counts)
def test_property_chat_stream_and_non_stream_price_identically(
    prompt: int, cached: int, completion: int, reasoning: int
) -> None:
    cached = min(cached, prompt)  # the provider's own invariants
    reasoning = min(reasoning, completion)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
    }
    non_stream = openai_response_units(chat_completion(copy.deepcopy(usage)))
    acc = OpenAIChatStreamUsage()
    for chunk in chat_stream(usage):
        acc.feed(chunk)
    assert acc.units() == non_stream
    # conservation: every provider token lands in exactly one unit
    assert side_total(non_stream, "input") == prompt
    assert side_total(non_stream, "output") == completion
    assert normalize_units(non_stream) == non_stream  # canonical: no zero sides


@settings(max_examples=200, deadline=None, database=None)
@given(prompt=counts, cached=counts, completion=counts, reasoning=counts)
def test_property_responses_stream_and_non_stream_price_identically(
    prompt: int, cached: int, completion: int, reasoning: int
) -> None:
    cached = min(cached, prompt)
    reasoning = min(reasoning, completion)
    usage = {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + completion,
    }
    acc = OpenAIResponsesStreamUsage()
    for event in responses_stream(usage):
        acc.feed(event)
    assert acc.units() == openai_response_units(responses_body(usage))
    assert side_total(acc.units(), "input") == prompt
    assert side_total(acc.units(), "output") == completion


@pytest.mark.parametrize("shape", ["chat", "responses"])
def test_cache_writes_are_their_own_unit_and_leave_text(shape: str) -> None:
    if shape == "chat":
        usage = {"prompt_tokens": 5000, "completion_tokens": 20,
                 "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 3000}}
    else:
        usage = {"input_tokens": 5000, "output_tokens": 20,
                 "input_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 3000}}
    units = openai_usage_units(usage)
    assert units["text"] == {"input": 1000, "output": 20}
    assert units["text_cache_read"] == {"input": 1000}
    assert units["text_cache_write"] == {"input": 3000}
    assert side_total(units, "input") == 5000  # nothing counted twice
    # a report that says more was written than the prompt holds is cut to it
    bad = openai_usage_units({"prompt_tokens": 10, "completion_tokens": 0,
                              "prompt_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 99}})
    assert side_total(bad, "input") == 10
