"""The request log's time partitions (PostgreSQL) and what stays the same on SQLite: migration 0010 from a database
with rows, duplicates across partitions and the window of ``request_keys``, partitions created ahead, and retention
dropping whole expired days while every report stays as it was."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from payi_server.auth.cache import Principal
from payi_server.auth.keys import KeyKind
from payi_server.metering import batch
from payi_server.metering.event import Attribution, Event, Payload
from payi_server.metering.meter import MAX_FUTURE
from payi_server.metering.pending import Pending
from payi_server.reports.requestlog import read_page
from payi_server.reports.scope import Scope
from payi_server.store import partitions
from payi_server.store.engine import Database
from payi_server.store.migrate import migrate
from payi_server.store.partitions import DAYS_AHEAD, EVENT_LEAD, TABLES, day_range, id_at
from payi_server.store.requestkeys import DUPLICATE_WINDOW
from payi_server.store.requestlog import LogQuery, _page_statement
from payi_server.store.retention import Defaults, Retention
from payi_server.store.tables import request_keys, request_limits, request_payloads, requests

from ...conftest import Running
from ..conftest_helpers import downgrade
from ..reports.data import CATEGORY, create_app, price, report
from .test_retention import _limit, _reports

NOW = datetime.now(UTC).replace(microsecond=0)


def test_the_partitions_lead_is_the_meters_max_future() -> None:
    assert EVENT_LEAD == MAX_FUTURE


def test_day_ranges_follow_the_snowflake_ids() -> None:
    low, high = day_range(NOW.date())
    midnight = datetime.combine(NOW.date(), datetime.min.time(), UTC)
    assert partitions.time_of(low) == midnight and partitions.time_of(high) == midnight + timedelta(days=1)
    assert low <= id_at(NOW) < high
    assert partitions.is_partition("requests_p20270115") and partitions.is_partition("request_keys_default")
    assert partitions.is_partition("request_payloads_legacy") and not partitions.is_partition("requests")


def _pending(
    running: Running,
    at: datetime,
    *,
    request_id: int | None = None,
    response_id: str | None = None,
    app_id: int | None = None,
    prompt: bool = False,
    **attribution: Any,
) -> Pending:
    """One event through the meter, with the request id given (its partition's day)."""
    principal = Principal(
        key_id=0, kind=KeyKind.APPLICATION, org_id=running.boot.org_id, app_id=app_id or int(running.boot.app["app_id"])
    )
    event = Event(
        source="ingest",
        category=CATEGORY,
        resource="m1",
        units={"text": {"input": 1000, "output": 0}},
        event_timestamp=at,
        attribution=Attribution(**attribution),
        provider_response_id=response_id,
        payload=Payload(provider_request_json='{"messages": ["hi"]}') if prompt else None,
    )
    pending = running.state.meter.prepare(principal, event, request_id=request_id)
    pending.store_payload = prompt
    return pending


async def _record(running: Running, at: datetime, **options: Any) -> dict[str, Any]:
    """``_pending``'s event recorded; its ``xproxy_result``."""
    result: dict[str, Any] = await running.state.recorder.submit(_pending(running, at, **options))
    return result


async def _count(db: Database, table: Any, *where: Any) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


async def _partition_of(db: Database, table: str, key: str, value: int) -> str:
    async with db.read() as conn:
        query = text(f"SELECT tableoid::regclass::text FROM {table} WHERE {key} = :v")
        found = (await conn.execute(query, {"v": value})).scalar()
    return str(found)


async def _partitions(db: Database, table: str) -> list[partitions.Partition]:
    async with db.read() as conn:
        return list(await conn.run_sync(lambda c: partitions.partitions(c, table)))


async def _downgrade_to_0009(url: str) -> None:
    await downgrade(url, "0009")


async def test_migration_from_0009_keeps_rows_readable_and_duplicates_detected(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = running.state.db
    await price(running)
    limit = await _limit(running, "team")
    old = [(await _record(running, NOW - timedelta(hours=1), response_id=f"old-{i}", limit_ids=[limit]))["request_id"]
           for i in range(3)]
    before = await _reports(running)
    url = running.state.settings.sqlalchemy_url
    await _downgrade_to_0009(url)
    assert await _count(db, requests) == 3
    await migrate(url)
    postgresql = not db.is_sqlite

    # the rows recorded before: readable by id and by provider response id, with their limit states
    for n, request_id in enumerate(old):
        got = await running.client.get(f"/api/v1/requests/{request_id}/result", headers=running.headers())
        assert got.status_code == 200 and got.json()["xproxy_result"]["limits"] == {limit: {"state": "ok"}}
        by_provider = await running.client.get(
            f"/api/v1/requests/provider/{CATEGORY}/old-{n}/result", headers=running.headers()
        )
        assert by_provider.status_code == 200 and by_provider.json()["xproxy_result"]["request_id"] == request_id
    if postgresql:
        assert {await _partition_of(db, "requests", "id", int(i)) for i in old} == {"requests_legacy"}
        assert await _count(db, request_keys) == 3  # copied by the migration

    # the server's clock on the day after the cut-over: new ids land in that day's partition
    cutover = id_at(NOW)
    if postgresql:
        legacy = [p for p in await _partitions(db, "requests") if p.name == "requests_legacy"]
        assert legacy[0].low is None and legacy[0].high is not None and legacy[0].high > id_at(NOW)
        cutover = legacy[0].high
    later = partitions.time_of(cutover) + timedelta(hours=2)
    monkeypatch.setattr(batch, "utcnow", lambda: later)
    new_id = id_at(later)
    new = await _record(running, NOW, request_id=new_id, response_id="new-0", limit_ids=[limit], prompt=True)
    assert new["request_id"] == str(new_id) and new.get("duplicate_request") is False

    # duplicates of the old rows and of the new one are answered with the original, and recorded once
    again_old = await _record(running, NOW, request_id=new_id + 1, response_id="old-1")
    again_new = await _record(running, NOW, request_id=new_id + 2, response_id="new-0")
    assert again_old["duplicate_request"] is True and again_old["request_id"] == old[1]
    assert again_new["duplicate_request"] is True and again_new["request_id"] == str(new_id)
    assert await _count(db, requests) == 4
    if postgresql:
        day = f"p{partitions.time_of(new_id):%Y%m%d}"
        assert await _partition_of(db, "requests", "id", new_id) == f"requests_{day}"
        assert await _partition_of(db, "request_payloads", "request_id", new_id) == f"request_payloads_{day}"
        assert await _partition_of(db, "request_limits", "request_id", new_id) == f"request_limits_{day}"
        assert await _partition_of(db, "request_keys", "request_id", new_id) == f"request_keys_{day}"
        for table in TABLES:
            assert await _count(db, text(f"{table}_default")) == 0
    else:  # SQLite is not partitioned: its unique index keeps finding duplicates
        assert await _count(db, request_keys) == 0
    totals = await report(running, running.org_key, start=(NOW - timedelta(days=1)).isoformat(),
                          end=(NOW + timedelta(hours=2)).isoformat(), bucket="total")
    assert totals["totals"]["requests"] == 4  # the new request counts; the duplicates did not
    assert before != await _reports(running)


async def test_a_duplicate_is_found_across_partitions_within_the_window(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Originals recorded on earlier days: found within the window (PostgreSQL: ``DUPLICATE_WINDOW`` of the keys'
    partitions; SQLite: its unique index, forever); older than the window, recorded again on PostgreSQL."""
    db = running.state.db
    await price(running)
    today = id_at(NOW)
    day_ago, too_old = NOW - timedelta(days=1), NOW - DUPLICATE_WINDOW - timedelta(hours=2)
    yesterday = await _record(running, day_ago, request_id=id_at(day_ago), response_id="r-1")
    week_ago = await _record(running, too_old, request_id=id_at(too_old), response_id="r-8")
    again = await _record(running, NOW, request_id=today, response_id="r-1")
    assert again["duplicate_request"] is True and again["request_id"] == yesterday["request_id"]
    late = await _record(running, NOW, request_id=today + 1, response_id="r-8")
    # two copies in one batch: one recorded
    items = [_pending(running, NOW, request_id=today + 10 + n, response_id="r-twin") for n in range(2)]
    twins = await running.state.recorder.submit_many(items)
    assert [t["duplicate_request"] for t in twins if isinstance(t, dict)] == [False, True]
    if db.is_sqlite:
        assert late["duplicate_request"] is True and late["request_id"] == week_ago["request_id"]
        assert await _count(db, requests) == 3
    else:
        assert late["duplicate_request"] is False and late["request_id"] == str(today + 1)
        assert await _count(db, requests) == 4
        assert await _count(db, request_keys) == 4
        # the second copy of r-8 is the one the window finds from now on
        monkeypatch.setattr(batch, "utcnow", lambda: NOW + timedelta(minutes=1))
        third = await _record(running, NOW, request_id=today + 20, response_id="r-8")
        assert third["duplicate_request"] is True and third["request_id"] == str(today + 1)


async def test_partitions_are_created_ahead_and_the_default_partition_is_watched(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    db = running.state.db
    retention = running.state.retention
    assert retention is not None and running.state.sweeper is not None
    await price(running)
    if db.is_sqlite:
        async with db.write() as conn:
            assert await conn.run_sync(lambda c: partitions.ensure_days(c, NOW.date())) == []
        assert await retention.default_rows() == -1
        result = await running.state.sweeper.run_once()
        assert result is not None and result["partitions"] == 0 and "default_rows" not in result
        return
    # made at migration (server start): today and the next DAYS_AHEAD days, and a DEFAULT partition
    for table in TABLES:
        found = await _partitions(db, table)
        assert any(p.default for p in found)
        for n in range(DAYS_AHEAD + 1):
            low, high = day_range(NOW.date() + timedelta(days=n))
            assert len([p for p in found if p.overlaps(low, high)]) == 1
    # the last day's partitions gone (as if nobody had made them): a row of that day lands in DEFAULT
    last = NOW.date() + timedelta(days=DAYS_AHEAD)
    async with db.write() as conn:
        await conn.execute(text("DROP TABLE " + ", ".join(f"{t}_p{last:%Y%m%d}" for t in TABLES)))
    stray = day_range(last)[0] + 5
    await _record(running, NOW, request_id=stray, response_id="stray", prompt=True)
    assert await _partition_of(db, "requests", "id", stray) == "requests_default"
    with caplog.at_level(logging.WARNING, "payi_server.retention"):
        assert await retention.default_rows() == 1
    assert "1 rows in the DEFAULT partition" in caplog.text
    # the sweep makes the day again and moves the row into it; the gauge shows DEFAULT empty
    result = await running.state.sweeper.run_once()
    assert result is not None and result["default_rows"] == 0
    name = f"p{last:%Y%m%d}"
    assert await _partition_of(db, "requests", "id", stray) == f"requests_{name}"
    assert await _partition_of(db, "request_keys", "request_id", stray) == f"request_keys_{name}"
    assert await _partition_of(db, "request_payloads", "request_id", stray) == f"request_payloads_{name}"
    metrics = (await running.client.get("/metrics")).text
    assert "payi_request_log_default_partition_rows 0.0" in metrics
    got = await running.client.get(f"/api/v1/requests/provider/{CATEGORY}/stray/result", headers=running.headers())
    assert got.status_code == 200 and got.json()["xproxy_result"]["request_id"] == str(stray)


async def _partitioned_since(db: Database, start: datetime) -> None:
    """As on a server partitioned since ``start``: the (empty) legacy partitions end there, days from there on."""
    async with db.write() as conn:
        for table in TABLES:
            await conn.execute(text(f"ALTER TABLE {table} DETACH PARTITION {table}_legacy"))
            await conn.execute(text(
                f"ALTER TABLE {table} ATTACH PARTITION {table}_legacy "
                f"FOR VALUES FROM (MINVALUE) TO ({day_range(start.date())[0]})"
            ))
        days = (NOW.date() - start.date()).days
        await conn.run_sync(lambda c: partitions.ensure_days(c, start.date(), days))


async def test_retention_drops_whole_expired_days_and_reports_stay_exact(running: Running) -> None:
    """Days every application's retention has expired are dropped whole (PostgreSQL); what else expired (a shorter
    retention, an event back-dated at ingest) leaves by the batches; an application kept forever keeps every day."""
    db = running.state.db
    await price(running)
    if not db.is_sqlite:
        await _partitioned_since(db, NOW - timedelta(days=50))
    short_id, _key = await create_app(running, "short")
    short = int(short_id)
    limit = await _limit(running, "team")

    def ago(days: float) -> datetime:
        return NOW - timedelta(days=days)

    # the default application: 4 requests ingested 40 and 35 days ago (with a limit, prompts, response ids), one
    # ingested 20 days ago, one ingested today but back-dated 45 days
    for n, days in enumerate((40, 40, 35, 35)):
        await _record(running, ago(days), request_id=id_at(ago(days)) + n, response_id=f"d{n}", limit_ids=[limit],
                      prompt=True, user_id="ann")
    recent = await _record(running, ago(20), request_id=id_at(ago(20)), user_id="bob")
    backdated = await _record(running, ago(45), user_id="bob")
    # the short application (10 days): one of 40 days, one of 15
    await _record(running, ago(40), request_id=id_at(ago(40)) + 7, app_id=short)
    await _record(running, ago(15), request_id=id_at(ago(15)), app_id=short)
    before = await _reports(running)
    assert await _count(db, requests) == 8

    retention = Retention(db, Defaults(request_days=30), batch_size=2, pause=0)
    await retention.set(short, {"request_days": 0})  # kept forever: no day can be dropped
    first = await retention.sweep()
    assert first["partitions"] == 0
    assert first["requests"] == 5  # the default application's 40, 35 and back-dated rows, in batches
    await retention.set(short, {"request_days": 10})
    await _record(running, ago(40), request_id=id_at(ago(40)) + 9, app_id=short, response_id="s40")
    before = await _reports(running)
    second = await retention.sweep()
    assert second["requests"] == 3  # the short application's row of 40 days, the new one, and the one of 15
    if not db.is_sqlite:
        assert second["partitions"] >= 1
        for table in TABLES:
            assert not [p for p in await _partitions(db, table) if p.name.endswith(f"p{ago(40):%Y%m%d}")]
        assert await _count(db, request_keys, request_keys.c.request_id < id_at(ago(30))) == 0
    else:
        assert second["partitions"] == 0
    assert await _count(db, requests) == 1
    left = (await running.client.get(f"/api/v1/requests/{recent['request_id']}/result", headers=running.headers()))
    assert left.status_code == 200
    gone = await running.client.get(f"/api/v1/requests/{backdated['request_id']}/result", headers=running.headers())
    assert gone.status_code == 404
    assert await _count(db, request_payloads) == 0 and await _count(db, request_limits) == 0
    assert await _reports(running) == before
    assert (await retention.sweep())["requests"] == 0


async def test_reports_are_the_same_before_and_after_a_partition_is_dropped(running: Running) -> None:
    db = running.state.db
    await price(running)
    if not db.is_sqlite:
        await _partitioned_since(db, NOW - timedelta(days=50))
    limit = await _limit(running, "team")
    for days in (45, 44, 33, 5):
        for n in range(3):
            at = NOW - timedelta(days=days, hours=n)
            await _record(
                running, at, request_id=id_at(at), response_id=f"r{days}-{n}", limit_ids=[limit], user_id=f"u{n}",
                account_name="acme", properties={"team": "red" if n else "blue"}, prompt=True,
            )
    before = await _reports(running)
    expired = 0
    if not db.is_sqlite:  # every day before the cutoff (most of them empty) and the (empty) legacy part
        before_id = id_at(NOW - timedelta(days=30) - EVENT_LEAD)
        expired = len([p for p in await _partitions(db, "requests") if p.high is not None and p.high <= before_id])
        assert expired >= 3
    removed = await Retention(db, Defaults(request_days=30), pause=0).sweep()
    assert removed["requests"] == 9 and removed["payloads"] == 9 and removed["partitions"] == expired
    assert await _count(db, requests) == 3
    assert await _reports(running) == before


async def test_a_long_read_of_the_log_does_not_queue_the_recorder_behind_partition_work(running: Running) -> None:
    """Creating or dropping a partition takes its parent's exclusive lock, which waits for a long read (an export)
    while every insert waits behind it: both give up after their lock timeout and are done by a later call."""
    db = running.state.db
    await price(running)
    last = NOW.date() + timedelta(days=DAYS_AHEAD)
    if db.is_sqlite:
        async with db.write() as conn:
            assert await conn.run_sync(partitions.ensure_days, last) == []
        return
    async with db.write() as conn:
        await conn.execute(text("DROP TABLE " + ", ".join(f"{t}_p{last:%Y%m%d}" for t in TABLES)))
    engine = create_async_engine(running.state.settings.sqlalchemy_url)
    try:
        async with engine.connect() as reader:
            await reader.execute(text("SELECT count(*) FROM requests"))  # holds the log until its transaction ends
            async with db.write() as conn:  # the tables the reader does not hold get their day
                made = await conn.run_sync(lambda c: partitions.ensure_days(c, NOW.date(), lock_timeout_ms=50))
            assert sorted(made) == sorted(f"{t}_p{last:%Y%m%d}" for t in TABLES if t != "requests")
            async with db.write() as conn:
                expired = await conn.run_sync(partitions.expired_days, id_at(NOW))
                assert expired
                assert await conn.run_sync(lambda c: partitions.drop_day(c, expired[0], lock_timeout_ms=50)) is None
            # the recorder goes on meanwhile
            recorded = await _record(running, NOW, response_id="during")
            assert recorded["duplicate_request"] is False
            await reader.rollback()
    finally:
        await engine.dispose()
    async with db.write() as conn:
        created = await conn.run_sync(partitions.ensure_days, NOW.date())
    assert created == [f"requests_p{last:%Y%m%d}"]


async def test_writes_go_on_while_the_migration_runs(running: Running) -> None:
    """Migration 0010 on a database being written: every insert of a writer running throughout succeeds (the
    checks are validated while it writes; the rename and attach hold the tables for a moment), none is lost."""
    db = running.state.db
    await price(running)
    url = running.state.settings.sqlalchemy_url
    await _downgrade_to_0009(url)
    app_id = int(running.boot.app["app_id"])
    writer = Database(url, pool_size=1)
    done = asyncio.Event()
    written: list[int] = []

    async def write() -> None:
        base = id_at(datetime.now(UTC))
        while not done.is_set():
            at, n = datetime.now(UTC), len(written)
            async with writer.write() as conn:  # one row at a time, with its response id
                await conn.execute(requests.insert().values(
                    id=base + n, app_id=app_id, source="ingest", category=CATEGORY, resource="m1",
                    event_timestamp=at, ingest_timestamp=at, units={}, cost_input=0, cost_output=0, cost_total=0,
                    unpriced=False, failed=False, blocked=False, provider_response_id=f"w-{n}",
                ))
            written.append(base + n)
            await asyncio.sleep(0.005)

    during: list[int] = []

    async def migrate_then_stop() -> None:
        await asyncio.sleep(0.1)  # the writer is writing
        first = len(written)
        try:
            await migrate(url)
        finally:
            during.append(len(written) - first)
            done.set()

    try:
        await asyncio.gather(write(), migrate_then_stop())
    finally:
        await writer.dispose()
    assert await _count(db, requests, requests.c.id.in_(written)) == len(written)
    assert during[0] > 0, "nothing was written while the migration ran"
    if not db.is_sqlite:
        assert {await _partition_of(db, "requests", "id", i) for i in written} == {"requests_legacy"}
        assert await _count(db, text("requests_default")) == 0
        # every row's key: copied, or added by the migration's trigger while the copy ran; only the rows written
        # once the migration took its lock (the last few of this writer, a plain INSERT) come after the trigger: a
        # server of the previous version cannot write them (its ON CONFLICT names the index that is gone), and the
        # new version writes the keys itself
        async with db.read() as conn:
            keyed = set((await conn.execute(select(request_keys.c.request_id))).scalars())
        missing = [i for i in written if i not in keyed]
        assert missing == written[len(written) - len(missing):] and len(missing) <= 3, (len(written), missing)


async def test_a_page_of_the_request_log_reads_only_the_days_of_its_range(running: Running) -> None:
    """The page query bounds ``id`` below by its range's start (less ``EVENT_LEAD``): PostgreSQL leaves out the
    partitions of the days before it; rows back-dated at ingest (a later id) are still found."""
    db = running.state.db
    await price(running)
    if not db.is_sqlite:
        await _partitioned_since(db, NOW - timedelta(days=20))
    old = await _record(running, NOW - timedelta(days=10), request_id=id_at(NOW - timedelta(days=10)))
    backdated = await _record(running, NOW - timedelta(days=3))  # ingested now
    recent = await _record(running, NOW - timedelta(hours=1), request_id=id_at(NOW - timedelta(hours=1)))
    scope = Scope(org_id=running.boot.org_id, app_ids=(int(running.boot.app["app_id"]),))
    query = LogQuery(start=NOW - timedelta(days=4), end=NOW + timedelta(hours=1), filters={})
    rows = await read_page(db, scope, query, None, 10)
    assert [str(r["id"]) for r in rows] == [backdated["request_id"], recent["request_id"]]
    assert old["request_id"] not in {str(r["id"]) for r in rows}
    if not db.is_sqlite:
        stmt = _page_statement(scope.app_ids, query, None, 10)
        async with db.read() as conn:
            sql = str(stmt.compile(conn.sync_connection, compile_kwargs={"literal_binds": True}))
            plan = "\n".join(r[0] for r in (await conn.execute(text("EXPLAIN " + sql))).all())
        assert f"requests_p{NOW - timedelta(days=3):%Y%m%d}" in plan and f"requests_p{NOW:%Y%m%d}" in plan
        assert f"requests_p{NOW - timedelta(days=10):%Y%m%d}" not in plan and "requests_legacy" not in plan


async def test_a_month_of_expired_days_leaves_in_one_statement_or_not_at_all(running: Running) -> None:
    """``RequestLog.drop_before`` drops up to ``DROP_DAYS_AT_ONCE`` days of all four tables in one statement; when a
    long read holds the log, none of them goes (the next sweep tries again)."""
    db = running.state.db
    if db.is_sqlite:
        assert await db.request_log.drop_before(NOW + timedelta(days=40)) == []
        return
    async with db.write() as conn:
        await conn.run_sync(lambda c: partitions.ensure_days(c, NOW.date(), days_ahead=45))
    cutoff = NOW + timedelta(days=40)
    async with db.read() as conn:
        expired = await conn.run_sync(partitions.expired_days, id_at(cutoff - EVENT_LEAD))
    assert len(expired) > partitions.DROP_DAYS_AT_ONCE  # two statements

    engine = create_async_engine(running.state.settings.sqlalchemy_url)
    try:
        async with engine.connect() as reader:
            await reader.execute(text("SELECT count(*) FROM request_payloads"))
            async with db.write() as conn:
                dropped = await conn.run_sync(lambda c: partitions.drop_days(c, expired[:5], lock_timeout_ms=50))
            assert dropped == []
            await reader.rollback()
    finally:
        await engine.dispose()
    assert {p.name for p in await _partitions(db, "request_payloads")} >= {
        p.name.replace("requests", "request_payloads", 1) for p in expired[:5]
    }

    dropped = await db.request_log.drop_before(cutoff)
    assert [name for name, _rows in dropped] == [p.name for p in expired]
    for table in TABLES:
        left = {p.name for p in await _partitions(db, table)}
        assert not left & {p.name.replace("requests", table, 1) for p in expired}
