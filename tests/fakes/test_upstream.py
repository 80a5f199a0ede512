"""The fake upstream driven by the real openai, anthropic and boto3 clients (in-process and over loopback)."""

from __future__ import annotations

import asyncio
import base64
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import boto3
import httpx2
import openai
import orjson
import pytest
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, EventStreamError, ResponseStreamingError

from tests.fakes import eventstream as es
from tests.fakes.serve import serve, serve_app
from tests.fakes.upstream import FakeConfig, FakeUpstream, RecordedRequest, create_app, route
from tests.fakes.usage import Usage

ROOT = Path(__file__).resolve().parents[2]
MSG = [{"role": "user", "content": "Say hello to the fake upstream please"}]  # 7 words
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def fake() -> FakeUpstream:
    return create_app()


@pytest.fixture
def url(fake: FakeUpstream) -> Iterator[str]:
    with serve_app(fake) as base_url:
        yield base_url


@pytest.fixture
def oai(url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{url}/v1", api_key="sk-fake", max_retries=0) as client:
        yield client


@pytest.fixture
async def aoai(fake: FakeUpstream) -> AsyncIterator[openai.AsyncOpenAI]:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=fake), base_url="http://fake")
    async with openai.AsyncOpenAI(
        base_url="http://fake/v1", api_key="sk-fake", http_client=http, max_retries=0
    ) as c:
        yield c


@pytest.fixture
def ant(url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=url, api_key="sk-ant-fake", max_retries=0) as client:
        yield client


@pytest.fixture
async def aant(fake: FakeUpstream) -> AsyncIterator[anthropic.AsyncAnthropic]:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=fake), base_url="http://fake")
    async with anthropic.AsyncAnthropic(
        base_url="http://fake", api_key="k", http_client=http, max_retries=0
    ) as c:
        yield c


@pytest.fixture(scope="module")
def boto_session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="AKIDFAKE", aws_secret_access_key="fake-secret", region_name="us-east-1"
    )


def bedrock_client(session: boto3.session.Session, url: str, secret: str = "fake-secret") -> Any:
    return session.client(
        "bedrock-runtime",
        endpoint_url=url,
        aws_secret_access_key=secret,
        aws_access_key_id="AKIDFAKE",
        config=BotoConfig(retries={"total_max_attempts": 1}, read_timeout=5, connect_timeout=2),
    )


@pytest.fixture
def brt(boto_session: boto3.session.Session, url: str) -> Iterator[Any]:
    client = bedrock_client(boto_session, url)
    yield client
    client.close()


def claude_body(**extra: Any) -> bytes:
    return orjson.dumps(
        {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": MSG, **extra}
    )


# ---------------------------------------------------------------------------------------------- OpenAI


def test_chat_sync_stream_and_non_stream_report_identical_usage(
    fake: FakeUpstream, oai: openai.OpenAI
) -> None:
    resp = oai.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert resp.id.startswith("chatcmpl-")
    assert resp.object == "chat.completion"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == 7
    assert resp.usage.completion_tokens == 16
    assert resp.usage.total_tokens == 23
    assert resp.usage.prompt_tokens_details.cached_tokens == 0
    assert resp.usage.completion_tokens_details.reasoning_tokens == 0

    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o-mini", messages=MSG, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.model_dump() == resp.usage.model_dump()
    assert all(c.usage is None for c in chunks[:-1])
    text = "".join(c.choices[0].delta.content or "" for c in chunks[:-1])
    assert text == resp.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"

    # Without include_usage there is no usage chunk at all, and every chunk has a choice.
    plain = list(oai.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True))
    assert all(c.choices and c.usage is None for c in plain)
    assert len(plain) == 1 + 4 + 1  # role, 4 text pieces, finish

    assert fake.counts["openai.chat"] == 3
    rec = fake.last("openai.chat")
    assert rec.stream and rec.completed and not rec.disconnected
    assert rec.header("authorization") == "Bearer sk-fake"
    assert rec.json()["messages"] == MSG


def test_chat_raw_sse_ends_with_done(fake: FakeUpstream, url: str) -> None:
    with httpx2.Client() as http:
        r = http.post(
            f"{url}/v1/chat/completions",
            json={
                "model": "gpt-4o",
                "messages": MSG,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = r.text.split("\n\n")
    assert events[-2] == "data: [DONE]" and events[-1] == ""
    last = orjson.loads(events[-3].removeprefix("data: "))
    assert last["choices"] == [] and last["usage"]["prompt_tokens"] == 7


def test_model_aliases_report_the_resolved_model(fake: FakeUpstream, oai: openai.OpenAI) -> None:
    fake.config.model_aliases["gpt-4o"] = "gpt-4o-2024-08-06"
    resp = oai.chat.completions.create(model="gpt-4o", messages=MSG)
    assert resp.model == "gpt-4o-2024-08-06"
    assert fake.last().model == "gpt-4o"


def test_max_tokens_truncates_and_sets_length(oai: openai.OpenAI) -> None:
    resp = oai.chat.completions.create(model="gpt-4o", messages=MSG, max_completion_tokens=5)
    assert resp.usage is not None and resp.usage.completion_tokens == 5
    assert resp.choices[0].finish_reason == "length"
    assert resp.choices[0].message.content == "Hello from the fake upstream"


def test_chat_usage_override_openai_semantics(fake: FakeUpstream, oai: openai.OpenAI) -> None:
    usage = {
        "prompt_tokens": 120,
        "completion_tokens": 30,
        "prompt_tokens_details": {"cached_tokens": 100},
        "completion_tokens_details": {"reasoning_tokens": 20},
    }
    hdr = {"x-fake-usage": orjson.dumps(usage).decode()}
    resp = oai.chat.completions.create(model="o3", messages=MSG, extra_headers=hdr)
    assert resp.usage is not None
    got = resp.usage.model_dump()
    assert got["prompt_tokens"] == 120 and got["completion_tokens"] == 30 and got["total_tokens"] == 150
    assert got["prompt_tokens_details"]["cached_tokens"] == 100
    assert got["completion_tokens_details"]["reasoning_tokens"] == 20
    # completion_tokens include reasoning: only 10 words of visible text
    assert len((resp.choices[0].message.content or "").split()) == 10
    assert fake.last().usage == Usage(input=20, output=30, cache_read=100, reasoning=20)

    chunks = list(
        oai.chat.completions.create(
            model="o3", messages=MSG, stream=True, stream_options={"include_usage": True}, extra_headers=hdr
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.model_dump() == got


def test_usage_override_keeps_unknown_fields_and_explicit_total(oai: openai.OpenAI) -> None:
    hdr = {"x-fake-usage": '{"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 99, "cost": 0.0}'}
    resp = oai.chat.completions.create(model="gpt-4o", messages=MSG, extra_headers=hdr)
    assert resp.usage is not None
    assert resp.usage.total_tokens == 99
    assert resp.usage.model_dump()["cost"] == 0.0


def test_reasoning_tokens_from_config() -> None:
    fake = create_app(FakeConfig(reasoning_tokens=6))
    with serve_app(fake) as url, openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0) as client:
        resp = client.responses.create(model="o4-mini", input="think about this")
    assert resp.usage is not None
    assert resp.usage.output_tokens == 16 and resp.usage.output_tokens_details.reasoning_tokens == 6
    assert [item.type for item in resp.output] == ["reasoning", "message"]
    assert len(resp.output_text.split()) == 10


async def test_chat_async_in_process(fake: FakeUpstream, aoai: openai.AsyncOpenAI) -> None:
    resp = await aoai.chat.completions.create(model="gpt-4o", messages=MSG)
    stream = await aoai.chat.completions.create(
        model="gpt-4o", messages=MSG, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert resp.usage is not None and chunks[-1].usage is not None
    assert chunks[-1].usage.model_dump() == resp.usage.model_dump()
    assert fake.counts["openai.chat"] == 2


def test_responses_sync_stream_and_non_stream(fake: FakeUpstream, oai: openai.OpenAI) -> None:
    resp = oai.responses.create(model="gpt-4.1", input="Tell me something short", instructions="Be brief")
    assert resp.id.startswith("resp_") and resp.status == "completed"
    assert resp.output_text.startswith("Hello from the fake")
    assert resp.usage is not None
    assert resp.usage.input_tokens == 6
    assert resp.usage.input_tokens_details.cached_tokens == 0
    assert resp.usage.output_tokens_details.reasoning_tokens == 0

    events = list(
        oai.responses.create(
            model="gpt-4.1", input="Tell me something short", instructions="Be brief", stream=True
        )
    )
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert types.count("response.output_text.delta") == 4
    assert [e.sequence_number for e in events] == list(range(len(events)))
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.usage is not None
    assert completed.response.usage.model_dump() == resp.usage.model_dump()

    with oai.responses.stream(
        model="gpt-4.1", input="Tell me something short", instructions="Be brief"
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == resp.output_text == final.output_text
    assert final.usage is not None and final.usage.model_dump() == resp.usage.model_dump()
    assert fake.counts["openai.responses"] == 3


def test_responses_usage_override(oai: openai.OpenAI) -> None:
    usage = {
        "input_tokens": 2000,
        "input_tokens_details": {"cached_tokens": 1500},
        "output_tokens": 40,
        "output_tokens_details": {"reasoning_tokens": 32},
    }
    hdr = {"x-fake-usage": orjson.dumps(usage).decode()}
    resp = oai.responses.create(model="o3", input="x", extra_headers=hdr)
    events = list(oai.responses.create(model="o3", input="x", extra_headers=hdr, stream=True))
    assert resp.usage is not None
    expected = {**usage, "total_tokens": 2040}
    expected["input_tokens_details"] = {"cached_tokens": 1500, "cache_write_tokens": 0}
    assert resp.usage.model_dump(exclude_none=True) == expected
    assert events[-1].response.usage.model_dump(exclude_none=True) == expected


async def test_responses_async_in_process(aoai: openai.AsyncOpenAI) -> None:
    resp = await aoai.responses.create(model="gpt-4.1", input="hi there")
    async with aoai.responses.stream(model="gpt-4.1", input="hi there") as stream:
        final = await stream.get_final_response()
    assert resp.usage is not None and final.usage is not None
    assert final.usage.model_dump() == resp.usage.model_dump()
    assert final.output_text == resp.output_text


def test_embeddings_sync(fake: FakeUpstream, oai: openai.OpenAI) -> None:
    # the client asks for base64 by default and decodes it
    resp = oai.embeddings.create(model="text-embedding-3-small", input=["one two three", "four"])
    assert [d.index for d in resp.data] == [0, 1]
    assert len(resp.data[0].embedding) == 8
    assert resp.usage.prompt_tokens == 4 and resp.usage.total_tokens == 4
    assert fake.last().json()["encoding_format"] == "base64"
    floats = oai.embeddings.create(
        model="text-embedding-3-small", input="one two three", encoding_format="float", dimensions=3
    )
    assert floats.data[0].embedding == resp.data[0].embedding[:3]


async def test_embeddings_async_in_process(aoai: openai.AsyncOpenAI) -> None:
    resp = await aoai.embeddings.create(model="text-embedding-3-large", input=[[1, 2, 3, 4, 5]])
    assert resp.usage.prompt_tokens == 5


# ---------------------------------------------------------------------------------------------- Azure OpenAI


def test_azure_deployment_routes_and_headers(url: str) -> None:
    fake_cfg = FakeConfig(azure_deployment_models={"my-gpt": "gpt-4o-2024-08-06"})
    fake = create_app(fake_cfg)
    with (
        serve_app(fake) as base,
        openai.AzureOpenAI(
            azure_endpoint=base, api_key="azkey", api_version="2024-10-21", max_retries=0
        ) as client,
    ):
        raw = client.chat.completions.with_raw_response.create(model="my-gpt", messages=MSG)
        resp = raw.parse()
        assert raw.headers["x-ms-deployment-name"] == "my-gpt"
        assert resp.model == "gpt-4o-2024-08-06"
        emb = client.embeddings.with_raw_response.create(model="my-emb", input="hello world")
        assert emb.headers["x-ms-deployment-name"] == "my-emb"
        assert emb.parse().usage.prompt_tokens == 2
    rec = fake.last("azure_openai.chat")
    assert rec.path == "/openai/deployments/my-gpt/chat/completions"
    assert rec.query == "api-version=2024-10-21"
    assert rec.header("api-key") == "azkey"
    assert rec.model == "my-gpt"
    assert fake.counts == {"azure_openai.chat": 1, "azure_openai.embeddings": 1}


def test_azure_v1_path_and_content_filters() -> None:
    fake = create_app(FakeConfig(azure_content_filters=True))
    with (
        serve_app(fake) as base,
        openai.OpenAI(base_url=f"{base}/openai/v1", api_key="k", max_retries=0) as client,
    ):
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MSG)
        assert raw.headers["x-ms-deployment-name"] == "gpt-4o"
        assert "prompt_filter_results" in (raw.parse().model_extra or {})
        chunks = list(client.chat.completions.create(model="gpt-4o", messages=MSG, stream=True))
    assert chunks[0].choices == []  # Azure's prompt-filter chunk comes first
    assert fake.counts["azure_openai.chat"] == 2


# ---------------------------------------------------------------------------------------------- Anthropic


def test_anthropic_create_and_stream_sync(fake: FakeUpstream, ant: anthropic.Anthropic) -> None:
    msg = ant.messages.create(model="claude-sonnet-4-20250514", max_tokens=1024, messages=MSG)
    assert msg.id.startswith("msg_") and msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == 7 and msg.usage.output_tokens == 16
    assert msg.usage.cache_read_input_tokens == 0 and msg.usage.cache_creation_input_tokens == 0

    with ant.messages.stream(model="claude-sonnet-4-20250514", max_tokens=1024, messages=MSG) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == msg.content[0].text
    assert final.usage.model_dump() == msg.usage.model_dump()
    rec = fake.last("anthropic.messages")
    # anthropic 2.x sends the API key as a bearer token
    assert "sk-ant-fake" in (rec.header("x-api-key") or rec.header("authorization") or "")
    assert rec.header("anthropic-version")
    assert rec.stream


def test_anthropic_raw_event_sequence_and_cache_semantics(url: str) -> None:
    usage = {
        "input_tokens": 10,
        "cache_read_input_tokens": 2000,
        "cache_creation": {"ephemeral_5m_input_tokens": 300, "ephemeral_1h_input_tokens": 50},
        "output_tokens": 12,
    }
    with httpx2.Client() as http:
        r = http.post(
            f"{url}/v1/messages",
            json={"model": "claude-3-5-haiku-latest", "max_tokens": 100, "messages": MSG, "stream": True},
            headers={"x-fake-usage": orjson.dumps(usage).decode()},
        )
    events = [block.split("\n") for block in r.text.strip().split("\n\n")]
    names = [e[0].removeprefix("event: ") for e in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = orjson.loads(events[0][1].removeprefix("data: "))
    assert start["message"]["usage"] == {
        "input_tokens": 10,
        "cache_creation_input_tokens": 350,
        "cache_read_input_tokens": 2000,
        "cache_creation": {"ephemeral_5m_input_tokens": 300, "ephemeral_1h_input_tokens": 50},
        "output_tokens": 1,
        "service_tier": "standard",
    }
    delta = orjson.loads(events[-2][1].removeprefix("data: "))
    assert delta["usage"] == {"output_tokens": 12}
    assert r.headers["request-id"].startswith("req_")


def test_anthropic_full_delta_usage_flag(ant: anthropic.Anthropic, fake: FakeUpstream) -> None:
    fake.config.anthropic_full_delta_usage = True
    hdr = {"x-fake-usage": '{"input_tokens": 5, "cache_read_input_tokens": 40, "output_tokens": 9}'}
    with ant.messages.stream(
        model="claude-opus-4-1", max_tokens=50, messages=MSG, extra_headers=hdr
    ) as stream:
        deltas = [e for e in stream if e.type == "message_delta"]
        final = stream.get_final_message()
    assert deltas[0].usage.input_tokens == 5 and deltas[0].usage.cache_read_input_tokens == 40
    assert deltas[0].usage.output_tokens == 9
    assert final.usage.input_tokens == 5 and final.usage.output_tokens == 9


async def test_anthropic_async_in_process(fake: FakeUpstream, aant: anthropic.AsyncAnthropic) -> None:
    msg = await aant.messages.create(model="claude-3-7-sonnet-latest", max_tokens=3, messages=MSG)
    assert msg.stop_reason == "max_tokens" and msg.usage.output_tokens == 3
    async with aant.messages.stream(model="claude-3-7-sonnet-latest", max_tokens=3, messages=MSG) as stream:
        final = await stream.get_final_message()
    assert final.usage.model_dump() == msg.usage.model_dump()
    assert final.stop_reason == "max_tokens"
    assert fake.counts["anthropic.messages"] == 2


def test_anthropic_foundry_prefix_and_count_tokens(fake: FakeUpstream, url: str) -> None:
    with anthropic.AnthropicFoundry(api_key="k", base_url=f"{url}/anthropic/", max_retries=0) as client:
        msg = client.messages.create(model="claude-sonnet-4-6", max_tokens=20, messages=MSG)
    assert msg.usage.input_tokens == 7
    assert fake.last().path == "/anthropic/v1/messages"
    with anthropic.Anthropic(base_url=url, api_key="k", max_retries=0) as client:
        counted = client.messages.count_tokens(model="claude-sonnet-4-6", messages=MSG)
    assert counted.input_tokens == 7
    assert fake.counts["anthropic.count_tokens"] == 1


# ---------------------------------------------------------------------------------------------- Bedrock


def test_bedrock_invoke_claude(fake: FakeUpstream, brt: Any) -> None:
    resp = brt.invoke_model(modelId=CLAUDE, body=claude_body())
    body = orjson.loads(resp["body"].read())
    assert body["type"] == "message" and body["model"] == "claude-3-haiku-20240307"
    assert body["usage"] == {
        "input_tokens": 7,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 16,
    }
    headers = resp["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-input-token-count"] == "7"
    assert headers["x-amzn-bedrock-output-token-count"] == "16"
    assert resp["ResponseMetadata"]["RequestId"] == headers["x-amzn-requestid"]
    rec = fake.last()
    assert rec.endpoint == "bedrock.invoke" and rec.model == CLAUDE
    assert rec.raw_path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"
    assert rec.header(
        "authorization",
    ).startswith("AWS4-HMAC-SHA256 Credential=AKIDFAKE/")


@pytest.mark.parametrize(
    ("model_id", "body", "check"),
    [
        (
            "amazon.nova-lite-v1:0",
            {
                "messages": [{"role": "user", "content": [{"text": "one two three"}]}],
                "inferenceConfig": {"max_new_tokens": 4},
            },
            lambda b: (
                b["usage"]["inputTokens"] == 3
                and b["usage"]["outputTokens"] == 4
                and b["stopReason"] == "max_tokens"
                and b["output"]["message"]["content"][0]["text"] == "Hello from the fake"
                and "cacheReadInputTokenCount" in b["usage"]
            ),
        ),
        (
            "meta.llama3-8b-instruct-v1:0",
            {"prompt": "one two three four", "max_gen_len": 100},
            lambda b: (
                b["prompt_token_count"] == 4
                and b["generation_token_count"] == 16
                and b["stop_reason"] == "stop"
            ),
        ),
        (
            "amazon.titan-text-express-v1",
            {"inputText": "one two", "textGenerationConfig": {"maxTokenCount": 8}},
            lambda b: (
                b["inputTextTokenCount"] == 2
                and b["results"][0]["tokenCount"] == 8
                and b["results"][0]["completionReason"] == "LENGTH"
            ),
        ),
        (
            "amazon.titan-embed-text-v2:0",
            {"inputText": "embed these four words"},
            lambda b: b["inputTextTokenCount"] == 4 and len(b["embedding"]) == 8,
        ),
    ],
)
def test_bedrock_invoke_other_families(brt: Any, model_id: str, body: dict[str, Any], check: Any) -> None:
    resp = brt.invoke_model(modelId=model_id, body=orjson.dumps(body))
    assert check(orjson.loads(resp["body"].read()))


def test_bedrock_invoke_stream_claude_matches_non_stream(fake: FakeUpstream, brt: Any) -> None:
    hdr_usage = '{"inputTokenCount": 11, "outputTokenCount": 7, "cacheReadInputTokenCount": 500, "cacheWriteInputTokenCount": 20}'

    def add_header(request: Any, **_: Any) -> None:
        request.headers["x-fake-usage"] = hdr_usage

    brt.meta.events.register("before-send.bedrock-runtime.*", add_header)
    plain = orjson.loads(brt.invoke_model(modelId=CLAUDE, body=claude_body())["body"].read())
    resp = brt.invoke_model_with_response_stream(modelId=CLAUDE, body=claude_body())
    assert resp["contentType"] == "application/json"
    chunks = [orjson.loads(ev["chunk"]["bytes"]) for ev in resp["body"]]
    assert [c["type"] for c in chunks] == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics == {
        "inputTokenCount": 11,
        "outputTokenCount": 7,
        "invocationLatency": 0,
        "firstByteLatency": 0,
        "cacheReadInputTokenCount": 500,
        "cacheWriteInputTokenCount": 20,
    }
    start_usage = chunks[0]["message"]["usage"]
    assert (start_usage["input_tokens"], start_usage["cache_read_input_tokens"]) == (11, 500)
    assert chunks[-2]["usage"]["output_tokens"] == plain["usage"]["output_tokens"] == 7
    assert plain["usage"]["cache_creation_input_tokens"] == 20
    text = "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")
    assert text == plain["content"][0]["text"]
    assert fake.last().endpoint == "bedrock.invoke_stream"


def test_bedrock_invoke_stream_nova(brt: Any) -> None:
    body = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    resp = brt.invoke_model_with_response_stream(modelId="us.amazon.nova-pro-v1:0", body=orjson.dumps(body))
    chunks = [orjson.loads(ev["chunk"]["bytes"]) for ev in resp["body"]]
    assert list(chunks[0]) == ["messageStart"]
    assert chunks[-1]["metadata"]["usage"] == {"inputTokens": 1, "outputTokens": 16}
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 16


def test_bedrock_converse_and_stream_match(fake: FakeUpstream, brt: Any) -> None:
    kwargs: dict[str, Any] = {
        "modelId": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "messages": [{"role": "user", "content": [{"text": "four words right here"}]}],
        "system": [{"text": "be nice"}],
        "inferenceConfig": {"maxTokens": 300},
    }
    resp = brt.converse(**kwargs)
    assert resp["stopReason"] == "end_turn"
    assert resp["usage"] == {
        "inputTokens": 6,
        "outputTokens": 16,
        "totalTokens": 22,
        "cacheReadInputTokens": 0,
        "cacheWriteInputTokens": 0,
    }
    assert resp["metrics"]["latencyMs"] == 0
    events = list(brt.converse_stream(**kwargs)["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds == [
        "messageStart",
        *["contentBlockDelta"] * 4,
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert events[-1]["metadata"]["usage"] == resp["usage"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == resp["output"]["message"]["content"][0]["text"]
    assert fake.last().raw_path == "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream"


def test_bedrock_converse_usage_override_via_request_metadata(brt: Any) -> None:
    usage = {"inputTokens": 3, "outputTokens": 2, "cacheReadInputTokens": 1000, "cacheWriteInputTokens": 7}
    resp = brt.converse(
        modelId="amazon.nova-micro-v1:0",
        messages=[{"role": "user", "content": [{"text": "hi"}]}],
        requestMetadata={"x-fake-usage": orjson.dumps(usage).decode()},
    )
    assert resp["usage"] == {**usage, "totalTokens": 1012, "cacheDetails": [{"ttl": "5m", "inputTokens": 7}]}


def test_bedrock_arn_model_id_with_slash(fake: FakeUpstream, brt: Any) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"
    resp = brt.invoke_model(modelId=arn, body=claude_body())
    assert orjson.loads(resp["body"].read())["model"] == "claude-3-haiku-20240307"
    assert fake.last().model == arn
    assert "%2F" in fake.last().raw_path


# ---------------------------------------------------------------------------------------------- SigV4


@pytest.fixture
def signed_fake() -> Iterator[tuple[FakeUpstream, str]]:
    fake = create_app(FakeConfig(verify_sigv4=True))
    with serve_app(fake) as url:
        yield fake, url


def test_sigv4_accepts_real_boto3_requests(signed_fake: tuple[FakeUpstream, str], boto_session: Any) -> None:
    fake, url = signed_fake
    client = bedrock_client(boto_session, url)
    try:
        client.invoke_model(modelId=CLAUDE, body=claude_body())
        list(client.invoke_model_with_response_stream(modelId=CLAUDE, body=claude_body())["body"])
        client.converse(modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": "hi"}]}])
        list(
            client.converse_stream(modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": "hi"}]}])[
                "stream"
            ]
        )
    finally:
        client.close()
    assert [r.sigv4_valid for r in fake.requests] == [True] * 4


def test_sigv4_rejects_tampered_body(signed_fake: tuple[FakeUpstream, str], boto_session: Any) -> None:
    fake, url = signed_fake
    client = bedrock_client(boto_session, url)

    def tamper(request: Any, **_: Any) -> None:  # runs after signing, like a proxy re-serializing the body
        request.body = request.body.replace(b'"max_tokens": 100', b'"max_tokens": 999')

    client.meta.events.register("before-send.bedrock-runtime.InvokeModel", tamper)
    try:
        with pytest.raises(ClientError) as err:
            client.invoke_model(
                modelId=CLAUDE,
                body=b'{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": []}',
            )
    finally:
        client.close()
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert err.value.response["Error"]["Message"].startswith(
        "The request signature we calculated does not match"
    )
    assert fake.last().sigv4_valid is False


def test_sigv4_rejects_wrong_secret_and_unknown_key(
    signed_fake: tuple[FakeUpstream, str], boto_session: Any
) -> None:
    _, url = signed_fake
    client = bedrock_client(boto_session, url, secret="not-the-secret")
    try:
        with pytest.raises(ClientError) as err:
            client.invoke_model(modelId=CLAUDE, body=claude_body())
    finally:
        client.close()
    assert err.value.response["Error"]["Code"] == "InvalidSignatureException"

    with httpx2.Client() as http:
        r = http.post(f"{url}/model/{CLAUDE}/invoke", content=claude_body())
    assert r.status_code == 403 and r.json() == {"message": "Missing Authentication Token"}


def _signed(url: str, path: str, body: bytes, host: str) -> dict[str, str]:
    req = AWSRequest(
        method="POST",
        url=f"{url}{path}",
        data=body,
        headers={"Content-Type": "application/json", "Host": host},
    )
    SigV4Auth(Credentials("AKIDFAKE", "fake-secret"), "bedrock", "us-east-1").add_auth(req)
    return dict(req.headers.items())


def test_sigv4_replayed_byte_for_byte_with_original_host(signed_fake: tuple[FakeUpstream, str]) -> None:
    """What our proxy must do: forward path, body and signed headers unchanged, with the signed Host."""
    fake, url = signed_fake
    path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"
    body = claude_body()
    host = "bedrock-runtime.us-east-1.amazonaws.com"
    headers = _signed(f"https://{host}", path, body, host)
    with httpx2.Client() as http:
        ok = http.post(f"{url}{path}", content=body, headers=headers)
        bad_body = http.post(f"{url}{path}", content=body.replace(b"100", b"101"), headers=headers)
        bad_host = http.post(f"{url}{path}", content=body, headers={**headers, "Host": "127.0.0.1"})
        bad_path = http.post(
            f"{url}/model/anthropic.claude-3-haiku-20240307-v1:0/invoke", content=body, headers=headers
        )
    assert ok.status_code == 200, ok.text
    assert [r.status_code for r in (bad_body, bad_host, bad_path)] == [403, 403, 403]
    assert bad_body.headers["x-amzn-errortype"].startswith("InvalidSignatureException")
    assert [r.sigv4_valid for r in fake.requests] == [True, False, False, False]


# ---------------------------------------------------------------------------------------------- faults


def test_status_fault_openai_shape(fake: FakeUpstream, oai: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as err:
        oai.chat.completions.create(model="gpt-4o", messages=MSG, extra_headers={"x-fake-status": "429"})
    assert err.value.status_code == 429
    assert err.value.code == "rate_limit_exceeded"
    assert set(err.value.body) == {"message", "type", "param", "code"}
    with pytest.raises(openai.InternalServerError):
        oai.responses.create(model="gpt-4o", input="x", extra_headers={"x-fake-status": "500"})
    assert fake.last().status == 500


def test_status_fault_anthropic_shape(ant: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as err:
        ant.messages.create(
            model="claude-3-haiku", max_tokens=5, messages=MSG, extra_headers={"x-fake-status": "429"}
        )
    assert err.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": err.value.body["error"]["message"]},
    }
    with pytest.raises(anthropic.APIStatusError) as err2:
        ant.messages.create(
            model="claude-3-haiku", max_tokens=5, messages=MSG, extra_headers={"x-fake-status": "529"}
        )
    assert err2.value.status_code == 529
    assert err2.value.body["error"]["type"] == "overloaded_error"


def test_status_fault_bedrock_shape(fake: FakeUpstream, brt: Any) -> None:
    fake.config.status = 429
    try:
        with pytest.raises(ClientError) as err:
            brt.converse(modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    finally:
        fake.config.status = None
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert "Too many requests" in err.value.response["Error"]["Message"]


def test_validation_errors_look_like_the_provider(url: str) -> None:
    with httpx2.Client() as http:
        r1 = http.post(f"{url}/v1/chat/completions", content=b"{not json")
        r2 = http.post(f"{url}/v1/messages", json={"model": "claude", "messages": MSG})
        r3 = http.post(f"{url}/v2/unknown", json={})
        r4 = http.post(f"{url}/v1/chat/completions", json={"model": "m"}, headers={"x-fake-bogus": "1"})
    assert r1.status_code == 400 and r1.json()["error"]["type"] == "invalid_request_error"
    assert r2.status_code == 400 and r2.json()["error"]["message"] == "max_tokens: Field required"
    assert r3.status_code == 404 and "Unknown request URL" in r3.json()["error"]["message"]
    assert r4.status_code == 400 and "x-fake-bogus" in r4.json()["fake_error"]


def test_latency_and_chunk_delay(url: str) -> None:
    with httpx2.Client() as http:
        t0 = time.perf_counter()
        http.post(
            f"{url}/v1/chat/completions",
            json={"model": "m", "messages": MSG},
            headers={"x-fake-latency-ms": "150"},
        )
        t1 = time.perf_counter()
        arrivals: list[float] = []
        with http.stream(
            "POST",
            f"{url}/v1/chat/completions",
            json={"model": "m", "messages": MSG, "stream": True},
            headers={"x-fake-chunk-delay-ms": "40", "x-fake-chunks": "3"},
        ) as r:
            for _ in r.iter_lines():
                arrivals.append(time.perf_counter())
    assert 0.15 <= t1 - t0 < 1.0
    # 6 frames (role, 3 pieces, finish, [DONE]) -> 5 gaps of 40 ms
    assert arrivals[-1] - arrivals[0] >= 0.19


def test_hang_never_answers_and_records_disconnect(fake: FakeUpstream, url: str) -> None:
    with httpx2.Client(timeout=0.3) as http, pytest.raises(httpx2.ReadTimeout):
        http.post(
            f"{url}/v1/chat/completions", json={"model": "m", "messages": MSG}, headers={"x-fake-hang": "1"}
        )
    rec = fake.wait_for(lambda r: r.disconnected)
    assert rec.status is None and not rec.completed


def test_reset_after_chunks_aborts_stream(fake: FakeUpstream, oai: openai.OpenAI) -> None:
    got: list[Any] = []
    with pytest.raises((httpx2.RemoteProtocolError, openai.APIConnectionError)):
        for chunk in oai.chat.completions.create(
            model="m", messages=MSG, stream=True, extra_headers={"x-fake-reset-after-chunks": "2"}
        ):
            got.append(chunk)
    assert len(got) == 2
    rec = fake.wait_for(lambda r: r.finished_at is not None)
    assert rec.reset and rec.chunks_sent == 2 and not rec.completed


def test_reset_non_stream_sends_half_a_body(fake: FakeUpstream, url: str) -> None:
    with httpx2.Client() as http, pytest.raises(httpx2.RemoteProtocolError):
        http.post(
            f"{url}/v1/messages",
            json={"model": "c", "max_tokens": 5, "messages": MSG},
            headers={"x-fake-reset-after-chunks": "0"},
        )
    assert fake.wait_for(lambda r: r.finished_at is not None).reset


def test_reset_bedrock_event_stream(brt: Any) -> None:
    def add_header(request: Any, **_: Any) -> None:
        request.headers["x-fake-reset-after-chunks"] = "3"

    brt.meta.events.register("before-send.bedrock-runtime.*", add_header)
    resp = brt.invoke_model_with_response_stream(modelId=CLAUDE, body=claude_body())
    got: list[Any] = []
    try:
        with pytest.raises((urllib3.exceptions.ProtocolError, ResponseStreamingError)):
            for ev in resp["body"]:
                got.append(ev)
    finally:
        resp["body"].close()
    assert len(got) == 3


def test_garbage(oai: openai.OpenAI, ant: anthropic.Anthropic, brt: Any, url: str) -> None:
    g = {"x-fake-garbage": "1"}
    with httpx2.Client() as http:
        r = http.post(f"{url}/v1/chat/completions", json={"model": "m", "messages": MSG}, headers=g)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        orjson.loads(r.content)
    with pytest.raises((ValueError, openai.APIError)):
        list(oai.chat.completions.create(model="m", messages=MSG, stream=True, extra_headers=g))
    with pytest.raises((ValueError, anthropic.APIError)):
        with ant.messages.stream(model="c", max_tokens=5, messages=MSG, extra_headers=g) as stream:
            list(stream)

    def add_header(request: Any, **_: Any) -> None:
        request.headers["x-fake-garbage"] = "1"

    brt.meta.events.register("before-send.bedrock-runtime.*", add_header)
    resp = brt.converse_stream(modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    try:
        with pytest.raises(Exception, match="[Cc]hecksum"):
            list(resp["stream"])
    finally:
        resp["stream"].close()


def test_stream_error_events(oai: openai.OpenAI, ant: anthropic.Anthropic, brt: Any) -> None:
    h = {"x-fake-stream-error-after-chunks": "2"}
    got: list[Any] = []
    with pytest.raises(openai.APIError):
        for c in oai.chat.completions.create(model="m", messages=MSG, stream=True, extra_headers=h):
            got.append(c)
    assert len(got) == 2
    with pytest.raises(anthropic.APIStatusError) as err:
        with ant.messages.stream(model="c", max_tokens=5, messages=MSG, extra_headers=h) as stream:
            list(stream)
    assert "overloaded" in str(err.value).lower()

    def add_header(request: Any, **_: Any) -> None:
        request.headers.update(h)

    brt.meta.events.register("before-send.bedrock-runtime.*", add_header)
    resp = brt.converse_stream(modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    try:
        with pytest.raises(EventStreamError) as err2:
            list(resp["stream"])
    finally:
        resp["stream"].close()
    assert err2.value.response["Error"]["Code"] == "modelStreamErrorException"


def test_client_disconnect_mid_stream_is_recorded_and_stream_keeps_producing(
    fake: FakeUpstream, url: str
) -> None:
    with (
        httpx2.Client() as http,
        http.stream(
            "POST",
            f"{url}/v1/messages",
            json={"model": "c", "max_tokens": 50, "messages": MSG, "stream": True},
            headers={"x-fake-chunk-delay-ms": "30"},
        ) as r,
    ):
        for line in r.iter_lines():
            if line.startswith("data:"):
                break
    rec = fake.wait_for(lambda r: r.disconnected, timeout=5)
    assert not rec.completed
    # the fake keeps producing after the client left, then finishes
    rec = fake.wait_for(lambda r: r.finished_at is not None, timeout=5)
    assert rec.disconnected and not rec.completed and 1 <= rec.chunks_sent < 10


def test_stall_after_chunks(fake: FakeUpstream, url: str) -> None:
    got: list[str] = []
    with httpx2.Client(timeout=httpx2.Timeout(5, read=0.3)) as http, pytest.raises(httpx2.ReadTimeout):
        with http.stream(
            "POST",
            f"{url}/v1/chat/completions",
            json={"model": "m", "messages": MSG, "stream": True},
            headers={"x-fake-stall-after-chunks": "2"},
        ) as r:
            for line in r.iter_lines():
                if line:
                    got.append(line)
    assert len(got) == 2
    assert fake.wait_for(lambda r: r.disconnected).chunks_sent == 2


def test_body_controls_and_counters(fake: FakeUpstream, url: str) -> None:
    with httpx2.Client() as http:
        r = http.post(
            f"{url}/v1/chat/completions",
            json={"model": "m", "messages": MSG, "x_fake": {"usage": {"prompt_tokens": 42}, "status": 200}},
        )
        assert r.json()["usage"]["prompt_tokens"] == 42
        http.post(f"{url}/v1/embeddings", json={"model": "e", "input": "x"})
        stats = http.get(f"{url}/_fake/stats").json()
        listed = http.get(f"{url}/_fake/requests").json()
        assert stats == {"total": 2, "counts": {"openai.chat": 1, "openai.embeddings": 1}}
        assert [x["endpoint"] for x in listed] == ["openai.chat", "openai.embeddings"]
        http.post(f"{url}/_fake/reset")
    assert fake.total == 0 and not fake.requests


def test_max_recorded_bounds_memory() -> None:
    fake = create_app(FakeConfig(max_recorded=2))
    with serve_app(fake) as url, httpx2.Client() as http:
        for _ in range(5):
            http.post(f"{url}/v1/embeddings", json={"model": "e", "input": "x"})
    assert len(fake.requests) == 2 and fake.counts["openai.embeddings"] == 5
    assert [r.seq for r in fake.requests] == [4, 5]


def test_determinism_across_instances() -> None:
    bodies = []
    for _ in range(2):
        fake = create_app()
        with serve_app(fake) as url, httpx2.Client() as http:
            bodies.append(
                http.post(
                    f"{url}/v1/responses", json={"model": "m", "input": "a b c", "stream": True}
                ).content
            )
    assert bodies[0] == bodies[1]


def test_route_table() -> None:
    assert route("/v1/chat/completions", "/v1/chat/completions") == ("openai.chat", None)
    assert route("/serving-endpoints/chat/completions", "/serving-endpoints/chat/completions") == (
        "openai.chat",
        None,
    )
    assert route("/openai/deployments/d1/embeddings", "/openai/deployments/d1/embeddings") == (
        "azure_openai.embeddings",
        "d1",
    )
    assert route("/openai/responses", "/openai/responses") == ("azure_openai.responses", None)
    assert route("/anthropic/v1/messages", "/anthropic/v1/messages") == ("anthropic.messages", None)
    assert route("/model/x:1/converse", "/model/x%3A1/converse") == ("bedrock.converse", "x:1")
    assert route("/v1/models", "/v1/models") == ("unknown", None)


# ---------------------------------------------------------------------------------------------- event stream codec


def test_eventstream_round_trip_and_crc_check() -> None:
    msgs = [
        es.encode_event("messageStart", {"role": "assistant"}),
        es.encode_message([("a", "é")], b"\x00\x01"),
    ]
    decoded = es.decode_messages(b"".join(msgs))
    assert decoded[0] == (
        {":event-type": "messageStart", ":content-type": "application/json", ":message-type": "event"},
        b'{"role":"assistant"}',
    )
    assert decoded[1] == ({"a": "é"}, b"\x00\x01")
    chunk = es.encode_message_raw(es.event_headers("chunk"), es.chunk_payload(b'{"x":1}'))
    assert list(es.iter_invoke_chunks(chunk)) == [{"x": 1}]
    assert orjson.loads(es.decode_messages(chunk)[0][1])["bytes"] == base64.b64encode(b'{"x":1}').decode()
    broken = bytearray(msgs[0])
    broken[20] ^= 1
    with pytest.raises(Exception, match="Checksum"):
        es.decode_messages(bytes(broken))


# ---------------------------------------------------------------------------------------------- serve_app


def test_serve_app_is_quick_and_stops_with_a_hung_request(fake: FakeUpstream) -> None:
    t0 = time.perf_counter()
    with serve(fake, grace=0.05) as handle:
        started = time.perf_counter()
        sock = socket.create_connection((handle.host, handle.port))
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-fake-hang: 1\r\ncontent-type: application/json\r\n"
            b"content-length: 2\r\n\r\n{}"
        )
        fake.wait_for(lambda r: r.endpoint == "openai.chat")
        stop_at = time.perf_counter()
    stopped = time.perf_counter()
    sock.close()
    assert started - t0 < 1.0
    assert stopped - stop_at < 1.0


def test_serve_app_reports_startup_failure() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "boom"})

    with pytest.raises(RuntimeError, match="failed to start"), serve_app(broken, lifespan="on"):
        pass

    async def broken_shutdown(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "boom"})

    with pytest.raises(RuntimeError, match="shut down"), serve_app(broken_shutdown, lifespan="on"):
        pass


async def test_serve_app_from_async_test(fake: FakeUpstream) -> None:
    # the server runs its own loop in a thread, so async tests can use it with real sockets
    with serve_app(fake) as url:
        async with httpx2.AsyncClient() as http:
            r = await http.post(f"{url}/v1/embeddings", json={"model": "e", "input": "x"})
    assert r.status_code == 200
    await asyncio.sleep(0)


def test_cli_serves() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.upstream", "--port", "0", "--latency-ms", "0"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("fake upstream listening on http://127.0.0.1:"), line
        base = line.split()[4]
        with httpx2.Client(base_url=base) as http:
            r = http.post("/v1/embeddings", json={"model": "e", "input": "x"})
            assert r.status_code == 200
            assert http.get("/_fake/stats").json()["total"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def test_recorded_request_helpers() -> None:
    rec = RecordedRequest(1, "POST", "/p", "/p", "", [("a", "1"), ("a", "2")], b'{"k": 1}')
    assert rec.header("A") == "1" and rec.header_values("a") == ["1", "2"] and rec.json() == {"k": 1}
    cfg = FakeConfig(latency_ms=3, azure_deployment_models={"d": "m"})
    assert FakeConfig.from_json(cfg.to_json()) == cfg
