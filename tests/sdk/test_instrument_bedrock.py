"""``payi_instrument`` with boto3 ``bedrock-runtime`` against the fake upstream (SigV4 verified) and our server.

Proxy mode redirects the signed request through Pay-i (the fake checks the signature); ingest mode must record
what proxy mode records for the same four calls.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from payi.lib.instrument import payi_flush, track_context

from .instrument_env import BEDROCK_HAIKU, MESSAGES, InstrumentEnv, fake_config, ienv

__all__ = ["fake_config", "ienv"]

BODY = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20, "messages": MESSAGES})
CONVERSE_MESSAGES = [{"role": "user", "content": [{"text": "alpha beta gamma"}]}]


def _four_calls(client: Any) -> dict[str, Any]:
    invoked = client.invoke_model(modelId=BEDROCK_HAIKU, body=BODY)
    invoke_data = json.loads(invoked["body"].read())
    streamed = client.invoke_model_with_response_stream(modelId=BEDROCK_HAIKU, body=BODY)
    chunks = [json.loads(e["chunk"]["bytes"]) for e in streamed["body"] if "chunk" in e]
    converse = client.converse(modelId=BEDROCK_HAIKU, messages=CONVERSE_MESSAGES)
    events = list(client.converse_stream(modelId=BEDROCK_HAIKU, messages=CONVERSE_MESSAGES)["stream"])
    return {"invoke": invoke_data, "chunks": chunks, "converse": converse, "events": events}


def test_ingest_records_what_the_proxy_records(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    client = ienv.bedrock()
    with track_context(use_case_name="bedrock_bot", user_id="u-3"):
        ingested = _four_calls(client)
        assert payi_flush(5)
        with track_context(proxy=True):
            proxied = _four_calls(client)
    assert ingested["invoke"]["content"] == proxied["invoke"]["content"]
    assert "xproxy_result" in proxied["invoke"] and "xproxy_result" not in ingested["invoke"]
    assert ingested["chunks"][-1]["type"] == "message_stop" and any(
        "metadata" in e for e in ingested["events"]
    )
    assert all(r.sigv4_valid for r in ienv.fake.requests)  # the redirect kept every signature valid
    rows = ienv.recorded(8)
    assert [r["source"] for r in rows] == ["ingest"] * 4 + ["proxy"] * 4
    for ingested_row, proxied_row in zip(rows[:4], rows[4:], strict=True):
        for column in (
            "category",
            "resource",
            "units",
            "cost_total",
            "user_id",
            "use_case_name",
            "http_status_code",
        ):
            assert ingested_row[column] == proxied_row[column], column
    invoke, invoke_stream, converse, converse_stream = rows[:4]
    assert invoke["units"] == invoke_stream["units"] and converse["units"] == converse_stream["units"]
    assert all(r["resource"] == BEDROCK_HAIKU and r["category"] == "system.aws.bedrock" for r in rows)
    assert invoke["provider_response_id"].startswith("fa4e0000-")  # the AWS RequestId
    assert invoke["provider_uri"] == ienv.fake_url
    assert all(r["provider_response_id"] for r in rows[:4])
    assert all(r["cost_total"] > 0 for r in rows)


def test_invoke_body_is_readable_in_pieces_and_unread_bodies_still_report(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    client = ienv.bedrock()
    response = client.invoke_model(modelId=BEDROCK_HAIKU, body=BODY)
    first, rest = response["body"].read(5), response["body"].read()
    assert json.loads(first + rest)["usage"]["input_tokens"] > 0
    client.invoke_model(modelId=BEDROCK_HAIKU, body=BODY)  # never read
    streamed = client.converse_stream(modelId=BEDROCK_HAIKU, messages=CONVERSE_MESSAGES)
    next(iter(streamed["stream"]))
    streamed["stream"].close()  # closed after one event: still reported
    assert payi_flush(5)
    rows = ienv.recorded(3)
    assert rows[0]["units"] == rows[1]["units"]
    assert rows[0]["provider_response_id"] == response["ResponseMetadata"]["RequestId"]


def test_proxy_redirect_uses_the_client_key_and_context_headers(ienv: InstrumentEnv) -> None:
    ienv.instrument(
        config={"proxy": True, "use_case_name": "redirected", "request_properties": {"team": "red"}}
    )
    client = ienv.bedrock()
    client.converse(modelId=BEDROCK_HAIKU, messages=CONVERSE_MESSAGES)
    upstream = ienv.fake.last("bedrock.converse")
    assert upstream.sigv4_valid is True
    assert upstream.header("xproxy-api-key") is None  # consumed by Pay-i
    (row,) = ienv.recorded(1)
    assert (
        row["source"] == "proxy"
        and row["use_case_name"] == "redirected"
        and row["properties"]["team"] == "red"
    )


def test_bedrock_error_is_raised_and_recorded(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    client = ienv.bedrock()
    client.meta.events.register(
        "before-sign.bedrock-runtime", lambda request, **_: request.headers.add_header("x-fake-status", "429")
    )
    with pytest.raises(ClientError) as info:
        client.converse(modelId=BEDROCK_HAIKU, messages=CONVERSE_MESSAGES)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert payi_flush(5)
    (row,) = ienv.recorded(1)
    assert row["http_status_code"] == 429 and row["failed"] is True
    assert row["provider_response_id"] == info.value.response["ResponseMetadata"]["RequestId"]


def test_guardrail_properties(ienv: InstrumentEnv) -> None:
    ienv.instrument()
    client = ienv.bedrock()
    client.converse(
        modelId=BEDROCK_HAIKU,
        messages=CONVERSE_MESSAGES,
        guardrailConfig={"guardrailIdentifier": "gr-1", "guardrailVersion": "2"},
    )
    upstream = ienv.fake.last("bedrock.converse").json()
    assert upstream["guardrailConfig"]["trace"] == "enabled"
    assert payi_flush(5)
    (row,) = ienv.recorded(1)
    assert row["properties"]["system.aws.bedrock.guardrail.id"] == "gr-1"
    assert row["properties"]["system.aws.bedrock.guardrail.version"] == "2"
