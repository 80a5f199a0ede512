"""Anthropic, Azure OpenAI, Azure Anthropic and Bedrock through the proxy with their real clients."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import boto3
import openai
import pytest
from botocore.config import Config

from tests.fakes.config import FakeConfig

from .conftest import ProxyEnv

MESSAGES = [{"role": "user", "content": "alpha beta gamma delta epsilon zeta eta theta"}]


def _anthropic(env: ProxyEnv, **headers: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="sk-ant-upstream-secret-0000000000",
        base_url=env.url("anthropic"),
        default_headers={"xProxy-Api-Key": env.key, **headers},
    )


def test_anthropic_messages_stream_and_not_price_identically(proxy_env: ProxyEnv) -> None:
    client = _anthropic(proxy_env)
    message = client.messages.create(model="claude-3-5-haiku-20241022", max_tokens=30, messages=MESSAGES)
    whole = message.model_extra["xproxy_result"]
    # claude-3-5-haiku: $0.80 / $4.00 per million
    assert whole["cost"]["input"]["base"] == pytest.approx(message.usage.input_tokens * 0.8e-6)
    assert whole["cost"]["output"]["base"] == pytest.approx(message.usage.output_tokens * 4e-6)
    with client.messages.stream(model="claude-3-5-haiku-20241022", max_tokens=30, messages=MESSAGES) as stream:
        events = list(stream)
    deltas = [e for e in events if e.type == "message_delta"]
    assert len(deltas) == 1
    streamed = deltas[0].model_extra["xproxy_result"]
    assert streamed["cost"] == whole["cost"]
    upstream = proxy_env.fake.last("anthropic.messages")
    # anthropic 2.x sends the key as a bearer token; older clients as x-api-key: either is forwarded as sent
    assert "sk-ant-upstream-secret-0000000000" in (upstream.header("x-api-key") or upstream.header("authorization") or "")
    assert upstream.header("anthropic-version")
    rows = proxy_env.recorded(2)
    assert rows[0]["units"] == rows[1]["units"]


@pytest.mark.parametrize("fake_config", [FakeConfig(stream_chunks=3, anthropic_full_delta_usage=True)])
async def test_anthropic_async_with_cache_usage(proxy_env: ProxyEnv) -> None:
    usage = {"input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 200}
    client = anthropic.AsyncAnthropic(
        api_key="sk-ant",
        base_url=proxy_env.url("anthropic"),
        default_headers={"xProxy-Api-Key": proxy_env.key, "x-fake-usage": json.dumps(usage)},
    )
    message = await client.messages.create(model="claude-3-5-haiku-20241022", max_tokens=30, messages=MESSAGES)
    result = message.model_extra["xproxy_result"]
    # input: 10 x 0.8e-6 + 1000 x 0.08e-6 (cache read) + 200 x 1e-6 (5-minute cache write) = 0.000288
    assert result["cost"]["input"]["base"] == pytest.approx(0.000288)
    assert result["cost"]["output"]["base"] == pytest.approx(20 * 4e-6)
    stream = await client.messages.create(model="claude-3-5-haiku-20241022", max_tokens=30, messages=MESSAGES, stream=True)
    events = [e async for e in stream]
    delta = next(e for e in events if e.type == "message_delta")
    assert delta.model_extra["xproxy_result"]["cost"] == result["cost"]
    await client.close()


def test_azure_openai_with_base_uri_and_price_as(proxy_env: ProxyEnv) -> None:
    client = openai.AzureOpenAI(
        api_key="azure-key-secret",
        api_version="2024-08-01-preview",
        azure_endpoint=proxy_env.url("azure.openai"),
        default_headers={
            "xProxy-Api-Key": proxy_env.key,
            "xProxy-Provider-BaseUri": proxy_env.fake_url + "/",
            "xProxy-PriceAs-Resource": "gpt-4o-2024-08-06",
        },
    )
    completion = client.chat.completions.create(model="my-deployment", messages=MESSAGES)
    result = completion.model_extra["xproxy_result"]
    assert completion.usage is not None
    assert result["cost"]["input"]["base"] == pytest.approx(completion.usage.prompt_tokens * 2.5e-6)
    upstream = proxy_env.fake.last("azure_openai.chat")
    assert upstream.header("api-key") == "azure-key-secret"
    assert upstream.query.startswith("api-version=")
    rows = proxy_env.recorded(1)
    assert rows[0]["category"] == "system.azureopenai"
    assert rows[0]["resource"] == "gpt-4o-2024-08-06"


def test_azure_openai_needs_a_base_uri(proxy_env: ProxyEnv) -> None:
    client = openai.AzureOpenAI(
        api_key="k", api_version="2024-08-01-preview", azure_endpoint=proxy_env.url("azure.openai"),
        default_headers={"xProxy-Api-Key": proxy_env.key}, max_retries=0,
    )
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="d", messages=MESSAGES)
    assert info.value.body["xproxy_error"]["code"] == "header_is_missing"  # type: ignore[index]


def test_azure_anthropic(proxy_env: ProxyEnv) -> None:
    client = anthropic.Anthropic(
        api_key="foundry-key",
        base_url=proxy_env.url("azure.anthropic") + "/anthropic",
        default_headers={"xProxy-Api-Key": proxy_env.key, "xProxy-Provider-BaseUri": proxy_env.fake_url},
    )
    message = client.messages.create(model="claude-3-5-haiku-20241022", max_tokens=10, messages=MESSAGES)
    assert "xproxy_result" in message.model_extra
    assert proxy_env.recorded(1)[0]["category"] == "system.azure"


def _bedrock(env: ProxyEnv, extra_headers: dict[str, str] | None = None) -> Any:
    """A boto3 client signed for the fake's host, redirected to our proxy after signing (as the SDK does)."""
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=env.fake_url,
        aws_access_key_id="AKIDFAKE",
        aws_secret_access_key="fake-secret",
        config=Config(retries={"max_attempts": 1}),
    )

    def redirect(request: Any, **_: Any) -> None:
        original = request.url.split("://", 1)[1]
        path = original[original.index("/") :]
        request.url = env.url("aws.bedrock") + path
        request.headers["xProxy-Api-Key"] = env.key
        request.headers["xProxy-Provider-BaseUri"] = env.fake_url
        for name, value in (extra_headers or {}).items():
            request.headers[name] = value

    client.meta.events.register_last("request-created.bedrock-runtime", redirect)
    return client


BEDROCK_HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


@pytest.mark.parametrize("fake_config", [FakeConfig(stream_chunks=3, verify_sigv4=True)])
def test_bedrock_invoke_converse_and_streams_keep_the_signature(proxy_env: ProxyEnv) -> None:
    client = _bedrock(proxy_env)
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20, "messages": MESSAGES})
    invoked = client.invoke_model(modelId=BEDROCK_HAIKU, body=body)
    data = json.loads(invoked["body"].read())
    assert proxy_env.fake.last("bedrock.invoke").sigv4_valid is True
    result = data["xproxy_result"]
    # claude-3-haiku on Bedrock: $0.25 / $1.25 per million
    assert result["cost"]["input"]["base"] == pytest.approx(data["usage"]["input_tokens"] * 0.25e-6)
    streamed = client.invoke_model_with_response_stream(modelId=BEDROCK_HAIKU, body=body)
    chunks = [json.loads(e["chunk"]["bytes"]) for e in streamed["body"] if "chunk" in e]
    assert chunks and proxy_env.fake.last("bedrock.invoke_stream").sigv4_valid is True
    converse = client.converse(modelId=BEDROCK_HAIKU, messages=[{"role": "user", "content": [{"text": "alpha beta"}]}])
    assert converse["usage"]["inputTokens"] > 0
    events = list(
        client.converse_stream(modelId=BEDROCK_HAIKU, messages=[{"role": "user", "content": [{"text": "alpha beta"}]}])["stream"]
    )
    assert any("metadata" in e for e in events)
    rows = proxy_env.recorded(4)
    assert len(rows) == 4
    invoke, invoke_stream, conv, conv_stream = rows
    assert invoke["units"] == invoke_stream["units"] and invoke["cost_total"] == invoke_stream["cost_total"]
    assert conv["units"] == conv_stream["units"] and conv["cost_total"] == conv_stream["cost_total"]
    assert all(r["category"] == "system.aws.bedrock" and r["resource"] == BEDROCK_HAIKU for r in rows)
    assert all(r["cost_total"] > 0 for r in rows)


@pytest.mark.parametrize("fake_config", [FakeConfig(stream_chunks=3, verify_sigv4=True)])
def test_bedrock_tampered_request_is_refused_upstream(proxy_env: ProxyEnv) -> None:
    client = _bedrock(proxy_env, extra_headers={"xProxy-Forward-X-Amz-Date": "20200101T000000Z"})
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20, "messages": MESSAGES})
    with pytest.raises(client.exceptions.ClientError):
        client.invoke_model(modelId=BEDROCK_HAIKU, body=body)
    assert proxy_env.fake.last("bedrock.invoke").sigv4_valid is False
