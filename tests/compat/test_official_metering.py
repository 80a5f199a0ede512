"""Ingest, categories and requests endpoints through the official ``payi`` SDK in strict response-validation
mode, against our live server (SQLite and PostgreSQL), checking the returned costs."""

from __future__ import annotations

import pytest

from ..conftest import Live
from .official import run_official


def test_ingest_units_and_bulk(live: Live) -> None:
    r = run_official(
        live,
        """
        out = {}
        one = client.ingest.units(
            category="system.aws.bedrock", resource="anthropic.claude-3-haiku-20240307-v1:0",
            units={"text": {"input": 50, "output": 100}},
            user_id="u-1", account_name="acme", use_case_name="summarise", use_case_step="draft",
            properties={"team": "search"}, provider_response_id="resp-official-1",
        )
        out["one"] = dump(one)
        again = client.ingest.units(
            category="system.aws.bedrock", resource="anthropic.claude-3-haiku-20240307-v1:0",
            units={"text": {"input": 50, "output": 100}}, provider_response_id="resp-official-1",
        )
        out["again"] = dump(again)
        odd = client.ingest.units(category="system.openai", resource="gpt-4o", units={"text": {}, "foo": {}})
        out["odd"] = dump(odd)
        unknown = client.ingest.units(category="system.openai", resource="no-such-model", units={"text": {"input": 5}})
        out["unknown"] = dump(unknown)
        out["bulk"] = dump(client.ingest.bulk(events=[
            {"category": "system.openai", "resource": "gpt-4o-mini", "units": {"text": {"input": 1000, "output": 1000}},
             "user_id": "u-2", "limit_ids": []},
            {"category": "system.openai", "resource": "gpt-4o-mini", "units": {"text": {"input": -1}}},
        ]))
        out["empty_bulk"] = dump(client.ingest.bulk(events=[]))
        out["future"] = attempt(
            client.ingest.units, category="system.openai", resource="gpt-4o", units={"text": {"input": 1}},
            event_timestamp="2099-01-01T00:00:00Z",
        )
        result = out
        """,
    )
    one = r["one"]
    assert one["request_id"] == one["xproxy_result"]["request_id"]
    cost = one["xproxy_result"]["cost"]
    assert (cost["currency"], cost["input"]["base"], cost["output"]["base"], cost["total"]["base"]) == (
        "usd", 1.25e-05, 0.000125, 0.0001375,
    )
    assert one["xproxy_result"]["user_id"] == "u-1" and one["xproxy_result"]["use_case_name"] == "summarise"
    assert r["again"]["xproxy_result"]["duplicate_request"] is True
    assert r["again"]["request_id"] == one["request_id"]
    assert r["odd"]["xproxy_result"]["cost"]["total"]["base"] == 0
    assert r["unknown"]["xproxy_result"]["unknown_units"]["text"]["input"] == 5
    bulk = r["bulk"]
    assert (bulk["ingest_count"], bulk["error_count"], bulk["total_count"]) == (1, 1, 2)
    assert bulk["errors"][0]["item_index"] == 1
    assert r["empty_bulk"]["ingest_count"] == 0
    assert r["future"]["status"] == 400
    assert r["future"]["body"]["xproxy_error"]["code"] == "invalid_ingest_event_timestamp"


def test_requests_endpoints(live: Live) -> None:
    r = run_official(
        live,
        """
        out = {}
        ingested = client.ingest.units(
            category="system.openai", resource="gpt-4o-mini", units={"text": {"input": 1000, "output": 1000}},
            provider_response_id="chatcmpl-xyz/1",
        )
        rid = ingested.request_id
        out["by_id"] = dump(client.requests.request_id.result.retrieve(rid))
        out["props"] = dump(client.requests.request_id.properties.update(rid, properties={"a": "1", "b": "2"}))
        out["by_response"] = dump(
            client.requests.response_id.result.retrieve("chatcmpl-xyz/1", category="system.openai")
        )
        out["props2"] = dump(
            client.requests.response_id.properties.update(
                "chatcmpl-xyz/1", category="system.openai", properties={"a": None}
            )
        )
        out["missing"] = attempt(client.requests.request_id.result.retrieve, "123")
        out["rid"] = rid
        result = out
        """,
    )
    total = 1000 * 0.15e-6 + 1000 * 0.6e-6
    assert r["by_id"]["xproxy_result"]["cost"]["total"]["base"] == pytest.approx(total)
    assert r["by_response"]["xproxy_result"]["request_id"] == r["rid"]
    assert r["props"]["request_id"] == r["rid"] and r["props2"]["request_id"] == r["rid"]
    assert r["missing"]["status"] == 404


def test_categories_endpoints(live: Live) -> None:
    r = run_official(
        live,
        """
        out = {}
        out["list"] = [c.category for c in client.categories.list()]
        out["active"] = [c.category for c in client.categories.list(active=True)]
        out["openai_resources"] = len(list(client.categories.list_resources("system.openai", limit=50)))
        created = client.categories.resources.create(
            "gpt-4o", category="acme.negotiated",
            units={"text": {"input_price": 0.000001, "output_price": 0.000002}},
            max_input_units=128000, start_timestamp="2024-01-01T00:00:00Z",
        )
        out["created"] = dump(created)
        newer = client.categories.resources.create(
            "gpt-4o", category="acme.negotiated",
            units={"text": {"input_price": 0.0000005, "output_price": 0.000001}},
        )
        out["versions"] = [v.resource_id for v in client.categories.resources.list("gpt-4o", category="acme.negotiated")]
        out["retrieved"] = dump(
            client.categories.resources.retrieve(created.resource_id, category="acme.negotiated", resource="gpt-4o")
        )
        out["managed"] = dump(client.categories.resources.list("gpt-4o-mini", category="system.openai").items[0])
        out["deleted_version"] = dump(
            client.categories.resources.delete(newer.resource_id, category="acme.negotiated", resource="gpt-4o")
        )
        out["deleted_resource"] = dump(client.categories.delete_resource("gpt-4o", category="acme.negotiated"))
        client.categories.resources.create(
            "other", category="acme.negotiated", units={"text": {"input_price": 0.1, "output_price": 0.2}},
        )
        out["deleted_category"] = dump(client.categories.delete("acme.negotiated"))
        result = out
        """,
        api_key=live.org_key,
    )
    assert "system.openai" in r["list"] and "system.anthropic" in r["active"]
    assert r["openai_resources"] > 50  # paged through transparently
    created = r["created"]
    assert created["category"] == "acme.negotiated" and created["resource"] == "gpt-4o"
    assert created["units"]["text"] == {"input_price": 1e-06, "output_price": 2e-06}
    assert created["max_input_units"] == 128000
    assert len(r["versions"]) == 2 and r["versions"][0] == created["resource_id"]
    assert r["retrieved"]["resource_id"] == created["resource_id"]
    assert r["managed"]["units"]["text"]["input_price"] == 1.5e-07
    assert r["deleted_version"]["active"] is False
    assert [v["active"] for v in r["deleted_resource"]] == [False]
    assert [v["resource"] for v in r["deleted_category"]] == ["other"]
