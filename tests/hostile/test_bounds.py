"""Numbers and nesting beyond what the databases store: every one is a 4xx with the Pay-i body and writes nothing.

Integers are bounded to what both databases hold (a 32-bit ``INTEGER`` column on PostgreSQL, 64-bit ids on
SQLite), amounts to what ``Money`` holds (an int64 count of 1e-10 USD on SQLite), and JSON in headers to a nesting
depth the server can walk. Each regression test failed (a 5xx) before its fix.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from .conftest import row_counts
from .test_hostile_input import _INGEST, _JSON, Hostile, hostile, refused  # noqa: F401 - the fixture

_PROXY = "/api/v1/proxy/openai/v1/chat/completions"
_CHAT = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode()


async def test_latencies_beyond_a_32_bit_integer_are_refused(hostile: Hostile) -> None:
    """``end_to_end_latency_ms`` of 2**31 was a 503 on PostgreSQL (INTEGER column) and 2**63 a 500 on SQLite."""
    before = await row_counts(hostile.state.db)
    for field in ("end_to_end_latency_ms", "time_to_first_token_ms", "time_to_first_completion_token_ms"):
        for value in (2**31, 2**63, 10**30):
            body = {**_INGEST, field: value}
            await refused(hostile, await hostile.client.post("/api/v1/ingest", json=body, headers=hostile.headers()))
            bulk = await hostile.client.post("/api/v1/ingest/bulk", json=[body], headers=hostile.headers())
            assert bulk.status_code == 200 and bulk.json()["error_count"] == 1, bulk.text
    for value in (2**31, 2**63):
        bulk = await hostile.client.post(
            "/api/v1/ingest/bulk", json=[{**_INGEST, "use_case_name": "uc.v", "use_case_version": value}],
            headers=hostile.headers(),
        )
        assert bulk.status_code == 200 and bulk.json()["error_count"] == 1, bulk.text
    assert await row_counts(hostile.state.db) == before
    ok = await hostile.client.post("/api/v1/ingest", json={**_INGEST, "end_to_end_latency_ms": 2**31 - 1},
                                   headers=hostile.headers())
    assert ok.status_code == 200, ok.text


def _nested(depth: int) -> str:
    return '{"a": ' + '{"b": ' * depth + "1" + "}" * depth + "}"


async def test_deeply_nested_json_in_properties_headers_is_refused(hostile: Hostile) -> None:
    """``xProxy-Request-Properties`` nested 500 deep was a 500 (RecursionError), on ingest and the proxy."""
    before = await row_counts(hostile.state.db)
    for depth in (300, 500, 1000, 5000):
        for value in (_nested(depth).encode(), base64.b64encode(_nested(depth).encode())):
            for header in (b"xproxy-request-properties", b"xproxy-usecase-properties"):
                ingest = await hostile.call("POST", "/api/v1/ingest", [*_JSON, (header, value)], json.dumps(_INGEST).encode())
                await refused(hostile, ingest)
                proxied = await hostile.call("POST", _PROXY, [*_JSON, (header, value)], _CHAT)
                await refused(hostile, proxied)
    body = {**_INGEST, "properties": json.loads(_nested(200))}
    await refused(hostile, await hostile.client.post("/api/v1/ingest", json=body, headers=hostile.headers()))
    assert hostile.fake.total == 0
    assert await row_counts(hostile.state.db) == before
    shallow = await hostile.call("POST", "/api/v1/ingest", [*_JSON, (b"xproxy-request-properties", _nested(3).encode())],
                                 json.dumps(_INGEST).encode())
    assert shallow.status == 200, shallow.body[:300]


async def test_numeric_path_ids_beyond_64_bits_are_not_found(hostile: Hostile) -> None:
    """``GET /api/v1/requests/9223372036854775808/result`` was a 500 on SQLite (OverflowError)."""
    for big in ("9223372036854775808", "9999999999999999999", "18446744073709551616"):
        for method, path, kind in (
            ("GET", f"/api/v1/requests/{big}/result", "app"),
            ("PUT", f"/api/v1/requests/{big}/properties", "app"),
            ("GET", f"/api/v1/admin/applications/{big}", "org"),
            ("POST", f"/api/v1/admin/keys/{big}/revoke", "org"),
        ):
            body = b'{"properties": {"a": "b"}}' if method == "PUT" else b""
            answer = await hostile.call(method, path, _JSON, body, kind=kind)
            await refused(hostile, answer)
            assert answer.status == 404, (path, answer.body)
    largest = await hostile.call("GET", "/api/v1/requests/9223372036854775807/result")
    assert largest.status == 404


async def test_huge_custom_prices_are_refused_and_every_amount_is_bounded(hostile: Hostile) -> None:
    """A custom price of 1e308 was accepted; every ingest for that resource then was a 500
    (``decimal.InvalidOperation``). Prices are bounded, and so is every computed cost."""
    org = hostile.headers("org")
    before = await row_counts(hostile.state.db)
    for price in (1e308, 1e30, 1e15, 10_000.5, -1e308):
        for side in ("input_price", "output_price"):
            answer = await hostile.client.post(
                "/api/v1/categories/acme/resources/huge", json={"units": {"text": {side: price}}}, headers=org
            )
            await refused(hostile, answer, *(("invalid_unit_price",) if price > 0 else ()))
    assert await row_counts(hostile.state.db) == before
    # The largest price accepted times the largest count accepted is still refused as a cost, not a 500.
    from payi_server.store.types import MAX_UNIT_PRICE

    ok = await hostile.client.post(
        "/api/v1/categories/acme/resources/dear", json={"units": {"text": {"input_price": float(MAX_UNIT_PRICE)}}},
        headers=org,
    )
    assert ok.status_code == 200, ok.text
    before = await row_counts(hostile.state.db)
    event: dict[str, Any] = {"category": "acme", "resource": "dear", "units": {"text": {"input": 10**12}}}
    await refused(hostile, await hostile.client.post("/api/v1/ingest", json=event, headers=hostile.headers()),
                  "cost_out_of_range")
    bulk = await hostile.client.post("/api/v1/ingest/bulk", json=[event], headers=hostile.headers())
    assert bulk.status_code == 200 and bulk.json()["error_count"] == 1, bulk.text
    assert await row_counts(hostile.state.db) == before
    small = await hostile.client.post("/api/v1/ingest", json={**event, "units": {"text": {"input": 2}}},
                                      headers=hostile.headers())
    assert small.status_code == 200, small.text


async def test_a_limit_max_beyond_what_money_stores_is_refused(hostile: Hostile) -> None:
    """A limit ``max`` above ~9.2e8 USD (an int64 of 1e-10 USD on SQLite) was accepted as far as the database,
    which failed: a 500. It is refused like any other invalid max."""
    before = await row_counts(hostile.state.db)
    for amount in (1e9, 9.3e8, 1e11, 1e12):
        response = await hostile.client.post("/api/v1/limits", json={"limit_name": "big", "max": amount},
                                             headers=hostile.headers())
        await refused(hostile, response, "invalid_max_limit")
        response = await hostile.client.post(
            "/api/v1/use_cases/definitions",
            json={"name": "uc.big", "description": "d", "limit_config": {"max": amount}}, headers=hostile.headers(),
        )
        await refused(hostile, response, "invalid_max_limit", "create_limit_validation_failed")
    assert await row_counts(hostile.state.db) == before
    from payi_server.store.types import MAX_AMOUNT

    ok = await hostile.client.post("/api/v1/limits", json={"limit_name": "largest", "max": float(MAX_AMOUNT)},
                                   headers=hostile.headers())
    assert ok.status_code == 201, ok.text


async def test_a_proxied_call_above_the_largest_cost_is_recorded_at_it(hostile: Hostile) -> None:
    """The provider answered already: the call is recorded (never lost, which would let it past every limit),
    charged the largest cost a call may have, with a warning; an ingested event of that cost is refused."""
    from decimal import Decimal

    from sqlalchemy import select

    from payi_server.store.tables import requests
    from payi_server.store.types import MAX_REQUEST_COST, MAX_UNIT_PRICE

    org = hostile.headers("org")
    price = {"input_price": float(MAX_UNIT_PRICE), "output_price": float(MAX_UNIT_PRICE)}
    created = await hostile.client.post("/api/v1/categories/acme/resources/dear", json={"units": {"text": price}},
                                        headers=org)
    assert created.status_code == 200, created.text
    wordy = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "word " * 300}]}).encode()
    answer = await hostile.call("POST", _PROXY, [*_JSON, (b"xproxy-priceas-category", b"acme"),
                                                 (b"xproxy-priceas-resource", b"dear")], wordy)
    assert answer.status == 200, answer.body[:300]
    result = answer.json()["xproxy_result"]
    assert result["cost"]["total"]["base"] == float(MAX_REQUEST_COST)
    assert any("charged" in w for w in result.get("warnings") or []), result
    for _ in range(200):
        async with hostile.state.db.read() as conn:
            row = (await conn.execute(select(requests.c.cost_total).where(requests.c.id == int(result["request_id"])))).first()
        if row is not None:
            break
        await asyncio.sleep(0.02)  # recorded just after the answer
    assert row is not None and row.cost_total == Decimal(MAX_REQUEST_COST)
    event = {"category": "acme", "resource": "dear", "units": {"text": {"input": 101}}}  # 1.01e6 USD
    await refused(hostile, await hostile.client.post("/api/v1/ingest", json=event, headers=hostile.headers()),
                  "cost_out_of_range")
