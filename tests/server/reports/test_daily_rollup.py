"""The daily rollup (migration 0011): always the sum of the hourly rollup by UTC day (recorder, erasure, migration),
and every report that reads it answers exactly as the hourly rollup alone would, in any zone and bucket."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from payi_server.reports.buckets import whole_days
from payi_server.reports.query import build_query
from payi_server.reports.scope import load_scope
from payi_server.reports.service import ReportService
from payi_server.store.engine import Database
from payi_server.store.erasure import erase
from payi_server.store.migrate import migrate
from payi_server.store.tables import ROLLUP_HOURLY_KEYS, ROLLUP_HOURLY_MEASURES, rollup_daily, rollup_hourly

from ...conftest import Running
from ..conftest_helpers import downgrade
from .data import event, ingest, price

# Across the 2026 spring DST changes of Europe and the US, and a month's end.
START = datetime(2026, 2, 20, tzinfo=UTC)
USERS = ("ann", "bob", "", "cy")
RESOURCES = ("m1", "m2")
ZONES = ("UTC", "America/Los_Angeles", "Europe/London", "Asia/Kolkata")


def _events(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        at = START + timedelta(minutes=rng.randrange(60 * 24 * 45))
        out.append(event(at, rng.randrange(1, 5000), rng.randrange(0, 900), resource=rng.choice(RESOURCES),
                         user_id=rng.choice(USERS) or None, account_name=rng.choice(("acme", None)),
                         end_to_end_latency_ms=rng.choice((None, 40, 900, 12_000))))
    return out


async def _by_day(db: Database, table: Any) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """``table``'s sums by UTC day and dimensions (the hourly rollup's, summed here in Python)."""
    out: dict[tuple[Any, ...], list[Any]] = {}
    async with db.read() as conn:
        for row in (await conn.execute(select(table))).all():
            m = row._mapping
            key = (m["bucket"].astimezone(UTC).replace(hour=0), *(m[k] for k in ROLLUP_HOURLY_KEYS[1:]))
            values = [m[c] for c in ROLLUP_HOURLY_MEASURES]
            current = out.setdefault(key, [0] * len(values))
            for i, v in enumerate(values):
                current[i] += v
    return {k: tuple(v) for k, v in out.items() if v[0]}


async def _consistent(db: Database) -> int:
    hourly, daily = await _by_day(db, rollup_hourly), await _by_day(db, rollup_daily)
    assert daily == hourly
    return len(daily)


def test_whole_days_are_those_no_bucket_boundary_cuts() -> None:
    at = datetime(2026, 1, 1, 5, tzinfo=UTC)
    end = datetime(2026, 3, 10, tzinfo=UTC)
    assert whole_days("total", "UTC", at, end) == [(datetime(2026, 1, 2, tzinfo=UTC), end)]
    assert whole_days("day", "UTC", at, end) == [(datetime(2026, 1, 2, tzinfo=UTC), end)]
    assert whole_days("day", "America/Los_Angeles", at, end) == []  # every local midnight is inside a UTC day
    feb, mar = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    assert whole_days("month", "America/Los_Angeles", at, end) == [
        (datetime(2026, 1, 2, tzinfo=UTC), feb), (feb + timedelta(days=1), mar), (mar + timedelta(days=1), end)
    ]
    assert whole_days("total", "UTC", at, at + timedelta(hours=30)) == []


async def test_reports_from_the_daily_rollup_are_those_of_the_hours(running: Running) -> None:
    db = running.state.db
    await price(running)
    await price(running, "m2")
    await ingest(running, _events(7, 400))
    assert await _consistent(db) > 0
    scope = await load_scope(db, running.boot.org_id)
    rng = random.Random(11)
    compared = 0
    for bucket in ("day", "month", "total"):
        for tz in ZONES:
            for group_by in ((), ("user",), ("resource", "account")):
                start = START + timedelta(hours=rng.randrange(0, 24 * 10))
                end = start + timedelta(hours=rng.randrange(24, 24 * 40))
                params: dict[str, Any] = {"start": start, "end": end, "bucket": bucket, "tz": tz,
                                          "group_by": group_by}
                if rng.random() < 0.3:
                    params["filters"] = {"user": ["ann", ""]}
                query = build_query(**params, latency=rng.random() < 0.5, top=3 if rng.random() < 0.3 else None)
                mixed = await ReportService(db).spend(scope, query)
                hourly = await ReportService(db, daily=False).spend(scope, query)
                assert mixed.as_dict() == hourly.as_dict(), (bucket, tz, group_by, start, end)
                compared += bool(mixed.rows)
    assert compared > 20


async def test_erasure_and_the_migration_keep_the_daily_rollup_the_sum_of_the_hours(running: Running) -> None:
    db = running.state.db
    await price(running)
    await ingest(running, _events(3, 120))
    app_id = int(running.boot.app["app_id"])
    await erase(db, app_id, "user_id", "ann")
    async with db.read() as conn:
        left = (await conn.execute(select(func.count()).where(rollup_daily.c.user_id == "ann"))).scalar_one()
    assert left == 0
    days = await _consistent(db)

    # a database from before 0011: the migration sums the hours it holds into days
    url = running.state.settings.sqlalchemy_url
    await downgrade(url, "0010")
    await migrate(url)
    assert await _consistent(db) == days


@pytest.mark.parametrize("tz", ZONES)
def test_a_month_report_reads_days_except_those_a_boundary_cuts(tz: str) -> None:
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    days = sum((b - a).days for a, b in whole_days("month", tz, start, end))
    # London cuts the 7 month starts in summer time (local midnight is 23:00 UTC); Los Angeles and Kolkata all 12
    assert days == {"UTC": 365, "Europe/London": 358, "America/Los_Angeles": 353, "Asia/Kolkata": 353}[tz]
