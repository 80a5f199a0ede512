"""``client.ingest``: what goes on the wire for ``units`` and ``bulk``, and how the answers parse."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from payi.types import BulkIngestResponse, IngestResponse

from .wire import TS, XPROXY_RESULT, Api

INGEST_RESPONSE = {
    "event_timestamp": TS,
    "ingest_timestamp": TS,
    "request_id": "5673977",
    "xproxy_result": XPROXY_RESULT,
}
BULK_RESPONSE = {"ingest_count": 2, "ingest_timestamp": TS, "request_id": "r2"}


def test_units_minimal(api: Api) -> None:
    api.recorder.json(INGEST_RESPONSE)
    result = api.call(
        lambda c: c.ingest.units(category="system.openai", units={"text": {"input": 5, "output": 7}})
    )

    request = api.recorder.last
    assert request.method == "POST"
    assert request.url.raw_path == b"/api/v1/ingest"
    assert api.recorder.body() == {"category": "system.openai", "units": {"text": {"input": 5, "output": 7}}}
    assert not any(
        name.lower().startswith("xproxy-") and name.lower() != "xproxy-api-key" for name in request.headers
    )
    assert isinstance(result, IngestResponse)
    assert result.xproxy_result.cost is not None and result.xproxy_result.cost.total is not None
    assert result.xproxy_result.cost.total.base == pytest.approx(0.0001375)
    assert result.xproxy_result.limits is not None and result.xproxy_result.limits["2579"].state == "ok"


def test_units_attribution_goes_in_headers(api: Api) -> None:
    api.recorder.json(INGEST_RESPONSE)
    api.call(
        lambda c: c.ingest.units(
            category="system.anthropic",
            units={"text": {"input": 1}},
            limit_ids=[" l1 ", "", "l2"],
            use_case_id="uc-1",
            use_case_name="support-bot",
            use_case_step="triage",
            use_case_version=3,
            user_id="u1",
            resource_scope="datazone.us",
            account_name="acme",
            disable_logging=True,
            request_tags=["ignored"],
        )
    )
    headers = api.recorder.last.headers
    assert headers["xProxy-Limit-IDs"] == "l1,l2"
    assert headers["xProxy-UseCase-ID"] == "uc-1"
    assert headers["xProxy-UseCase-Name"] == "support-bot"
    assert headers["xProxy-UseCase-Step"] == "triage"
    assert headers["xProxy-UseCase-Version"] == "3"
    assert headers["xProxy-User-ID"] == "u1"
    assert headers["xProxy-Resource-Scope"] == "datazone.us"
    assert headers["xProxy-Account-Name"] == "acme"
    assert headers["xProxy-Logging-Disable"] == "True"
    assert "xProxy-Request-Tags" not in headers
    assert set(api.recorder.body()) == {"category", "units"}


def test_units_none_and_empty_attribution_send_nothing(api: Api) -> None:
    api.recorder.json(INGEST_RESPONSE)
    api.call(
        lambda c: c.ingest.units(
            category="c",
            units={},
            limit_ids=["  ", ""],
            use_case_id=None,
            use_case_name=None,
            use_case_version=None,
            user_id=None,
            account_name=None,
            resource_scope=None,
            disable_logging=None,
        )
    )
    assert not any(
        name.lower().startswith("xproxy-") and name.lower() != "xproxy-api-key"
        for name in api.recorder.last.headers
    )


def test_units_limit_ids_must_be_a_list(api: Api) -> None:
    with pytest.raises(TypeError, match="limit_ids must be a list"):
        api.call(lambda c: c.ingest.units(category="c", units={}, limit_ids="l1"))
    assert api.recorder.requests == []


def test_units_body_fields(api: Api) -> None:
    api.recorder.json(INGEST_RESPONSE)
    when = datetime(2025, 5, 1, 16, 39, 38, 999504, tzinfo=UTC)
    api.call(
        lambda c: c.ingest.units(
            category="system.aws.bedrock",
            resource="anthropic.claude-3-haiku-20240307-v1:0",
            units={"text": {"input": 50, "output": 100}, "text_cache_read": 7},
            event_timestamp=when,
            end_to_end_latency_ms=1200,
            time_to_first_token_ms=80,
            time_to_first_completion_token_ms=90,
            http_status_code=200,
            properties={"team": "search", "n": 5, "gone": None},  # type: ignore[dict-item]
            use_case_properties={"tier": "gold"},
            provider_request_headers=({"name": "x-a", "value": "1"} for _ in range(1)),
            provider_response_headers=[{"name": "x-b", "value": None}],
            provider_request_json='{"model":"m"}',
            provider_request_reasoning_json=None,
            provider_response_json=("chunk1", "chunk2"),
            provider_response_id="msg_1",
            provider_response_function_calls=[{"name": "f", "arguments": "{}"}],
            provider_uri="https://bedrock-runtime.us-west-2.amazonaws.com",
        )
    )
    assert api.recorder.body() == {
        "category": "system.aws.bedrock",
        "resource": "anthropic.claude-3-haiku-20240307-v1:0",
        "units": {"text": {"input": 50, "output": 100}, "text_cache_read": 7},
        "event_timestamp": "2025-05-01T16:39:38.999504+00:00",
        "end_to_end_latency_ms": 1200,
        "time_to_first_token_ms": 80,
        "time_to_first_completion_token_ms": 90,
        "http_status_code": 200,
        "properties": {"team": "search", "n": "5", "gone": None},
        "use_case_properties": {"tier": "gold"},
        "provider_request_headers": [{"name": "x-a", "value": "1"}],
        "provider_response_headers": [{"name": "x-b", "value": None}],
        "provider_request_json": '{"model":"m"}',
        "provider_request_reasoning_json": None,
        "provider_response_json": ["chunk1", "chunk2"],
        "provider_response_id": "msg_1",
        "provider_response_function_calls": [{"name": "f", "arguments": "{}"}],
        "provider_uri": "https://bedrock-runtime.us-west-2.amazonaws.com",
    }


def test_units_provider_response_id_query_and_extras(api: Api) -> None:
    api.recorder.json(INGEST_RESPONSE)
    api.call(
        lambda c: c.ingest.units(
            category="system.openai",
            units={"text": {"input": 1}},
            user_id="u1",
            extra_query={"id": "chatcmpl-1"},
            extra_headers={"xProxy-Instrumented-Module": "openai/1.99.0", "xProxy-User-ID": "override"},
            extra_body={"disable_logging": True},
        )
    )
    request = api.recorder.last
    assert request.url.params["id"] == "chatcmpl-1"
    assert request.headers["xProxy-Instrumented-Module"] == "openai/1.99.0"
    assert request.headers["xProxy-User-ID"] == "override"
    assert api.recorder.body()["disable_logging"] is True


def test_bulk_sends_a_bare_array(api: Api) -> None:
    api.recorder.json(BULK_RESPONSE)
    events = [
        {
            "category": "system.openai",
            "resource": "gpt-4o",
            "units": {"text": {"input": 1}},
            "limit_ids": ["l1"],
        },
        {
            "category": "system.anthropic",
            "units": {},
            "scope": "global",
            "event_timestamp": datetime(2025, 1, 1, tzinfo=UTC),
        },
    ]
    result = api.call(lambda c: c.ingest.bulk(events=iter(events)))
    request = api.recorder.last
    assert request.method == "POST"
    assert request.url.raw_path == b"/api/v1/ingest/bulk"
    assert api.recorder.body() == [
        events[0],
        {
            "category": "system.anthropic",
            "units": {},
            "scope": "global",
            "event_timestamp": "2025-01-01T00:00:00+00:00",
        },
    ]
    assert isinstance(result, BulkIngestResponse)
    assert result.ingest_count == 2


@pytest.mark.parametrize("events", [[], None, "omitted"])
def test_bulk_without_events_sends_no_body(api: Api, events: object) -> None:
    api.recorder.json(BULK_RESPONSE)
    if events == "omitted":
        api.call(lambda c: c.ingest.bulk())
    else:
        api.call(lambda c: c.ingest.bulk(events=events))
    request = api.recorder.last
    assert request.content == b""
    assert request.headers["Content-Type"] == "application/json"


def test_bulk_item_errors_parse(api: Api) -> None:
    api.recorder.json(
        {
            **BULK_RESPONSE,
            "error_count": 1,
            "errors": [
                {
                    "item_index": 1,
                    "xproxy_result": {
                        "statusCode": 400,
                        "message": "Bad Request",
                        "xproxy_error": {"code": "category_not_found"},
                    },
                }
            ],
        }
    )
    result = api.call(lambda c: c.ingest.bulk(events=[{"category": "x", "units": {}}]))
    assert result.errors[0].xproxy_result.status_code == 400
    assert result.errors[0].xproxy_result.xproxy_error.code == "category_not_found"
