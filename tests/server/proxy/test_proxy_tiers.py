"""Large-context tiers through the proxy (issue 12): the real ``openai``, ``anthropic`` and ``boto3`` clients, a fake
upstream on a loopback port reporting the usage, and genai-prices' ``calc_price`` as the reference. Streamed and
plain calls cost the same; the recorded units are named the way they were priced."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import anthropic
import openai
import pytest

from payi_server.pricing.catalog import LARGE_CONTEXT_SUFFIX
from tests.server.pricing.reference import CALLS, Call

from .conftest import ProxyEnv
from .test_proxy_providers import MESSAGES, _bedrock

THRESHOLDS = {"claude-sonnet-4-5": 200_000, "claude-haiku-5-5": 100_000, "gpt-5.4": 272_000}


def _wire(result: dict[str, Any]) -> Decimal:
    return Decimal(str(result["cost"]["total"]["base"]))


def _check_rows(rows: list[dict[str, Any]], calls: list[Call]) -> None:
    assert len(rows) == len(calls)
    for row, call in zip(rows, calls, strict=True):
        assert row["cost_total"] == call.reference(), (call, row["units"])
        assert not row["unpriced"]
        above = call.total_input > THRESHOLDS[call.resource.removeprefix("global.anthropic.")]
        assert all(name.endswith(LARGE_CONTEXT_SUFFIX) == above for name in row["units"]), (call, row["units"])


@pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")  # the anthropic client's notice
def test_anthropic_tiers_plain_and_streamed(proxy_env: ProxyEnv) -> None:
    calls = [c for c in CALLS if c.category == "system.anthropic"]
    assert any(c.total_input == 200_000 for c in calls)  # the +99% case of the issue: exactly at the tier
    for call in calls:
        usage = {
            "input_tokens": call.uncached,
            "output_tokens": call.output,
            "cache_read_input_tokens": call.cache_read,
            "cache_creation_input_tokens": call.cache_write,
        }
        with anthropic.Anthropic(
            api_key="sk-ant",
            base_url=proxy_env.url("anthropic"),
            default_headers={"xProxy-Api-Key": proxy_env.key, "x-fake-usage": json.dumps(usage)},
        ) as client:
            message = client.messages.create(model=call.resource, max_tokens=call.output, messages=MESSAGES)
            assert _wire(message.model_extra["xproxy_result"]) == call.reference(), call
            with client.messages.stream(model=call.resource, max_tokens=call.output, messages=MESSAGES) as stream:
                deltas = [e for e in stream if e.type == "message_delta"]
            assert _wire(deltas[0].model_extra["xproxy_result"]) == call.reference(), call
    _check_rows(proxy_env.recorded(2 * len(calls)), [c for c in calls for _ in range(2)])


def test_openai_tiers_chat_and_responses_plain_and_streamed(proxy_env: ProxyEnv) -> None:
    calls = [c for c in CALLS if c.category == "system.openai"]
    for call in calls:
        chat_usage = {
            "prompt_tokens": call.total_input,
            "completion_tokens": call.output,
            "prompt_tokens_details": {"cached_tokens": call.cache_read},
        }
        responses_usage = {
            "input_tokens": call.total_input,
            "output_tokens": call.output,
            "input_tokens_details": {"cached_tokens": call.cache_read},
        }
        with openai.OpenAI(
            api_key="sk-fake", base_url=proxy_env.url("openai") + "/v1", default_headers={"xProxy-Api-Key": proxy_env.key}
        ) as client:
            chat_headers = {"x-fake-usage": json.dumps(chat_usage)}
            completion = client.chat.completions.create(
                model=call.resource, messages=MESSAGES, extra_headers=chat_headers  # type: ignore[arg-type]
            )
            assert _wire(completion.model_extra["xproxy_result"]) == call.reference(), call
            chunks = list(
                client.chat.completions.create(
                    model=call.resource, messages=MESSAGES, stream=True, extra_headers=chat_headers  # type: ignore[arg-type]
                )
            )
            streamed = [c.model_extra["xproxy_result"] for c in chunks if c.model_extra and "xproxy_result" in c.model_extra]
            assert [_wire(r) for r in streamed] == [call.reference()], call
            responses_headers = {"x-fake-usage": json.dumps(responses_usage)}
            response = client.responses.create(model=call.resource, input="alpha beta", extra_headers=responses_headers)
            assert _wire(response.model_extra["xproxy_result"]) == call.reference(), call
            events = list(
                client.responses.create(model=call.resource, input="alpha beta", stream=True, extra_headers=responses_headers)
            )
            done = [e for e in events if e.type == "response.completed"]
            assert _wire(done[0].model_extra["xproxy_result"]) == call.reference(), call
    _check_rows(proxy_env.recorded(4 * len(calls)), [c for c in calls for _ in range(4)])


def test_bedrock_converse_tier_plain_and_streamed(proxy_env: ProxyEnv) -> None:
    calls = [c for c in CALLS if c.category == "system.aws.bedrock"]
    assert calls
    for call in calls:
        usage = {"inputTokens": call.uncached, "outputTokens": call.output}
        client = _bedrock(proxy_env, {"x-fake-usage": json.dumps(usage)})
        messages = [{"role": "user", "content": [{"text": "alpha beta"}]}]
        client.converse(modelId=call.resource, messages=messages)
        list(client.converse_stream(modelId=call.resource, messages=messages)["stream"])
        client.close()
    _check_rows(proxy_env.recorded(2 * len(calls)), [c for c in calls for _ in range(2)])
