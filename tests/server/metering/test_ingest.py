"""POST /api/v1/ingest and /ingest/bulk as the official SDK sends them, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from payi_server.store.changes import utcnow
from payi_server.store.tables import (
    limits,
    request_payloads,
    requests,
    rollup_hourly,
    use_case_definitions,
    use_case_instances,
)

from ...conftest import Running

HAIKU = {"category": "system.aws.bedrock", "resource": "anthropic.claude-3-haiku-20240307-v1:0"}


async def _count(running: Running, table: Any) -> int:
    async with running.state.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def _make_limit(running: Running, limit_id: str, maximum: str, limit_type: str = "allow", app_id: int | None = None) -> None:
    now = utcnow()
    async with running.state.db.write() as conn:
        await conn.execute(
            limits.insert().values(
                app_id=app_id or int(running.boot.app["app_id"]),
                limit_id=limit_id,
                name=limit_id,
                limit_type=limit_type,
                max=Decimal(maximum),
                threshold=None,
                enforcement="default",
                created_at=now,
                updated_at=now,
            )
        )


async def _ingest(running: Running, body: dict[str, Any], headers: dict[str, str] | None = None, **kw: Any) -> Any:
    return await running.client.post(
        "/api/v1/ingest", json=body, headers={**running.headers(), **(headers or {})}, **kw
    )


async def test_ingest_with_attribution_headers(running: Running) -> None:
    await _make_limit(running, "budget-1", "1.0")
    props = base64.b64encode(json.dumps({"team": "search"}).encode()).decode()
    response = await _ingest(
        running,
        {**HAIKU, "units": {"text": {"input": 50, "output": 100}}, "provider_response_id": "resp-1"},
        {
            "xProxy-Limit-IDs": " budget-1 , ",
            "xProxy-UseCase-Name": "summarise",
            "xProxy-UseCase-ID": "11111111-2222-3333-4444-555555555555",
            "xProxy-UseCase-Version": "3",
            "xProxy-UseCase-Step": "draft",
            "xProxy-User-ID": "user-7",
            "xProxy-Account-Name": "acme",
            "xProxy-Request-Properties": props,
            "xProxy-UseCase-Properties": '{"doc": "42"}',
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"event_timestamp", "ingest_timestamp", "request_id", "xproxy_result"}
    result = body["xproxy_result"]
    assert result["request_id"] == body["request_id"]
    assert result["cost"] == {
        "currency": "usd",
        "input": {"base": 1.25e-05},
        "output": {"base": 0.000125},
        "total": {"base": 0.0001375},
    }
    assert result["limits"] == {"budget-1": {"state": "ok"}}
    assert result["use_case_id"] == "11111111-2222-3333-4444-555555555555"
    assert result["use_case_name"] == "summarise"
    assert result["use_case_step"] == "draft"
    assert result["user_id"] == "user-7"
    assert result["account_name"] == "acme"
    assert result["duplicate_request"] is False

    async with running.state.db.read() as conn:
        row = (await conn.execute(select(requests))).one()
        assert row.properties == {"team": "search"}
        assert row.use_case_version == 3
        limit = (await conn.execute(select(limits))).one()
        assert limit.spent_total == Decimal("0.0001375")
        assert limit.count_ok == 1 and limit.count_total == 1
        instance = (await conn.execute(select(use_case_instances))).one()
        assert instance.name == "summarise" and instance.properties == {"doc": "42"}
        definition = (await conn.execute(select(use_case_definitions))).one()
        assert definition.implicit is True
        rollup = (await conn.execute(select(rollup_hourly))).one()
        assert rollup.requests == 1 and rollup.cost_total == Decimal("0.0001375")
        assert (rollup.units_input, rollup.units_output) == (50, 100)
        assert rollup.user_id == "user-7" and rollup.use_case_name == "summarise"


async def test_limit_states_progress_to_exceeded_and_overrun(running: Running) -> None:
    await _make_limit(running, "small", "0.0003")
    states = []
    for i in range(3):
        response = await _ingest(
            running, {**HAIKU, "units": {"text": {"input": 50, "output": 100}}}, {"xProxy-Limit-IDs": "small"}
        )
        states.append(response.json()["xproxy_result"]["limits"]["small"]["state"])
    # 0.0001375, 0.000275 (< 0.0003: ok), 0.0004125 (> max: overrun)
    assert states == ["ok", "ok", "overrun"]
    async with running.state.db.read() as conn:
        limit = (await conn.execute(select(limits))).one()
    assert (limit.count_ok, limit.count_overrun, limit.count_total) == (2, 1, 3)
    assert limit.spent_total == Decimal("0.0004125")


async def test_unknown_or_foreign_limit_ids_are_rejected_and_nothing_is_written(running: Running) -> None:
    other, _ = await running.state.tenancy.create_application(running.boot.org_id, "other")
    await _make_limit(running, "theirs", "1", app_id=int(other["app_id"]))
    await _make_limit(running, "mine", "1")
    for ids in ("nope", "mine,nope", "theirs"):
        response = await _ingest(running, {**HAIKU, "units": {"text": {"input": 1}}}, {"xProxy-Limit-IDs": ids})
        assert response.status_code == 400, ids
        assert response.json()["xproxy_error"]["code"] == "invalid_limit_ids"
    assert await _count(running, requests) == 0
    async with running.state.db.read() as conn:
        assert all(r.count_total == 0 for r in (await conn.execute(select(limits))).all())


async def test_same_event_twice_is_recorded_once(running: Running) -> None:
    await _make_limit(running, "budget", "1")
    body = {**HAIKU, "units": {"text": {"input": 50, "output": 100}}, "provider_response_id": "payi_abc"}
    first = await _ingest(running, body, {"xProxy-Limit-IDs": "budget"})
    again = await _ingest(running, body, {"xProxy-Limit-IDs": "budget"}, params={"id": "payi_abc"})
    assert first.status_code == again.status_code == 200
    a, b = first.json()["xproxy_result"], again.json()["xproxy_result"]
    assert b["duplicate_request"] is True
    assert b["request_id"] == a["request_id"]
    assert b["cost"] == a["cost"]
    assert b["limits"] == {"budget": {"state": "ok"}}
    assert await _count(running, requests) == 1
    async with running.state.db.read() as conn:
        limit = (await conn.execute(select(limits))).one()
    assert limit.count_total == 1 and limit.spent_total == Decimal("0.0001375")
    # the id given only as ?id= also deduplicates
    body2 = {**HAIKU, "units": {"text": {"input": 1}}}
    r1 = await _ingest(running, body2, params={"id": "q-1"})
    r2 = await _ingest(running, body2, params={"id": "q-1"})
    assert r2.json()["xproxy_result"]["duplicate_request"] is True
    assert r1.json()["request_id"] == r2.json()["request_id"]


async def test_unit_shapes_the_sdk_sends(running: Running) -> None:
    nova = {"category": "system.aws.bedrock", "resource": "amazon.nova-pro-v1:0"}
    cases = [
        ({"text": {}}, 0.0),
        ({"text": {"input": 1000}}, 0.0008),
        ({"text": {"output": 1000}}, 0.0032),
        ({"text": {"input": 1000, "output": 0}, "text_cache_read": 1000}, 0.0008 + 0.0002),
    ]
    for units, total in cases:
        response = await _ingest(running, {**nova, "units": units})
        assert response.status_code == 200, (units, response.text)
        assert abs(response.json()["xproxy_result"]["cost"]["total"]["base"] - total) < 1e-12, units


async def test_unknown_resource_is_recorded_unpriced_never_zero(running: Running) -> None:
    response = await _ingest(
        running, {"category": "system.openai", "resource": "gpt-unknown-9", "units": {"text": {"input": 10, "output": 5}}}
    )
    assert response.status_code == 200
    result = response.json()["xproxy_result"]
    assert result["unknown_units"] == {"text": {"input": 10, "output": 5}}
    assert "resource_id" not in result
    assert any("no price" in w for w in result["warnings"])
    async with running.state.db.read() as conn:
        row = (await conn.execute(select(requests))).one()
    assert row.unpriced is True
    # a priced resource with an unpriced unit: the priced part counts, the rest is reported
    response = await _ingest(running, {**HAIKU, "units": {"text": {"input": 50}, "guardrail_topic": {"input": 3}}})
    result = response.json()["xproxy_result"]
    assert result["unknown_units"] == {"guardrail_topic": {"input": 3}}
    assert result["cost"]["total"]["base"] == 1.25e-05


async def test_bad_input_gets_clear_errors_and_writes_nothing(running: Running) -> None:
    future = (datetime.now(UTC) + timedelta(minutes=6)).isoformat()
    cases: list[tuple[Any, str]] = [
        ({**HAIKU, "units": {"text": {"input": -1}}}, "invalid_request"),
        ({**HAIKU, "units": {"text": {"input": "many"}}}, "invalid_request"),
        ({**HAIKU, "units": "lots"}, "invalid_request"),
        ({"resource": "x", "units": {}}, "required_field_missing"),
        ({**HAIKU}, "required_field_missing"),
        ({"category": "no.such.category", "resource": "x", "units": {"text": {"input": 1}}}, "category_not_found"),
        ({**HAIKU, "units": {"text": {"input": 1}}, "event_timestamp": future}, "invalid_ingest_event_timestamp"),
        ({**HAIKU, "units": {"text": {"input": 1}}, "event_timestamp": "yesterday"}, "invalid_request"),
        ({**HAIKU, "units": {"text": {"input": 1}}, "properties": ["a"]}, "invalid_request"),
        ([1, 2], "invalid_request"),
    ]
    for body, code in cases:
        response = await _ingest(running, body)
        assert response.status_code == 400, (body, response.text)
        err = response.json()
        assert err["statusCode"] == 400 and err["message"] == "Bad Request"
        assert err["xproxy_error"]["code"] == code, (body, err)
    bad_json = await running.client.post(
        "/api/v1/ingest", content=b'{"category": ', headers={**running.headers(), "content-type": "application/json"}
    )
    assert bad_json.status_code == 400 and bad_json.json()["xproxy_error"]["code"] == "invalid_json"
    huge = await running.client.post(
        "/api/v1/ingest",
        content=b'{"category": "' + b"x" * (10 * 1024 * 1024) + b'"}',
        headers={**running.headers(), "content-type": "application/json"},
    )
    assert huge.status_code == 413 and huge.json()["xproxy_error"]["code"] == "request_too_large"
    bad_header = await _ingest(running, {**HAIKU, "units": {}}, {"xProxy-UseCase-Name": "has spaces"})
    assert bad_header.json()["xproxy_error"]["code"] == "invalid_use_case_name"
    bad_props = await _ingest(running, {**HAIKU, "units": {}}, {"xProxy-Request-Properties": "%%%"})
    assert bad_props.json()["xproxy_error"]["code"] == "invalid_json"
    assert await _count(running, requests) == 0
    assert await _count(running, use_case_definitions) == 0
    assert await _count(running, rollup_hourly) == 0


async def test_use_case_name_alone_gets_a_server_generated_id(running: Running) -> None:
    ids = set()
    for _ in range(2):
        response = await _ingest(running, {**HAIKU, "units": {}}, {"xProxy-UseCase-Name": "chat"})
        ids.add(response.json()["xproxy_result"]["use_case_id"])
    assert len(ids) == 2
    assert await _count(running, use_case_instances) == 2
    assert await _count(running, use_case_definitions) == 1


async def test_prompts_are_stored_only_when_the_application_allows(running: Running) -> None:
    body = {**HAIKU, "units": {}, "provider_request_json": '{"messages": []}', "provider_response_json": ["{}", "{}"]}
    await _ingest(running, body)  # default application: store_prompts is off
    assert await _count(running, request_payloads) == 0
    app, keys = await running.state.tenancy.create_application(running.boot.org_id, "keeper", store_prompts=True)
    headers = {"xProxy-api-key": keys[0].plaintext}
    await running.client.post("/api/v1/ingest", json=body, headers=headers)
    await running.client.post("/api/v1/ingest", json=body, headers={**headers, "xProxy-Logging-Disable": "True"})
    async with running.state.db.read() as conn:
        payloads = (await conn.execute(select(request_payloads))).all()
    assert len(payloads) == 1
    assert payloads[0].provider_response_json == ["{}", "{}"]
    assert await _count(running, requests) == 3


async def test_bulk_bare_array_no_body_and_per_item_errors(running: Running) -> None:
    await _make_limit(running, "b", "1")
    empty = await running.client.post(
        "/api/v1/ingest/bulk", headers={**running.headers(), "content-type": "application/json"}
    )
    assert empty.status_code == 200
    assert empty.json()["ingest_count"] == 0 and empty.json()["total_count"] == 0
    events = [
        {**HAIKU, "units": {"text": {"input": 50, "output": 100}}, "limit_ids": ["b"], "user_id": "u1", "use_case_name": "batch"},
        {**HAIKU, "units": {"text": {"input": -5}}},
        {**HAIKU, "units": {"text": {"input": 1}}, "limit_ids": ["missing"]},
        {"category": "nope.nope", "resource": "x", "units": {}},
        {**HAIKU, "units": {"text": {"input": 50}}, "scope": "global", "properties": {"k": "v"}},
    ]
    response = await running.client.post("/api/v1/ingest/bulk", json=events, headers=running.headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["ingest_count"], body["error_count"], body["total_count"]) == (2, 3, 5)
    assert [e["item_index"] for e in body["errors"]] == [1, 2, 3]
    codes = [e["xproxy_result"]["xproxy_error"]["code"] for e in body["errors"]]
    assert codes == ["invalid_request", "invalid_limit_ids", "category_not_found"]
    assert all(e["xproxy_result"]["statusCode"] == 400 for e in body["errors"])
    async with running.state.db.read() as conn:
        rows = (await conn.execute(select(requests).order_by(requests.c.id))).all()
        limit = (await conn.execute(select(limits))).one()
    assert [r.user_id for r in rows] == ["u1", None]
    assert rows[1].resource_scope == "global" and rows[1].properties == {"k": "v"}
    assert limit.count_total == 1
    # the limit's state is counted in the metrics, as for any recorded call (bulk builds no xproxy_result)
    assert 'payi_limit_states_total{state="ok"} 1.0' in (await running.client.get("/metrics")).text
    wrapped = await running.client.post(
        "/api/v1/ingest/bulk", json={"events": [{**HAIKU, "units": {}}]}, headers=running.headers()
    )
    assert wrapped.json()["ingest_count"] == 1


async def test_org_keys_cannot_ingest(running: Running) -> None:
    response = await running.client.post(
        "/api/v1/ingest", json={**HAIKU, "units": {}}, headers=running.headers(running.org_key)
    )
    assert response.status_code == 403


async def test_instances_created_by_ingest_get_their_definitions_limit(running: Running) -> None:
    created = await running.client.post(
        "/api/v1/use_cases/definitions",
        json={"name": "support", "description": "support bot", "limit_config": {"max": 1.0, "limit_type": "allow"}},
        headers=running.headers(),
    )
    assert created.status_code in (200, 201), created.text
    headers = {"xProxy-UseCase-Name": "support", "xProxy-UseCase-ID": "inst-1"}
    first = await _ingest(running, {**HAIKU, "units": {"text": {"input": 50, "output": 100}}}, headers)
    limits_ = first.json()["xproxy_result"]["limits"]
    assert len(limits_) == 1
    (limit_id, state), = limits_.items()
    assert state == {"state": "ok"}
    await _ingest(running, {**HAIKU, "units": {"text": {"input": 50, "output": 100}}}, headers)
    async with running.state.db.read() as conn:
        row = (await conn.execute(select(limits).where(limits.c.limit_id == limit_id))).one()
    assert row.name == "support.inst-1"
    assert row.count_total == 2 and row.spent_total == Decimal("0.000275")
    other = await _ingest(
        running, {**HAIKU, "units": {}}, {"xProxy-UseCase-Name": "support", "xProxy-UseCase-ID": "inst-2"}
    )
    assert set(other.json()["xproxy_result"]["limits"]) != {limit_id}


async def test_credentials_in_logged_headers_are_never_stored(running: Running) -> None:
    _app, keys = await running.state.tenancy.create_application(running.boot.org_id, "logs", store_prompts=True)
    body = {
        **HAIKU,
        "units": {},
        "provider_request_json": "{}",
        "provider_request_headers": [
            {"name": "Authorization", "value": "Bearer sk-provider-secret-123456789"},
            {"name": "x-api-key", "value": "sk-ant-provider-secret-987654321"},
            {"name": "anthropic-version", "value": "2023-06-01"},
        ],
        "provider_response_headers": [{"name": "set-cookie", "value": "session=abc"}],
    }
    response = await running.client.post("/api/v1/ingest", json=body, headers={"xProxy-api-key": keys[0].plaintext})
    assert response.status_code == 200
    async with running.state.db.read() as conn:
        stored = (await conn.execute(select(request_payloads))).one()
    dumped = repr(tuple(stored))
    assert "sk-provider-secret" not in dumped and "sk-ant-provider-secret" not in dumped and "abc" not in dumped
    assert {"name": "anthropic-version", "value": "2023-06-01"} in stored.provider_request_headers
