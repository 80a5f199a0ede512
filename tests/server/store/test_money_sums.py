"""Sums of money past what a ``Money`` column holds (an int64 count of 1e-10 USD on SQLite, about 9.2e8 USD).

One call costs at most 1e6 USD, but about 9,200 of them in one rollup bucket or one limit's totals, or a report
summing many rows, went past int64 on SQLite: the limit's write-back failed (every ingest a 5xx), a rollup
addition turned into an inexact float, a report ``SUM`` raised. On both databases a stored sum now saturates at
``MONEY_MAX`` (and stays there), a limit at the cap reads as overrun (a strict one refuses), and reports add
saturated rows without raising. Real ingests and proxied calls on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from payi_server.app import create_app
from payi_server.state import AppState
from payi_server.store.erasure import erase
from payi_server.store.tables import limits, rollup_hourly, rollup_limit_hourly, rollup_property_hourly
from payi_server.store.types import MAX_REQUEST_COST, MAX_UNIT_PRICE, MONEY_MAX
from tests.conftest import make_settings
from tests.fakes.config import FakeConfig
from tests.fakes.serve import serve_app
from tests.fakes.upstream import FakeUpstream
from tests.fakes.upstream import create_app as create_fake

HOUR = "2026-02-02T02:"
CALLS = 1000  # 1000 calls of 1e6 USD: 1e9 USD, past MONEY_MAX (9.22e8)


@dataclass
class Env:
    state: AppState
    client: httpx2.AsyncClient
    app_id: int
    app_key: str
    org_key: str
    fake: FakeUpstream

    def headers(self, org: bool = False) -> dict[str, str]:
        return {"xProxy-api-key": self.org_key if org else self.app_key}


@pytest.fixture
async def env(database_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    fake = create_fake(FakeConfig())
    with serve_app(fake) as fake_url:
        settings = make_settings(
            database_url, tmp_path / "data", openai_base_url=f"{fake_url}/v1", allow_private_provider_hosts=True,
            provider_hosts=("127.0.0.1", "localhost"),
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            state: AppState = app.state.payi
            boot = await state.tenancy.bootstrap()
            assert boot is not None
            async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://payi.test") as client:
                yield Env(state, client, int(boot.app["app_id"]), boot.app_keys[0].plaintext, boot.org_key.plaintext,
                          fake)


def _event(minute: int, **extra: Any) -> dict[str, Any]:
    """One call at the largest cost a call may have (100 units at the largest unit price)."""
    return {"category": "acme", "resource": "dear", "units": {"text": {"input": 100}},
            "event_timestamp": f"{HOUR}{minute % 60:02d}:00Z", **extra}


async def _ingest(env: Env, events: list[dict[str, Any]]) -> None:
    answer = await env.client.post("/api/v1/ingest/bulk", json=events, headers=env.headers())
    assert answer.status_code == 200, answer.text[:500]
    assert answer.json()["error_count"] == 0, answer.text[:500]


async def _one(env: Env, query: Any) -> Any:
    async with env.state.db.read() as conn:
        return (await conn.execute(query)).one()


async def test_sums_past_int64_saturate_and_read_conservatively(env: Env) -> None:
    price = await env.client.post("/api/v1/categories/acme/resources/dear",
                                  json={"units": {"text": {"input_price": float(MAX_UNIT_PRICE)}},
                                        "start_timestamp": "2020-01-01T00:00:00Z"},
                                  headers=env.headers(org=True))
    assert price.status_code == 200, price.text
    await env.state.changes.poll_once()
    created = await env.client.post("/api/v1/limits", json={"limit_name": "big", "max": 1e8, "limit_type": "block",
                                                            "enforcement": "strict"}, headers=env.headers())
    assert created.status_code == 201, created.text
    limit_id = created.json()["limit"]["limit_id"]
    tagged = {"user_id": "u1", "limit_ids": [limit_id], "properties": {"p": "x"}}

    # One rollup row, one limit, one property value: 1e9 USD in all. Then more on top of the saturated sums.
    await _ingest(env, [_event(i, **tagged) for i in range(CALLS)])
    await _ingest(env, [_event(i, **tagged) for i in range(5)])
    await _ingest(env, [_event(i, user_id="u2") for i in range(10)] + [_event(i) for i in range(3)])

    hourly = rollup_hourly.c
    u1 = await _one(env, select(hourly.cost_total, hourly.cost_input, hourly.requests, hourly.units_input)
                    .where(hourly.user_id == "u1"))
    assert (u1.cost_total, u1.cost_input) == (MONEY_MAX, MONEY_MAX)
    assert (u1.requests, u1.units_input) == (CALLS + 5, (CALLS + 5) * 100)  # counts stay exact
    by_limit = await _one(env, select(rollup_limit_hourly.c.cost_total, rollup_limit_hourly.c.requests))
    assert (by_limit.cost_total, by_limit.requests) == (MONEY_MAX, CALLS + 5)
    by_property = await _one(env, select(rollup_property_hourly.c.cost_total))
    assert by_property.cost_total == MONEY_MAX
    row = await _one(env, select(limits.c.spent_total, limits.c.spent_input, limits.c.count_total))
    assert (row.spent_total, row.spent_input, row.count_total) == (MONEY_MAX, MONEY_MAX, CALLS + 5)

    # The limit reads as overrun, never under: an ingest says so, and a strict one refuses a proxied call.
    shown = await env.client.get(f"/api/v1/limits/{limit_id}", headers=env.headers())
    assert shown.status_code == 200, shown.text
    total = shown.json()["limit"]["totals"]["cost"]["total"]
    assert total["base"] == float(MONEY_MAX) and total["overrun_base"] == float(MONEY_MAX - Decimal(10**8))
    one = await env.client.post("/api/v1/ingest", json=_event(1), headers={**env.headers(), "xProxy-Limit-IDs": limit_id})
    assert one.status_code == 200, one.text
    assert one.json()["xproxy_result"]["limits"][limit_id]["state"] == "overrun"
    proxied = await env.client.post(
        "/api/v1/proxy/openai/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers={**env.headers(), "xProxy-Limit-IDs": limit_id, "Authorization": "Bearer sk-test"},
    )
    assert 400 <= proxied.status_code < 500, proxied.text
    assert env.fake.total == 0

    # Reports add saturated rows without raising: the same numbers on both databases.
    window = {"start": "2026-02-02T00:00:00Z", "end": "2026-02-03T00:00:00Z"}
    # By user, the rows of u2 and the anonymous ones add to u1's saturated row; by no dimension, the report reads the
    # rollup by application alone, whose one row of the hour holds every call and is saturated itself.
    by_user_total = float(MONEY_MAX + 14 * MAX_REQUEST_COST)  # u2, anonymous, and one more
    for params in ({"group_by": "user"}, {"group_by": "user", "top": "1"}, {"bucket": "hour"}, {"bucket": "total"}):
        expected_total = by_user_total if "group_by" in params else float(MONEY_MAX)
        report = await env.client.get("/api/v1/reports/spend", params={**window, **params}, headers=env.headers())
        assert report.status_code == 200, (params, report.text[:500])
        body = report.json()
        assert body["totals"]["cost_total"] == expected_total, params
        assert body["totals"]["requests"] == CALLS + 5 + 13 + 1, params
        if params.get("group_by") == "user":
            assert body["rows"][0]["user"] == "u1" and body["rows"][0]["cost_total"] == float(MONEY_MAX), body["rows"]
    by_limit_report = await env.client.get("/api/v1/reports/spend", params={**window, "group_by": "limit"},
                                           headers=env.headers())
    assert by_limit_report.status_code == 200, by_limit_report.text
    assert by_limit_report.json()["totals"]["cost_total"] == float(MONEY_MAX)
    csv = await env.client.get("/api/v1/reports/spend", params={**window, "bucket": "total", "format": "csv"},
                               headers=env.headers())
    assert csv.status_code == 200, csv.text

    # Erasing u1 merges its saturated row into the anonymous one: still saturated, not wrapped or raised.
    await erase(env.state.db, env.app_id, "user_id", "u1")
    anonymous = await _one(env, select(hourly.cost_total, hourly.requests).where(hourly.user_id == "", hourly.category == "acme"))
    assert anonymous.cost_total == MONEY_MAX and anonymous.requests == CALLS + 5 + 3 + 1

    # A reset archives the saturated totals and starts from zero.
    reset = await env.client.post(f"/api/v1/limits/{limit_id}/reset", headers=env.headers())
    assert reset.status_code == 200, reset.text
    again = await env.client.post("/api/v1/ingest", json=_event(2), headers={**env.headers(), "xProxy-Limit-IDs": limit_id})
    assert again.status_code == 200 and again.json()["xproxy_result"]["limits"][limit_id]["state"] == "ok", again.text


async def test_counts_summed_past_int64_read_at_least_int64s_top(env: Env) -> None:
    """Counts no real log reaches (two rollup rows of 2^62 + 2^62 - 1 requests): a report still answers, with a
    count no lower than int64's top (PostgreSQL's sum stops there; SQLite's turns into a float past it)."""
    from datetime import UTC, datetime

    from payi_server.store.tables import ROLLUP_HOURLY_MEASURES, rollup_app_hourly

    row = {m: 0 for m in ROLLUP_HOURLY_MEASURES} | {"cost_input": Decimal(0), "cost_output": Decimal(0),
                                                    "cost_total": Decimal(0)}
    async with env.state.db.write() as conn:
        for hour, requests in ((1, 2**62), (2, 2**62 - 1)):
            await conn.execute(rollup_app_hourly.insert().values(
                bucket=datetime(2026, 2, 2, hour, tzinfo=UTC), app_id=env.app_id, **{**row, "requests": requests}
            ))
    for params in ({"bucket": "total"}, {"bucket": "day"}, {"bucket": "total", "group_by": "application"}):
        report = await env.client.get("/api/v1/reports/spend", headers=env.headers(), params={
            "start": "2026-02-02T01:00:00Z", "end": "2026-02-02T03:00:00Z", **params})  # hours: no whole day
        assert report.status_code == 200, report.text
        assert report.json()["totals"]["requests"] >= 2**63 - 1, params
        assert report.json()["rows"][0]["requests"] >= 2**63 - 1, params


async def test_report_money_past_what_int8_units_hold_stays_exact(env: Env) -> None:
    """PostgreSQL reads a report's money sums as int8 counts of 1e-10 USD, and a sum past ``MONEY_MAX`` (which no
    int8 count holds) as its exact decimal: the user whose two hours are both saturated has twice ``MONEY_MAX``, first
    in the rows, exact in CSV and in the totals, and the float of it in JSON. (SQLite's sum past int64 is a float.)"""
    from datetime import UTC, datetime

    from payi_server.store.tables import ROLLUP_HOURLY_MEASURES, rollup_user_hourly

    zero = {m: 0 for m in ROLLUP_HOURLY_MEASURES} | {"cost_input": Decimal(0), "cost_output": Decimal(0)}
    small = Decimal("0.0000123456")
    async with env.state.db.write() as conn:
        for hour, user, cost in ((1, "big", MONEY_MAX), (2, "big", MONEY_MAX), (1, "small", small),
                                 (2, "small", small)):
            await conn.execute(rollup_user_hourly.insert().values(
                bucket=datetime(2026, 2, 2, hour, tzinfo=UTC), app_id=env.app_id, user_id=user,
                **{**zero, "requests": 1, "cost_total": cost},
            ))
    window = {"start": "2026-02-02T01:00:00Z", "end": "2026-02-02T03:00:00Z", "group_by": "user"}
    for bucket in ("total", "hour"):
        report = await env.client.get("/api/v1/reports/spend", headers=env.headers(),
                                      params={**window, "bucket": bucket})
        assert report.status_code == 200, report.text
        body = report.json()
        costs = {(r.get("bucket"), r["user"]): r["cost_total"] for r in body["rows"]}
        if bucket == "total":
            assert [r["user"] for r in body["rows"]] == ["big", "small"], body["rows"]
            assert costs == {(None, "big"): float(2 * MONEY_MAX), (None, "small"): float(2 * small)}
        else:
            assert set(costs.values()) == {float(MONEY_MAX), float(small)} and len(costs) == 4, costs
        assert body["totals"]["cost_total"] == float(2 * MONEY_MAX + 2 * small)
        csv = await env.client.get("/api/v1/reports/spend", headers=env.headers(),
                                   params={**window, "bucket": bucket, "format": "csv"})
        assert csv.status_code == 200, csv.text
        cells = [line.split(",") for line in csv.text.strip().splitlines()]
        at = cells[0].index("cost_total")
        expected = {2 * MONEY_MAX, 2 * small} if bucket == "total" else {MONEY_MAX, small}
        got = {Decimal(line[at]) for line in cells[1:]}
        if env.state.db.is_sqlite:  # past int64 its sum is a float (``store.sums.wide_sum``): the same float
            assert {float(x) for x in got} == {float(x) for x in expected}, cells
        else:
            assert got == expected, cells
