"""The OpenAI proxy route driven by the real openai client, sync and async, streaming and not."""

from __future__ import annotations

import time
from typing import Any

import httpx2
import openai
import orjson
import pytest

from tests.fakes.config import FakeConfig

from .conftest import ProxyEnv

MESSAGES = [{"role": "user", "content": "one two three four five six seven eight nine ten"}]


def _client(env: ProxyEnv, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-upstream-secret-value-1234567890",
        base_url=env.url("openai") + "/v1",
        default_headers={"xProxy-Api-Key": env.key, **headers},
    )


def test_chat_completion_gets_xproxy_result(proxy_env: ProxyEnv) -> None:
    client = _client(proxy_env, **{"xProxy-User-ID": "u-1", "xProxy-UseCase-Name": "chat"})
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=20)
    assert completion.choices[0].message.content
    result: dict[str, Any] = completion.model_extra["xproxy_result"]
    usage = completion.usage
    assert usage is not None
    # gpt-4o-mini: $0.15 / $0.60 per million
    expected_in = usage.prompt_tokens * 0.15e-6
    expected_out = usage.completion_tokens * 0.6e-6
    assert result["cost"]["input"]["base"] == pytest.approx(expected_in)
    assert result["cost"]["output"]["base"] == pytest.approx(expected_out)
    assert result["user_id"] == "u-1" and result["use_case_name"] == "chat"
    upstream = proxy_env.fake.last("openai.chat")
    assert upstream.header("authorization") == "Bearer sk-upstream-secret-value-1234567890"
    assert not any(name.startswith("xproxy-") for name, _ in upstream.headers)
    rows = proxy_env.recorded(1)
    assert rows[0]["source"] == "proxy" and rows[0]["user_id"] == "u-1"
    assert rows[0]["provider_response_id"] == completion.id
    assert rows[0]["units"]["text"]["input"] == usage.prompt_tokens


def test_stream_without_include_usage_hides_the_usage_chunk(proxy_env: ProxyEnv) -> None:
    client = _client(proxy_env)
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, max_tokens=20))
    # every chunk the client sees has a choice (quickstart code indexes choices[0])
    assert all(chunk.choices for chunk in chunks)
    carriers = [c for c in chunks if c.model_extra and "xproxy_result" in c.model_extra]
    assert len(carriers) == 1
    assert carriers[0].choices[0].finish_reason is not None
    # the proxy asked upstream for usage
    assert proxy_env.fake.last("openai.chat").json()["stream_options"] == {"include_usage": True}
    streamed = carriers[0].model_extra["xproxy_result"]["cost"]
    whole = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=20)
    assert whole.model_extra["xproxy_result"]["cost"] == streamed
    rows = proxy_env.recorded(2)
    assert rows[0]["units"] == rows[1]["units"] and rows[0]["cost_total"] == rows[1]["cost_total"]


@pytest.mark.parametrize(
    "fake_config",
    [FakeConfig(stream_chunks=4), FakeConfig(stream_chunks=4, chunk_delay_ms=150)],
    ids=["in-one-piece", "chunk-by-chunk"],
)
def test_a_stream_is_forwarded_as_it_comes_and_ends_whole(proxy_env: ProxyEnv, fake_config: FakeConfig) -> None:
    """A stream that arrives in one piece is forwarded with its end in one message (the route's shortcut); one that
    arrives chunk by chunk is forwarded chunk by chunk: the first content reaches the client while the provider is
    still sending. Either way the client gets every chunk, the result and ``[DONE]``, and the call is recorded."""
    client = _client(proxy_env)
    started = time.monotonic()
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, max_tokens=20)
    arrivals, chunks = [], []
    for chunk in stream:
        arrivals.append(time.monotonic() - started)
        chunks.append(chunk)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    whole = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=20)
    assert text == whole.choices[0].message.content
    carriers = [c for c in chunks if c.model_extra and "xproxy_result" in c.model_extra]
    assert len(carriers) == 1 and carriers[0].model_extra["xproxy_result"]["cost"]["total"]["base"] > 0
    if fake_config.chunk_delay_ms:
        # four chunks 150 ms apart: the first is forwarded at least 300 ms before the last
        assert arrivals[-1] - arrivals[0] >= 0.3
    rows = proxy_env.recorded(2)
    assert rows[0]["units"] == rows[1]["units"] and rows[0]["http_status_code"] == 200


def test_stream_with_include_usage_carries_result_in_usage_chunk(proxy_env: ProxyEnv) -> None:
    client = _client(proxy_env)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    last = chunks[-1]
    assert last.usage is not None and not last.choices
    assert "xproxy_result" in last.model_extra


async def test_async_client_streams_and_records(proxy_env: ProxyEnv) -> None:
    client = openai.AsyncOpenAI(
        api_key="sk-x", base_url=proxy_env.url("openai") + "/v1", default_headers={"xProxy-Api-Key": proxy_env.key}
    )
    stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    seen = [chunk async for chunk in stream]
    assert any(c.model_extra and "xproxy_result" in c.model_extra for c in seen)
    response = await client.responses.create(model="gpt-4o", input="hello there")
    assert "xproxy_result" in response.model_extra
    events = [e async for e in await client.responses.create(model="gpt-4o", input="hello there", stream=True)]
    completed = [e for e in events if e.type == "response.completed"]
    assert completed and "xproxy_result" in completed[0].model_extra
    assert completed[0].model_extra["xproxy_result"]["cost"] == response.model_extra["xproxy_result"]["cost"]
    embedding = await client.embeddings.create(model="text-embedding-3-small", input="hello")
    assert embedding.model_extra["xproxy_result"]["cost"]["input"]["base"] > 0
    await client.close()


def test_provider_errors_pass_through_and_are_recorded_failed(proxy_env: ProxyEnv) -> None:
    client = _client(proxy_env, **{"x-fake-status": "429"})
    with pytest.raises(openai.RateLimitError) as info:
        client.with_options(max_retries=0).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert info.value.status_code == 429
    rows = proxy_env.recorded(1)
    assert rows[0]["failed"] is True and rows[0]["http_status_code"] == 429


def test_bad_proxy_requests(proxy_env: ProxyEnv) -> None:
    base = proxy_env.url("openai") + "/v1/chat/completions"
    body = {"model": "gpt-4o", "messages": MESSAGES}
    no_key = httpx2.post(base, json=body)
    assert no_key.status_code == 401 and no_key.json()["xproxy_error"]["code"] == "invalid_api_key"
    headers = {"xProxy-Api-Key": proxy_env.key}
    cases = [
        ({"xProxy-Provider-BaseUri": "ftp://example.com"}, "invalid_provider_uri"),
        ({"xProxy-Provider-BaseUri": "https://evil.example.com"}, "invalid_provider_host"),
        ({"xProxy-Limit-IDs": "does-not-exist"}, "invalid_limit_ids"),
    ]
    for extra, code in cases:
        response = httpx2.post(base, json=body, headers={**headers, **extra})
        assert response.status_code == 400, (extra, response.text)
        assert response.json()["xproxy_error"]["code"] == code
    unknown = httpx2.post(proxy_env.url("nope") + "/x", json=body, headers=headers)
    assert unknown.status_code == 404
    assert proxy_env.fake.total == 0


def test_forwarded_headers_cannot_set_host_framing_or_xproxy(proxy_env: ProxyEnv) -> None:
    response = httpx2.post(
        proxy_env.url("openai") + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES},
        headers={
            "xProxy-Api-Key": proxy_env.key,
            "xProxy-Forward-Host": "internal.example",
            "xProxy-Forward-Transfer-Encoding": "chunked",
            "xProxy-Forward-Content-Length": "1",
            "xProxy-Forward-xProxy-Api-Key": "smuggled",
            "xProxy-Forward-OpenAI-Organization": "org-123",
        },
    )
    assert response.status_code == 200
    upstream = proxy_env.fake.last("openai.chat")
    names = [name for name, _ in upstream.headers]
    assert upstream.header("host", ).startswith("127.0.0.1")  # type: ignore[union-attr]
    assert names.count("host") == 1 and "transfer-encoding" not in names
    assert upstream.header("openai-organization") == "org-123"
    assert not any(name.startswith("xproxy") for name in names)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_the_client_gets_the_providers_headers_but_not_its_framing(proxy_env: ProxyEnv, stream: bool) -> None:
    """The provider's own headers reach the client as sent (names lower-cased); its framing, date and server do
    not: the answer has one of each, ours, and a Content-Length that fits the body the proxy changed."""
    response = httpx2.post(
        proxy_env.url("openai") + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES, "stream": stream},
        headers={"xProxy-Api-Key": proxy_env.key},
    )
    assert response.status_code == 200
    names = [name.decode() for name, _ in response.headers.raw]
    assert response.headers["openai-version"] == "2020-10-01"
    assert response.headers["openai-organization"] == "fake-org"
    assert response.headers["openai-processing-ms"] == "1"
    for name in ("date", "server", "content-type", "x-request-id", "xproxy-request-id"):
        assert names.count(name) <= 1, names
    if stream:
        assert "content-length" not in names and names.count("transfer-encoding") == 1
        assert b"xproxy_result" in response.content
    else:
        assert names.count("content-length") == 1 and "transfer-encoding" not in names
        assert int(response.headers["content-length"]) == len(response.content)
        assert "xproxy_result" in response.json()


def test_the_providers_request_id_reaches_the_openai_client_unchanged(proxy_env: ProxyEnv) -> None:
    """The provider's ``x-request-id`` is the call's id to the OpenAI SDK (``_request_id``); ours, the id in our
    logs, comes as ``xproxy-request-id``. A provider that sends none gets ours as ``x-request-id``."""
    client = _client(proxy_env)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=5)
    provider_id = proxy_env.fake.last("openai.chat")
    assert raw.headers.get_list("x-request-id") == [raw.parse()._request_id]
    assert raw.parse()._request_id.startswith("req_")
    ours = raw.headers.get_list("xproxy-request-id")
    assert len(ours) == 1 and len(ours[0]) == 32 and provider_id is not None
    anthropic = httpx2.post(
        proxy_env.url("anthropic") + "/v1/messages",
        json={"model": "claude-3-5-haiku-latest", "max_tokens": 5, "messages": MESSAGES},
        headers={"xProxy-Api-Key": proxy_env.key, "x-api-key": "sk-ant", "anthropic-version": "2023-06-01"},
    )
    assert anthropic.status_code == 200, anthropic.text
    assert len(anthropic.headers.get_list("x-request-id")) == 1 and "xproxy-request-id" not in anthropic.headers
    assert anthropic.headers["request-id"].startswith("req_")  # Anthropic's own id, passed on


def test_the_provider_gets_the_clients_headers_and_no_client_defaults_of_ours(proxy_env: ProxyEnv) -> None:
    """The HTTP client that calls the provider adds no User-Agent, Content-Type or Accept-Encoding of its own (an
    ``Accept: */*`` only when the caller sent none, as any HTTP client does); what the caller sent goes as sent."""
    import http.client
    from urllib.parse import urlsplit

    target = urlsplit(proxy_env.url("openai") + "/v1/chat/completions")
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": MESSAGES})
    sent = [
        # the standard library's client sends no User-Agent, Accept or Content-Type unless told to
        {"xProxy-Api-Key": proxy_env.key},
        {"xProxy-Api-Key": proxy_env.key, "User-Agent": "OpenAI/Python 9.9", "Accept": "application/json",
         "Content-Type": "application/json", "Accept-Encoding": "gzip"},
    ]
    seen = []
    for headers in sent:
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        try:
            connection.request("POST", target.path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 200
        finally:
            connection.close()
        seen.append(proxy_env.fake.last("openai.chat"))
    bare, full = seen
    assert bare.header("user-agent") is None and bare.header("content-type") is None
    assert bare.header("accept") == "*/*"
    assert bare.header_values("accept-encoding") == ["identity"]
    assert full.header("user-agent") == "OpenAI/Python 9.9"
    assert full.header_values("accept") == ["application/json"]
    assert full.header_values("content-type") == ["application/json"]
    assert full.header_values("accept-encoding") == ["identity"]  # the proxy reads the answer itself
