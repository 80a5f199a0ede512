"""The narrow rollups (migration 0013): by application alone and by user, always the full rollups' sums over the
dimensions they leave out (recorder, erasure, migration), and every report that reads them answers exactly as the
full rollups would."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from payi_server.reports.query import build_query
from payi_server.reports.requestlog import _windows, make_log_query
from payi_server.reports.scope import load_scope
from payi_server.reports.service import ReportService
from payi_server.store.engine import Database
from payi_server.store.erasure import erase
from payi_server.store.migrate import migrate
from payi_server.store.tables import (
    NARROW_ROLLUPS,
    ROLLUP_HOURLY_MEASURES,
    rollup_daily,
    rollup_hourly,
    rollup_user_hourly,
    rollups_for,
)

from ...conftest import Running
from ..conftest_helpers import downgrade
from .data import create_app, event, ingest, price

START = datetime(2026, 2, 20, tzinfo=UTC)
USERS = ("ann", "bob", "", "cy")
ZONES = ("UTC", "America/Los_Angeles", "Asia/Kolkata")


def _events(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        at = START + timedelta(minutes=rng.randrange(60 * 24 * 40))
        out.append(event(at, rng.randrange(1, 5000), rng.randrange(0, 900), resource=rng.choice(("m1", "m2")),
                         user_id=rng.choice(USERS) or None, account_name=rng.choice(("acme", "zed", None)),
                         use_case_name=rng.choice(("chat", None)),
                         end_to_end_latency_ms=rng.choice((None, 40, 900, 12_000))))
    return out


async def _sums(db: Database, table: Any, keys: tuple[str, ...]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """``table``'s measures summed by ``keys`` (in Python), the groups with requests only."""
    out: dict[tuple[Any, ...], list[Any]] = {}
    async with db.read() as conn:
        for row in (await conn.execute(select(table))).all():
            m = row._mapping
            values = [m[c] for c in ROLLUP_HOURLY_MEASURES]
            current = out.setdefault(tuple(m[k] for k in keys), [0] * len(values))
            for i, v in enumerate(values):
                current[i] += v
    return {k: tuple(v) for k, v in out.items() if v[0]}


async def _consistent(db: Database) -> int:
    """Every narrow rollup holds what its full rollup holds, summed by its keys; the rows compared."""
    compared = 0
    for narrow in NARROW_ROLLUPS:
        for full, table in ((rollup_hourly, narrow.hourly), (rollup_daily, narrow.daily)):
            expected = await _sums(db, full, narrow.keys)
            assert await _sums(db, table, narrow.keys) == expected, table.name
            compared += len(expected)
    return compared


def test_a_report_reads_the_narrowest_rollup_with_its_dimensions() -> None:
    app, user = NARROW_ROLLUPS
    assert rollups_for(set()) == (app.hourly, app.daily)
    assert rollups_for({"user_id"}) == (user.hourly, user.daily)
    assert rollups_for({"user_id", "account_name"}) == (rollup_hourly, rollup_daily)
    assert rollups_for({"resource"}) == (rollup_hourly, rollup_daily)


async def test_reports_from_the_narrow_rollups_are_those_of_the_full_ones(running: Running) -> None:
    db = running.state.db
    await price(running)
    await price(running, "m2")
    _, other_key = await create_app(running, "second")
    await ingest(running, _events(5, 300))
    await ingest(running, _events(6, 100), key=other_key)
    assert await _consistent(db) > 0
    scope = await load_scope(db, running.boot.org_id)
    rng = random.Random(13)
    compared = 0
    for bucket in ("hour", "day", "month", "total"):
        for tz in ZONES:
            for group_by in ((), ("user",), ("application",), ("user", "application")):
                start = START + timedelta(hours=rng.randrange(0, 24 * 10))
                end = start + timedelta(hours=rng.randrange(24, 24 * 30))
                params: dict[str, Any] = {"start": start, "end": end, "bucket": bucket, "tz": tz,
                                          "group_by": group_by}
                if rng.random() < 0.4:
                    params["filters"] = {"user": ["ann", ""]}
                query = build_query(**params, latency=rng.random() < 0.5, top=2 if rng.random() < 0.3 else None)
                narrow = await ReportService(db).spend(scope, query)
                full = await ReportService(db, narrow=False).spend(scope, query)
                assert narrow.as_dict() == full.as_dict(), (bucket, tz, group_by, start, end)
                floats = await ReportService(db).spend(scope, query, exact=False)  # what the JSON answer reads
                assert floats.as_dict() == narrow.as_dict(), (bucket, tz, group_by, start, end)
                compared += bool(narrow.rows)
    assert compared > 30


async def test_an_hourly_report_by_user_adds_up_a_user_s_applications_and_orders_ties_by_name(running: Running) -> None:
    """By hour and by user (and by day, read from the daily rollup), the report reads the rollup's rows and adds up a
    user's rows from several applications, and a day's edge hours, itself (``ReportService._direct``): the same
    rows, order and totals as the aggregate in SQL."""
    db = running.state.db
    await price(running)
    _, other_key = await create_app(running, "second")
    hour = "2026-02-21T10:"
    await ingest(running, [event(hour + "05:00Z", 1000, user_id="bob"), event(hour + "06:00Z", 2500, user_id="ann"),
                           event(hour + "59:00Z", 100, user_id="cy", end_to_end_latency_ms=900),
                           event("2026-02-21T11:00:00Z", 7, user_id="ann")])
    await ingest(running, [event(hour + "07:00Z", 1500, user_id="bob", end_to_end_latency_ms=40),
                           event(hour + "08:00Z", 400, user_id="cy")], key=other_key)
    scope = await load_scope(db, running.boot.org_id)
    for latency in (False, True):
        query = build_query(start=datetime(2026, 2, 21, 9, tzinfo=UTC), end=datetime(2026, 2, 21, 12, tzinfo=UTC),
                            bucket="hour", group_by=["user"], latency=latency)
        direct = await ReportService(db).spend(scope, query)
        rows = [(r["bucket"], r["user"], r["requests"], float(r["cost_total"])) for r in direct.rows]
        # bob ($1 + $1.5) ties with ann ($2.5): by name; cy's two applications add up too
        assert rows == [("2026-02-21T10:00:00+00:00", "ann", 1, 2.5), ("2026-02-21T10:00:00+00:00", "bob", 2, 2.5),
                        ("2026-02-21T10:00:00+00:00", "cy", 2, 0.5), ("2026-02-21T11:00:00+00:00", "ann", 1, 0.007)]
        aggregated = await ReportService(db, narrow=False).spend(scope, query)
        assert direct.as_dict() == aggregated.as_dict()
        assert direct.totals["cost_total"] == Decimal("5.507") and direct.totals["requests"] == 6
        if latency:
            assert [r["latency_p95_ms"] is not None for r in direct.rows] == [False, True, True, False]
    # By day, a day's edge hours add up too (ann's two hours of the 21st; the 22nd is read from the daily rollup)
    await ingest(running, [event("2026-02-22T03:00:00Z", 1000, user_id="ann"),
                           event("2026-02-22T23:00:00Z", 1000, user_id="ann")])
    query = build_query(start=datetime(2026, 2, 21, 10, tzinfo=UTC), end=datetime(2026, 2, 23, tzinfo=UTC),
                        bucket="day", group_by=["user"])
    by_day = await ReportService(db).spend(scope, query)
    assert [(r["bucket"][:10], r["user"], r["requests"], float(r["cost_total"])) for r in by_day.rows] == [
        ("2026-02-21", "ann", 2, 2.507), ("2026-02-21", "bob", 2, 2.5), ("2026-02-21", "cy", 2, 0.5),
        ("2026-02-22", "ann", 2, 2.0)]
    assert by_day.as_dict() == (await ReportService(db, narrow=False).spend(scope, query)).as_dict()


async def test_reads_of_the_rows_order_ties_and_add_up_as_the_aggregate_does(running: Running) -> None:
    """Many ties in cost and users in both applications, in the same hours: every report by hour and by day (in
    UTC, read from the rows) equals the one aggregated in SQL from the full rollups, row for row and in order."""
    db = running.state.db
    await price(running)
    _, other_key = await create_app(running, "second")
    rng = random.Random(7)
    for key in (None, other_key):
        items = [event(START + timedelta(days=rng.randrange(3), hours=rng.randrange(24)), rng.choice((1000, 2000)),
                       user_id=rng.choice(("ann", "bob", "cy", "dee", "")) or None,
                       end_to_end_latency_ms=rng.choice((None, 40, 900)))
                 for _ in range(150)]
        await ingest(running, items, key=key)
    scope = await load_scope(db, running.boot.org_id)
    compared = 0
    for bucket in ("hour", "day"):
        for start_hour in (0, 7):
            for group_by in (("user",), ("user", "application"), ("application",)):
                for latency in (False, True):
                    query = build_query(start=START + timedelta(hours=start_hour), end=START + timedelta(days=3),
                                        bucket=bucket, group_by=group_by, latency=latency)
                    direct = await ReportService(db).spend(scope, query)
                    full = await ReportService(db, narrow=False).spend(scope, query)
                    assert direct.as_dict() == full.as_dict(), (bucket, start_hour, group_by, latency)
                    assert (await ReportService(db).spend(scope, query, exact=False)).as_dict() == direct.as_dict()
                    compared += len(direct.rows)
    assert compared > 500


async def test_the_request_list_filtered_by_user_finds_its_hours_in_the_rollup_by_user(running: Running) -> None:
    db = running.state.db
    await price(running)
    await ingest(running, [event(START + timedelta(hours=5, minutes=3), user_id="ann"),
                           event(START + timedelta(hours=30), user_id="bob"),
                           event(START + timedelta(hours=52, minutes=59), user_id="ann")])
    scope = await load_scope(db, running.boot.org_id)
    query = make_log_query(START, START + timedelta(days=5), filters={"user": ["ann"]})
    app_id = int(running.boot.app["app_id"])
    assert await _windows(db, scope, query) == {app_id: (START + timedelta(hours=5), START + timedelta(hours=53))}
    # what the windows were read from: the rollup by user holds ann's two hours
    async with db.read() as conn:
        hours = (await conn.execute(select(func.count()).where(rollup_user_hourly.c.user_id == "ann"))).scalar_one()
    assert hours == 2


async def test_erasure_and_the_migration_keep_the_narrow_rollups_the_sums_of_the_full_ones(running: Running) -> None:
    db = running.state.db
    await price(running)
    await ingest(running, _events(3, 150))
    app_id = int(running.boot.app["app_id"])
    before = await ReportService(db).spend(await load_scope(db, running.boot.org_id),
                                           build_query(start=START, end=START + timedelta(days=41), group_by=["user"]))
    await erase(db, app_id, "user_id", "ann")
    await erase(db, app_id, "account_name", "zed")
    for narrow in NARROW_ROLLUPS:
        if "user_id" in narrow.columns:
            for table in (narrow.hourly, narrow.daily):
                async with db.read() as conn:
                    left = (await conn.execute(select(func.count()).where(table.c.user_id == "ann"))).scalar_one()
                assert left == 0, table.name
    rows = await _consistent(db)
    after = await ReportService(db).spend(await load_scope(db, running.boot.org_id),
                                          build_query(start=START, end=START + timedelta(days=41), group_by=["user"]))
    assert after.totals == before.totals  # the costs stay, the identity goes
    assert "ann" not in {r["user"] for r in after.rows} and "ann" in {r["user"] for r in before.rows}

    # a database from before 0013: the migration sums the full rollups into the narrow ones
    url = running.state.settings.sqlalchemy_url
    await downgrade(url, "0012")
    await migrate(url)
    assert await _consistent(db) == rows
