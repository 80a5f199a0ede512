"""What a proxied call leaves behind says what happened: the upstream latency histogram gets its sample, and a
Bedrock ``converse_stream`` call is recorded with the ``x-amzn-RequestId`` its response carried (as the JSON
calls are). The Bedrock guide's code (``docs/bedrock.md``) runs as written and keeps SigV4 valid."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.fakes.config import FakeConfig

from .conftest import ProxyEnv
from .test_proxy_providers import BEDROCK_HAIKU, _bedrock

MESSAGES = [{"role": "user", "content": "alpha beta gamma"}]


def _count(metrics: str, category: str) -> float:
    found = re.search(rf'^payi_upstream_seconds_count\{{category="{re.escape(category)}"\}} (\S+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


def test_every_proxied_call_is_a_sample_of_payi_upstream_seconds(proxy_env: ProxyEnv) -> None:
    headers = {"xProxy-api-key": proxy_env.key}
    with httpx2.Client(timeout=10) as client:
        for stream in (False, True):
            answer = client.post(proxy_env.url("openai/v1/chat/completions"), headers=headers,
                                 json={"model": "gpt-4o-mini", "messages": MESSAGES, "stream": stream})
            assert answer.status_code == 200, answer.text
        answer = client.post(proxy_env.url("anthropic/v1/messages"), headers={**headers, "anthropic-version": "2023-06-01"},
                             json={"model": "claude-3-5-haiku-20241022", "max_tokens": 5, "messages": MESSAGES})
        assert answer.status_code == 200, answer.text
        metrics = client.get(f"{proxy_env.live.url}/metrics").text
    assert _count(metrics, "system.openai") == 2, metrics
    assert _count(metrics, "system.anthropic") == 1, metrics
    assert re.search(r'^payi_upstream_seconds_sum\{category="system.openai"\} (?!0\.0$)\S+$', metrics, re.M)


@pytest.mark.parametrize("fake_config", [FakeConfig(stream_chunks=3, verify_sigv4=True)])
def test_bedrock_streams_record_the_aws_request_id(proxy_env: ProxyEnv) -> None:
    client = _bedrock(proxy_env)
    messages = [{"role": "user", "content": [{"text": "alpha beta"}]}]
    client.converse(modelId=BEDROCK_HAIKU, messages=messages)
    streamed = client.converse_stream(modelId=BEDROCK_HAIKU, messages=messages)
    stream_id = streamed["ResponseMetadata"]["RequestId"]
    assert list(streamed["stream"])
    body = '{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}'
    invoked = client.invoke_model_with_response_stream(modelId=BEDROCK_HAIKU, body=body)
    invoke_id = invoked["ResponseMetadata"]["RequestId"]
    assert list(invoked["body"])
    rows = proxy_env.recorded(3)
    assert [r["provider_response_id"] for r in rows[1:]] == [stream_id, invoke_id]
    assert rows[0]["provider_response_id"]  # the JSON call, as before


def _guide_client_factory() -> Any:
    """The function docs/bedrock.md shows, exactly as written there."""
    text = (Path(__file__).resolve().parents[3] / "docs" / "bedrock.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code, "docs/bedrock.md shows no code"
    scope: dict[str, Any] = {}
    exec(compile(code.group(1), "docs/bedrock.md", "exec"), scope)  # noqa: S102 - our own documentation
    return scope["bedrock_through_payi"]


@pytest.mark.parametrize("fake_config", [FakeConfig(stream_chunks=3, verify_sigv4=True)])
def test_the_bedrock_guide_keeps_sigv4_valid(proxy_env: ProxyEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("AWS_ACCESS_KEY_ID", "AKIDFAKE"), ("AWS_SECRET_ACCESS_KEY", "fake-secret")):
        monkeypatch.setenv(name, value)
    client = _guide_client_factory()(proxy_env.live.url, proxy_env.key, endpoint_url=proxy_env.fake_url)
    messages = [{"role": "user", "content": [{"text": "alpha beta"}]}]
    answer = client.converse(modelId=BEDROCK_HAIKU, messages=messages)
    assert answer["usage"]["inputTokens"] > 0
    assert proxy_env.fake.last("bedrock.converse").sigv4_valid is True
    assert list(client.converse_stream(modelId=BEDROCK_HAIKU, messages=messages)["stream"])
    assert proxy_env.fake.last("bedrock.converse_stream").sigv4_valid is True
    rows = proxy_env.recorded(2)
    assert len(rows) == 2 and all(r["cost_total"] > 0 and r["provider_response_id"] for r in rows)


@pytest.mark.parametrize("fake_config", [FakeConfig(stream_chunks=3, verify_sigv4=True)])
def test_signing_for_the_proxy_url_fails_as_the_guide_says(proxy_env: ProxyEnv) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=proxy_env.url("aws.bedrock"),
                          aws_access_key_id="AKIDFAKE", aws_secret_access_key="fake-secret",
                          config=Config(retries={"max_attempts": 1}))

    def pay_i_headers(request: Any, **_: Any) -> None:
        request.headers["xProxy-Api-Key"] = proxy_env.key
        request.headers["xProxy-Provider-BaseUri"] = proxy_env.fake_url

    client.meta.events.register_last("before-send.bedrock-runtime", pay_i_headers)
    with pytest.raises(ClientError) as info:
        client.converse(modelId=BEDROCK_HAIKU, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert proxy_env.fake.last("bedrock.converse").sigv4_valid is False
