"""Bedrock usage -> Pay-i units: InvokeModel per family, invoke streams, Converse(Stream), guardrails, Nova bare int."""

from __future__ import annotations

import copy
import json
from typing import Any

import botocore.parsers
import botocore.session
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payi.lib.units import normalize_units, side_total
from payi.lib.units.anthropic import anthropic_response_units
from payi.lib.units.bedrock import (
    BedrockInvokeStreamUsage,
    ConverseStreamUsage,
    bedrock_converse_units,
    bedrock_converse_usage_units,
    bedrock_guardrail_units,
    bedrock_header_units,
    bedrock_invocation_metrics_units,
    bedrock_invoke_guardrail_action,
    bedrock_invoke_units,
    cohere_embed_request_units,
    is_anthropic_model,
)

CLAUDE = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
NOVA = "us.amazon.nova-pro-v1:0"
LLAMA = "meta.llama3-1-70b-instruct-v1:0"

_SERVICE = botocore.session.get_session().get_service_model("bedrock-runtime")


def boto3_parse(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """Parse a Converse JSON body exactly as boto3 would and check the fixture has no made-up keys."""
    parser = botocore.parsers.create_parser("rest-json")
    raw = {"status_code": 200, "headers": {}, "body": json.dumps(body).encode()}
    parsed: dict[str, Any] = parser.parse(raw, _SERVICE.operation_model(operation).output_shape)
    parsed.pop("ResponseMetadata", None)
    assert parsed == body, "fixture has keys boto3 does not know"
    return parsed


def metrics(inp: int, out: int, read: int | None = None, write: int | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {
        "inputTokenCount": inp,
        "outputTokenCount": out,
        "invocationLatency": 1390,
        "firstByteLatency": 320,
    }
    if read is not None:
        m["cacheReadInputTokenCount"] = read
    if write is not None:
        m["cacheWriteInputTokenCount"] = write
    return m


def invoke_stream(chunks: list[dict[str, Any]], **kwargs: Any) -> BedrockInvokeStreamUsage:
    acc = BedrockInvokeStreamUsage(**kwargs)
    for chunk in chunks:
        acc.feed(chunk)
    return acc


# --------------------------------------------------------------------------------------------- Claude on Bedrock

CLAUDE_USAGE: dict[str, Any] = {
    "input_tokens": 12,
    "cache_creation_input_tokens": 1500,
    "cache_read_input_tokens": 3000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 500},
    "output_tokens": 181,
}


def claude_body(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_bdrk_01Fv7kJQ1cJt3ZmGXBqGzFzq",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-7-sonnet-20250219",
        "content": [{"type": "text", "text": "Here is a haiku about the sea."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


def claude_chunks(usage: dict[str, Any]) -> list[dict[str, Any]]:
    start_usage = {k: v for k, v in usage.items() if k != "output_tokens"} | {"output_tokens": 1}
    start = claude_body(start_usage) | {"content": [], "stop_reason": None}
    cache_read = usage.get("cache_read_input_tokens", 0)
    cache_write = usage.get("cache_creation_input_tokens", 0)
    return [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Here is"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        },
        {
            "type": "message_stop",
            "amazon-bedrock-invocationMetrics": metrics(
                usage["input_tokens"], usage["output_tokens"], cache_read, cache_write
            ),
        },
    ]


def test_claude_invoke_is_anthropic_units() -> None:
    units = bedrock_invoke_units(claude_body(CLAUDE_USAGE), model_id=CLAUDE)
    assert units == anthropic_response_units(claude_body(CLAUDE_USAGE))
    assert units == {
        "text": {"input": 12, "output": 181},
        "text_cache_read": {"input": 3000},
        "text_cache_write": {"input": 1000},
        "text_cache_write_1h": {"input": 500},
    }


def test_claude_invoke_stream_equals_non_stream() -> None:
    acc = invoke_stream(claude_chunks(CLAUDE_USAGE), model_id=CLAUDE)
    assert acc.units() == bedrock_invoke_units(claude_body(CLAUDE_USAGE), model_id=CLAUDE)
    assert acc.model == "claude-3-7-sonnet-20250219"
    assert acc.response_id == "msg_bdrk_01Fv7kJQ1cJt3ZmGXBqGzFzq"


def test_claude_large_context_on_bedrock() -> None:
    usage = {"input_tokens": 180_000, "cache_read_input_tokens": 30_000, "output_tokens": 10}
    expected = {
        "text_large_context": {"input": 180_000, "output": 10},
        "text_cache_read_large_context": {"input": 30_000},
    }
    assert bedrock_invoke_units(claude_body(usage), model_id=CLAUDE) == expected
    assert invoke_stream(claude_chunks(usage), model_id=CLAUDE).units() == expected


# --------------------------------------------------------------------------------------------- Nova

NOVA_USAGE: dict[str, Any] = {
    "inputTokens": 1042,
    "outputTokens": 220,
    "totalTokens": 2762,
    "cacheReadInputTokenCount": 1000,
    "cacheWriteInputTokenCount": 500,
}


def nova_body(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "output": {
            "message": {"content": [{"text": "Paris is the capital of France."}], "role": "assistant"}
        },
        "stopReason": "end_turn",
        "usage": usage,
    }


def nova_chunks(usage: dict[str, Any]) -> list[dict[str, Any]]:
    read, write = usage.get("cacheReadInputTokenCount"), usage.get("cacheWriteInputTokenCount")
    return [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "Paris is"}, "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"text": " the capital of France."}, "contentBlockIndex": 0}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {
            "metadata": {"usage": usage, "metrics": {}, "trace": {}},
            "amazon-bedrock-invocationMetrics": metrics(
                usage["inputTokens"], usage["outputTokens"], read, write
            ),
        },
    ]


def test_nova_invoke() -> None:
    assert bedrock_invoke_units(nova_body(NOVA_USAGE), model_id=NOVA) == {
        "text": {"input": 1042, "output": 220},
        "text_cache_read": {"input": 1000},
        "text_cache_write": {"input": 500},
    }


def test_nova_bare_int_cache_units_of_the_official_sdk_normalize_to_ours() -> None:
    # the official SDK's non-streaming Nova path sends the cache counts as bare ints
    official_ingest_units = {
        "text": {"input": 1042, "output": 220},
        "text_cache_read": 1000,
        "text_cache_write": 500,
    }
    assert normalize_units(official_ingest_units) == bedrock_invoke_units(
        nova_body(NOVA_USAGE), model_id=NOVA
    )


def test_nova_invoke_stream_equals_non_stream() -> None:
    acc = invoke_stream(nova_chunks(NOVA_USAGE), model_id=NOVA)
    assert acc.units() == bedrock_invoke_units(nova_body(NOVA_USAGE), model_id=NOVA)
    assert acc.model is None and acc.response_id is None


def test_nova_stream_without_invocation_metrics_uses_metadata_usage() -> None:
    chunks = nova_chunks(NOVA_USAGE)
    del chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert invoke_stream(chunks).units() == bedrock_invoke_units(nova_body(NOVA_USAGE))


def test_nova_is_never_large_context() -> None:
    usage = {"inputTokens": 250_000, "outputTokens": 1, "totalTokens": 250_001}
    assert bedrock_invoke_units(nova_body(usage), model_id=NOVA) == {"text": {"input": 250_000, "output": 1}}


# --------------------------------------------------------------------------------------------- Llama, Titan, others

LLAMA_BODY: dict[str, Any] = {
    "generation": "\n\nThe capital of France is Paris.",
    "prompt_token_count": 14,
    "generation_token_count": 87,
    "stop_reason": "stop",
}

LLAMA_CHUNKS: list[dict[str, Any]] = [
    {"generation": "\n\n", "prompt_token_count": 14, "generation_token_count": 1, "stop_reason": None},
    {
        "generation": "The capital",
        "prompt_token_count": None,
        "generation_token_count": 3,
        "stop_reason": None,
    },
    {
        "generation": " of France is Paris.",
        "prompt_token_count": None,
        "generation_token_count": 87,
        "stop_reason": "stop",
        "amazon-bedrock-invocationMetrics": metrics(14, 87),
    },
]


def test_llama() -> None:
    assert bedrock_invoke_units(LLAMA_BODY, model_id=LLAMA) == {"text": {"input": 14, "output": 87}}
    assert invoke_stream(LLAMA_CHUNKS, model_id=LLAMA).units() == {"text": {"input": 14, "output": 87}}
    without_metrics = copy.deepcopy(LLAMA_CHUNKS)
    del without_metrics[-1]["amazon-bedrock-invocationMetrics"]
    assert invoke_stream(without_metrics, model_id=LLAMA).units() == {"text": {"input": 14, "output": 87}}


def test_titan_text_and_embeddings() -> None:
    text_body = {
        "inputTextTokenCount": 6,
        "results": [{"tokenCount": 52, "outputText": "Paris.", "completionReason": "FINISH"}],
    }
    assert bedrock_invoke_units(text_body, model_id="amazon.titan-text-express-v1") == {
        "text": {"input": 6, "output": 52}
    }
    stream = [
        {
            "outputText": "Paris.",
            "index": 0,
            "totalOutputTextTokenCount": 52,
            "completionReason": "FINISH",
            "inputTextTokenCount": 6,
            "amazon-bedrock-invocationMetrics": metrics(6, 52),
        },
    ]
    assert invoke_stream(stream).units() == {"text": {"input": 6, "output": 52}}
    embed_body = {"embedding": [0.134, -0.23, 0.51], "inputTextTokenCount": 8}
    assert bedrock_invoke_units(embed_body, model_id="amazon.titan-embed-text-v1") == {"text": {"input": 8}}


def test_openai_compatible_body_is_used_as_is() -> None:
    body = {
        "id": "chatcmpl-bdrk-1",
        "object": "chat.completion",
        "model": "openai.gpt-oss-120b-1:0",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 100, "total_tokens": 120},
    }
    assert bedrock_invoke_units(body, model_id="openai.gpt-oss-120b-1:0") == {
        "text": {"input": 20, "output": 100}
    }


def test_bodies_without_usage_fall_back_to_the_token_count_headers() -> None:
    mistral = {"outputs": [{"text": "Bonjour!", "stop_reason": "stop"}]}
    cohere = {
        "response_id": "6f2f6d0b-93c4-4e3b-9f2f-1d0c2c3e4f5a",
        "text": "Hello!",
        "generation_id": "a1b2c3",
        "chat_history": [],
        "finish_reason": "COMPLETE",
    }
    headers = {
        "Content-Type": "application/json",
        "X-Amzn-Bedrock-Input-Token-Count": "21",
        "x-amzn-bedrock-output-token-count": "35",
        "x-amzn-RequestId": "5d5bd8a2-2a8e-4b41-9b1d-0a0e5c3a7c11",
    }
    for body in (mistral, cohere):
        assert bedrock_invoke_units(body, headers=headers) == {"text": {"input": 21, "output": 35}}
    assert bedrock_header_units(list(headers.items())) == {"text": {"input": 21, "output": 35}}
    assert bedrock_invoke_units(mistral) == {}
    # stream of such a model: the invocation metrics carry the same numbers
    assert invoke_stream(
        [
            {
                "outputs": [{"text": "Bonjour!", "stop_reason": "stop"}],
                "amazon-bedrock-invocationMetrics": metrics(21, 35),
            }
        ]
    ).units() == {"text": {"input": 21, "output": 35}}


def test_cohere_billed_units() -> None:
    body = {"text": "Hello!", "meta": {"billed_units": {"input_tokens": 9, "output_tokens": 4}}}
    assert bedrock_invoke_units(body) == {"text": {"input": 9, "output": 4}}
    v2 = {
        "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
        "usage": {
            "billed_units": {"input_tokens": 5, "output_tokens": 418},
            "tokens": {"input_tokens": 71, "output_tokens": 418},
        },
    }
    assert bedrock_invoke_units(v2) == {"text": {"input": 5, "output": 418}}


def test_cohere_image_embedding_is_one_vision_unit() -> None:
    request = {
        "input_type": "image",
        "images": ["data:image/png;base64,iVBORw0KGgo="],
        "embedding_types": ["float"],
    }
    body = {"embeddings": [[0.1, 0.2]], "id": "e1", "response_type": "embeddings_floats", "texts": []}
    assert cohere_embed_request_units(request) == {"vision": {"input": 1}}
    assert bedrock_invoke_units(body, model_id="cohere.embed-english-v3", request_json=request) == {
        "vision": {"input": 1}
    }
    assert cohere_embed_request_units({"input_type": "search_document", "texts": ["hi"]}) == {}


# --------------------------------------------------------------------------------------------- guardrails

GUARDRAIL_USAGE = {
    "topicPolicyUnits": 1,
    "contentPolicyUnits": 1,
    "wordPolicyUnits": 1,
    "sensitiveInformationPolicyUnits": 1,
    "sensitiveInformationPolicyFreeUnits": 1,
    "contextualGroundingPolicyUnits": 0,
    "automatedReasoningPolicyUnits": 2,
    "contentPolicyImageUnits": 3,
}

EXPECTED_GUARDRAIL_UNITS = {
    "guardrail_topic": {"input": 1},
    "guardrail_content": {"input": 1},
    "guardrail_word_free": {"input": 1},
    "guardrail_sensitive_information": {"input": 1},
    "guardrail_sensitive_information_free": {"input": 1},
    "guardrail_automated_reasoning": {"input": 2},
    "guardrail_content_image": {"input": 3},
}


def assessment(usage: dict[str, int]) -> dict[str, Any]:
    return {
        "topicPolicy": {"topics": [{"name": "Investments", "type": "DENY", "action": "BLOCKED"}]},
        "invocationMetrics": {
            "guardrailProcessingLatency": 303,
            "usage": usage,
            "guardrailCoverage": {"textCharacters": {"guarded": 39, "total": 39}},
        },
    }


def test_invoke_guardrail_units_and_action() -> None:
    body = {
        "amazon-bedrock-guardrailAction": "INTERVENED",
        "outputs": [{"text": "Sorry, I can't help with investments."}],
        "amazon-bedrock-trace": {
            "guardrail": {
                "input": {"gr1abc2def3": assessment(GUARDRAIL_USAGE)},
                "outputs": [{"gr1abc2def3": assessment({**GUARDRAIL_USAGE, "topicPolicyUnits": 5})}],
            }
        },
    }
    headers = {"x-amzn-bedrock-input-token-count": "0", "x-amzn-bedrock-output-token-count": "0"}
    assert bedrock_invoke_units(body, headers=headers) == EXPECTED_GUARDRAIL_UNITS
    assert bedrock_invoke_guardrail_action(body) == "INTERVENED"
    with_outputs = bedrock_invoke_units(body, headers=headers, include_outputs=True)
    assert with_outputs["guardrail_topic"] == {"input": 6}
    assert with_outputs["guardrail_content_image"] == {"input": 6}


def test_invoke_stream_guardrails() -> None:
    chunks = copy.deepcopy(LLAMA_CHUNKS)
    chunks[0]["amazon-bedrock-trace"] = {"guardrail": {"input": {"gr1abc2def3": assessment(GUARDRAIL_USAGE)}}}
    chunks[-1]["amazon-bedrock-guardrailAction"] = "NONE"
    acc = invoke_stream(chunks)
    assert acc.units() == {"text": {"input": 14, "output": 87}, **EXPECTED_GUARDRAIL_UNITS}
    assert acc.guardrail_action == "NONE"


# --------------------------------------------------------------------------------------------- Converse

CONVERSE_USAGE: dict[str, Any] = {
    "inputTokens": 30,
    "outputTokens": 628,
    "totalTokens": 2458,
    "cacheReadInputTokens": 1500,
    "cacheWriteInputTokens": 300,
    "cacheDetails": [{"ttl": "1h", "inputTokens": 200}, {"ttl": "5m", "inputTokens": 100}],
}


def converse_body(usage: dict[str, Any], trace: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "output": {"message": {"role": "assistant", "content": [{"text": "A haiku about the sea."}]}},
        "stopReason": "end_turn",
        "usage": usage,
        "metrics": {"latencyMs": 1275},
    }
    if trace is not None:
        body["trace"] = trace
    return boto3_parse("Converse", body)


def converse_events(usage: dict[str, Any], trace: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """ConverseStream events as boto3 yields them."""
    metadata: dict[str, Any] = {"usage": usage, "metrics": {"latencyMs": 1275}}
    if trace is not None:
        metadata["trace"] = trace
    return [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "A haiku"}, "contentBlockIndex": 0}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": metadata},
    ]


def test_converse_cache_tokens_and_ttl_breakdown() -> None:
    # inputTokens EXCLUDES cache reads and writes on Bedrock
    units = bedrock_converse_units(converse_body(CONVERSE_USAGE), model_id=CLAUDE)
    assert units == {
        "text": {"input": 30, "output": 628},
        "text_cache_read": {"input": 1500},
        "text_cache_write": {"input": 100},
        "text_cache_write_1h": {"input": 200},
    }
    assert side_total(units, "input") + side_total(units, "output") == CONVERSE_USAGE["totalTokens"]


def test_converse_stream_equals_non_stream_in_both_feed_shapes() -> None:
    expected = bedrock_converse_units(converse_body(CONVERSE_USAGE), model_id=CLAUDE)
    boto3_shape = ConverseStreamUsage(model_id=CLAUDE)
    proxy_shape = ConverseStreamUsage(model_id=CLAUDE)
    for event in converse_events(CONVERSE_USAGE):
        boto3_shape.feed(event)
        ((kind, payload),) = event.items()
        proxy_shape.feed(payload, event_type=kind)
    assert boto3_shape.units() == proxy_shape.units() == expected
    assert boto3_shape.stop_reason == "end_turn"
    assert boto3_shape.metrics == {"latencyMs": 1275}
    assert boto3_shape.model is None and boto3_shape.response_id is None


def test_converse_without_cache_details() -> None:
    usage = {
        "inputTokens": 4,
        "outputTokens": 50,
        "totalTokens": 1054,
        "cacheReadInputTokens": 0,
        "cacheWriteInputTokens": 1000,
    }
    assert bedrock_converse_units(converse_body(usage)) == {
        "text": {"input": 4, "output": 50},
        "text_cache_write": {"input": 1000},
    }


def test_converse_large_context_only_for_claude() -> None:
    usage = {
        "inputTokens": 150_000,
        "outputTokens": 9,
        "totalTokens": 210_009,
        "cacheReadInputTokens": 60_000,
    }
    assert bedrock_converse_usage_units(usage, model_id=CLAUDE) == {
        "text_large_context": {"input": 150_000, "output": 9},
        "text_cache_read_large_context": {"input": 60_000},
    }
    assert bedrock_converse_usage_units(usage, model_id=NOVA) == {
        "text": {"input": 150_000, "output": 9},
        "text_cache_read": {"input": 60_000},
    }
    assert is_anthropic_model(
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
    )
    assert not is_anthropic_model(None)


def test_converse_guardrails() -> None:
    trace = {
        "guardrail": {
            "inputAssessment": {"gr1abc2def3": assessment(GUARDRAIL_USAGE)},
            "outputAssessments": {"gr1abc2def3": [assessment(GUARDRAIL_USAGE)]},
        }
    }
    usage = {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}
    body = converse_body(usage, trace)
    body["stopReason"] = "guardrail_intervened"
    assert bedrock_converse_units(body) == EXPECTED_GUARDRAIL_UNITS
    doubled = bedrock_converse_units(body, include_outputs=True)
    assert doubled["guardrail_content_image"] == {"input": 6}
    acc = ConverseStreamUsage()
    events = converse_events(usage, trace)
    events[3] = {"messageStop": {"stopReason": "guardrail_intervened"}}
    for event in events:
        acc.feed(event)
    assert acc.units() == EXPECTED_GUARDRAIL_UNITS
    assert acc.stop_reason == "guardrail_intervened"
    assert bedrock_guardrail_units(None) == {}


def test_invocation_metrics_units() -> None:
    assert bedrock_invocation_metrics_units(metrics(10, 20, 30, 40)) == {
        "text": {"input": 10, "output": 20},
        "text_cache_read": {"input": 30},
        "text_cache_write": {"input": 40},
    }
    assert bedrock_invocation_metrics_units(None) == {}


def test_empty_streams_have_no_usage() -> None:
    acc = BedrockInvokeStreamUsage()
    acc.feed({"contentBlockDelta": {"delta": {"text": "x"}, "contentBlockIndex": 0}})
    assert not acc.has_usage and acc.units() == {}
    conv = ConverseStreamUsage()
    conv.feed({"messageStart": {"role": "assistant"}})
    assert not conv.has_usage and conv.units() == {}


# --------------------------------------------------------------------------------------------- properties

counts = st.integers(min_value=0, max_value=400_000)


@settings(max_examples=200, deadline=None, database=None)
@given(inp=counts, out=counts, read=counts, write_5m=counts, write_1h=counts, claude=st.booleans())
def test_property_converse_stream_equals_non_stream(
    inp: int, out: int, read: int, write_5m: int, write_1h: int, claude: bool
) -> None:
    usage: dict[str, Any] = {
        "inputTokens": inp,
        "outputTokens": out,
        "totalTokens": inp + out + read + write_5m + write_1h,
        "cacheReadInputTokens": read,
        "cacheWriteInputTokens": write_5m + write_1h,
        "cacheDetails": [{"ttl": "1h", "inputTokens": write_1h}, {"ttl": "5m", "inputTokens": write_5m}],
    }
    model_id = CLAUDE if claude else NOVA
    acc = ConverseStreamUsage(model_id=model_id)
    for event in converse_events(usage):
        acc.feed(event)
    expected = bedrock_converse_units(converse_body(usage), model_id=model_id)
    assert acc.units() == expected
    assert side_total(expected, "input") == inp + read + write_5m + write_1h
    assert side_total(expected, "output") == out


@settings(max_examples=200, deadline=None, database=None)
@given(inp=counts, out=counts, read=counts, write=counts)
def test_property_nova_invoke_stream_equals_non_stream(inp: int, out: int, read: int, write: int) -> None:
    usage = {
        "inputTokens": inp,
        "outputTokens": out,
        "totalTokens": inp + out + read + write,
        "cacheReadInputTokenCount": read,
        "cacheWriteInputTokenCount": write,
    }
    assert invoke_stream(nova_chunks(usage), model_id=NOVA).units() == bedrock_invoke_units(
        nova_body(usage), model_id=NOVA
    )


@settings(max_examples=200, deadline=None, database=None)
@given(
    inp=counts, out=st.integers(min_value=1, max_value=100_000), read=counts, write_5m=counts, write_1h=counts
)
def test_property_claude_invoke_stream_equals_non_stream(
    inp: int, out: int, read: int, write_5m: int, write_1h: int
) -> None:
    usage = {
        "input_tokens": inp,
        "cache_creation_input_tokens": write_5m + write_1h,
        "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_5m_input_tokens": write_5m, "ephemeral_1h_input_tokens": write_1h},
        "output_tokens": out,
    }
    streamed = invoke_stream(claude_chunks(usage), model_id=CLAUDE).units()
    assert streamed == bedrock_invoke_units(claude_body(usage), model_id=CLAUDE)
    assert side_total(streamed, "input") == inp + read + write_5m + write_1h


@pytest.mark.parametrize("bad", [None, [], "x", 3])
def test_garbage_in_is_empty_out(bad: Any) -> None:
    assert bedrock_invoke_units(bad) == {}
    assert bedrock_converse_units(bad) == {}
    assert BedrockInvokeStreamUsage().feed(bad) is False
    assert ConverseStreamUsage().feed(bad) is False
