"""Retention on SQLite and PostgreSQL: expired request rows and payloads leave in bounded batches, under one lease,
and every report and limit over the expired period stays exactly as it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from payi_server.store.engine import Database
from payi_server.store.retention import LEASE_NAME, Defaults, Lease, Policy, Retention, run_sweep
from payi_server.store.tables import maintenance_leases, request_limits, request_payloads, requests

from ...conftest import Running
from ..reports.data import create_app, event, ingest, price, report

NOW = datetime.now(UTC).replace(microsecond=0)


def _ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


async def _count(db: Database, table: Any, *where: Any) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


async def _limit(running: Running, name: str, key: str | None = None) -> str:
    response = await running.client.post(
        "/api/v1/limits", json={"limit_name": name, "max": 1000}, headers=running.headers(key)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["limit"]["limit_id"])


async def _limit_state(running: Running, limit_id: str, key: str | None = None) -> Any:
    response = await running.client.get(f"/api/v1/limits/{limit_id}", headers=running.headers(key))
    assert response.status_code == 200, response.text
    body = response.json()
    body.pop("request_id", None)
    return body


async def _reports(running: Running) -> list[Any]:
    window = {"start": _ago(100), "end": (NOW + timedelta(hours=2)).isoformat()}
    out = []
    for params in (
        {"bucket": "hour", "group_by": "application,user,account,resource"},
        {"bucket": "day", "group_by": "application,limit"},
        {"bucket": "total", "group_by": "application,property:team"},
        {"bucket": "month", "tz": "Europe/Paris"},
    ):
        body = await report(running, running.org_key, **window, **params)
        body.pop("request_id", None)
        out.append(body)
    return out


async def test_sweep_removes_expired_rows_in_batches_and_reports_stay_exact(running: Running) -> None:
    db = running.state.db
    await price(running)
    keeper_id, keeper_key = await create_app(running, "keeper")
    await running.state.tenancy.update_application(running.boot.org_id, int(keeper_id), store_prompts=True)
    await running.state.changes.poll_once()
    default_limit = await _limit(running, "team-default")
    keeper_limit = await _limit(running, "team-keeper", keeper_key)
    prompt = {"provider_request_json": '{"messages": ["hello"]}'}
    # keeper: 5 requests 60 days old, 4 of 20 days, 3 of 2 days; every one with a limit and a stored prompt
    keeper_events = [
        event(_ago(days), 1000 * (i + 1), user_id=f"u{i % 2}", account_name="acme", limit_ids=[keeper_limit],
              properties={"team": "red" if i % 2 else "blue"}, **prompt)
        for days, n in ((60, 5), (20, 4), (2, 3))
        for i in range(n)
    ]
    await ingest(running, keeper_events, keeper_key)
    # default application: kept forever (server default), 3 old requests
    await ingest(running, [event(_ago(90), 1000, user_id="d", limit_ids=[default_limit]) for _ in range(3)])
    keeper = int(keeper_id)
    assert await _count(db, requests, requests.c.app_id == keeper) == 12
    assert await _count(db, request_payloads, request_payloads.c.app_id == keeper) == 12
    before = await _reports(running)
    limits_before = [await _limit_state(running, keeper_limit, keeper_key), await _limit_state(running, default_limit)]

    retention = Retention(db, Defaults(), batch_size=2, pause=0)
    await retention.set(keeper, {"request_days": 30, "payload_days": 7})
    assert (await retention.get(keeper)).view() == {
        "application_id": keeper_id,
        "request_days": 30,
        "payload_days": 7,
        "effective_request_days": 30,
        "effective_payload_days": 7,
    }
    lease = Lease(db, LEASE_NAME, owner=1)
    renewals = 0

    async def renew() -> bool:
        nonlocal renewals
        renewals += 1
        return await lease.renew()

    assert await lease.acquire()
    removed = await retention.sweep(renew=renew)
    await lease.release(removed)
    # 5 request rows (and their 5 payloads), then the 4 payloads of 20 days; batches of 2
    assert removed == {"applications": 1, "requests": 5, "payloads": 9, "partitions": 0}
    assert renewals == 2 + 2  # after each full batch: 2,2,(1) requests and 2,2,(0) payloads
    assert await _count(db, requests, requests.c.app_id == keeper) == 7
    assert await _count(db, requests, requests.c.event_timestamp < NOW - timedelta(days=30), requests.c.app_id == keeper) == 0
    assert await _count(db, request_payloads) == 3
    assert await _count(db, request_payloads, request_payloads.c.event_timestamp < NOW - timedelta(days=7)) == 0
    assert await _count(db, requests, requests.c.app_id != keeper) == 3  # kept forever
    async with db.read() as conn:
        orphans = (
            await conn.execute(
                select(func.count()).select_from(request_limits).where(request_limits.c.request_id.not_in(select(requests.c.id)))
            )
        ).scalar_one()
    assert orphans == 0
    assert await _count(db, request_limits) == 7 + 3

    assert await _reports(running) == before
    limits_after = [await _limit_state(running, keeper_limit, keeper_key), await _limit_state(running, default_limit)]
    assert limits_after == limits_before
    # A second sweep finds nothing; the lease row remembers the last run.
    assert await retention.sweep() == {"applications": 0, "requests": 0, "payloads": 0, "partitions": 0}
    status = await lease.status()
    assert status is not None and status["running"] is False and status["result"]["requests"] == 5


async def test_server_default_and_per_application_override(running: Running) -> None:
    db = running.state.db
    await price(running)
    other_id, other_key = await create_app(running, "forever")
    await ingest(running, [event(_ago(40), 1000), event(_ago(5), 1000)])
    await ingest(running, [event(_ago(40), 1000)], other_key)
    retention = Retention(db, Defaults(request_days=30, payload_days=0), pause=0)
    await retention.set(int(other_id), {"request_days": 0})  # this one keeps everything
    policies = {p.app_id: p for p in await retention.policies()}
    assert policies[int(other_id)].request_days == 0 and policies[int(running.boot.app["app_id"])].request_days == 30
    assert retention.last_timings == {}
    assert await retention.sweep() == {"applications": 1, "requests": 1, "payloads": 0, "partitions": 0}
    # what the sweep's two parts took (the benchmark and the log report them)
    assert set(retention.last_timings) == {"partitions", "batches"}
    assert all(0 <= seconds < 60 for seconds in retention.last_timings.values())
    assert await _count(db, requests, requests.c.app_id == int(other_id)) == 1
    assert await _count(db, requests, requests.c.app_id == int(running.boot.app["app_id"])) == 1
    # Back to the default (None): the next sweep applies the server's 30 days to it too.
    await retention.set(int(other_id), {"request_days": None})
    assert (await retention.sweep())["requests"] == 1


def test_payloads_never_outlive_their_requests() -> None:
    assert Policy(1, 10, None, Defaults(0, 0)).payload_days == 10
    assert Policy(1, 10, 30, Defaults(0, 0)).payload_days == 10
    assert Policy(1, None, 3, Defaults(10, 0)).payload_days == 3
    assert Policy(1, 0, None, Defaults(10, 5)).payload_days == 5
    assert Policy(1, None, None, Defaults(0, 0)).view()["effective_request_days"] is None


async def test_one_process_sweeps_at_a_time(running: Running) -> None:
    db = running.state.db
    retention = Retention(db, Defaults(request_days=1), pause=0)
    a, b = Lease(db, "test", owner=1, ttl=60), Lease(db, "test", owner=2, ttl=60)
    assert await a.acquire()
    assert not await b.acquire() and not await b.renew()
    assert await a.acquire() and await a.renew()  # its own lease: renewed
    await a.release({"done": 1})
    assert await b.acquire()
    await b.release({"done": 2})
    # A run that finished lately is not repeated by a scheduled one, but is by an explicit one.
    assert not await a.acquire(not_since=timedelta(hours=1))
    assert await a.acquire(not_since=timedelta(seconds=0))
    await a.release()
    # A dead holder's lease is taken over once it expired.
    async with db.write() as conn:
        await conn.execute(
            maintenance_leases.update()
            .where(maintenance_leases.c.name == "test")
            .values(owner=3, expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert await b.acquire()
    # run_sweep: None while another holds the retention lease.
    holder = Lease(db, LEASE_NAME, owner=9)
    assert await holder.acquire()
    assert await run_sweep(retention, Lease(db, LEASE_NAME, owner=10)) is None
    await holder.release()
    result = await run_sweep(retention, Lease(db, LEASE_NAME, owner=10))
    assert result is not None and result["requests"] == 0


async def test_the_servers_sweeper_runs_once_per_interval(running: Running) -> None:
    sweeper = running.state.sweeper
    assert sweeper is not None and sweeper.interval == running.state.settings.retention_interval
    assert await sweeper.run_once() is not None
    assert await sweeper.run_once() is None  # ran less than an interval ago


async def test_admin_api(running: Running, tmp_path: Path) -> None:
    app_id = int(running.boot.app["app_id"])
    url = f"/api/v1/admin/applications/{app_id}/retention"
    org = running.headers(running.org_key)
    got = await running.client.get(url, headers=org)
    assert got.status_code == 200 and got.json()["retention"]["request_days"] is None
    put = await running.client.put(url, json={"request_days": 90, "payload_days": 14}, headers=org)
    assert put.status_code == 200, put.text
    assert put.json()["retention"] == {
        "application_id": str(app_id),
        "request_days": 90,
        "payload_days": 14,
        "effective_request_days": 90,
        "effective_payload_days": 14,
    }
    partial = await running.client.put(url, json={"payload_days": None}, headers=org)
    assert partial.json()["retention"]["request_days"] == 90 and partial.json()["retention"]["payload_days"] is None
    assert partial.json()["retention"]["effective_payload_days"] == 90
    for bad in ({"request_days": -1}, {"request_days": 36_501}, {"request_days": "x"}, {"days": 3}, {"request_days": 1.5}):
        response = await running.client.put(url, json=bad, headers=org)
        assert response.status_code == 400, (bad, response.text)
    assert (await running.client.get(url, headers=running.headers())).status_code == 403  # an application key
    for missing in ("999999", "abc"):
        response = await running.client.get(f"/api/v1/admin/applications/{missing}/retention", headers=org)
        assert response.status_code == 404


async def test_migration_gives_existing_payloads_their_requests_app_and_time(running: Running) -> None:
    from alembic import command
    from sqlalchemy.ext.asyncio import create_async_engine

    from payi_server.store.migrate import _config, migrate

    db = running.state.db
    await price(running)
    keeper_id, keeper_key = await create_app(running, "keeper")
    await running.state.tenancy.update_application(running.boot.org_id, int(keeper_id), store_prompts=True)
    await running.state.changes.poll_once()
    await ingest(running, [event(_ago(3), 1000, provider_request_json="{}")], keeper_key)
    url = running.state.settings.sqlalchemy_url
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(_config(c), "0005"))
        async with engine.begin() as conn:
            await conn.exec_driver_sql("INSERT INTO request_payloads (request_id, provider_request_json) VALUES (42, 'orphan')")
    finally:
        await engine.dispose()
    await migrate(url)
    async with db.read() as conn:
        rows = (await conn.execute(select(request_payloads))).all()
        recorded = (await conn.execute(select(requests.c.id, requests.c.event_timestamp))).one()
    assert [(r.request_id, r.app_id, r.event_timestamp) for r in rows] == [(recorded.id, int(keeper_id), recorded.event_timestamp)]


async def test_payloads_an_older_server_wrote_get_their_requests_time(running: Running) -> None:
    """During a rolling upgrade a server of the previous version writes payloads without app_id/event_timestamp."""
    db = running.state.db
    await price(running)
    await ingest(running, [event(_ago(20), 1000), event(_ago(1), 1000)])
    async with db.read() as conn:
        rows = (await conn.execute(select(requests.c.id, requests.c.event_timestamp).order_by(requests.c.event_timestamp))).all()
    async with db.write() as conn:
        await conn.execute(
            request_payloads.insert(),
            [{"request_id": r.id, "provider_request_json": "{}"} for r in rows] + [{"request_id": 7, "provider_request_json": "orphan"}],
        )
    retention = Retention(db, Defaults(payload_days=7), batch_size=2, pause=0)
    assert await retention.sweep() == {"applications": 1, "requests": 0, "payloads": 1, "partitions": 0}
    async with db.read() as conn:
        left = (await conn.execute(select(request_payloads))).all()
    app_id = int(running.boot.app["app_id"])
    assert [(r.request_id, r.app_id, r.event_timestamp) for r in left] == [(rows[1].id, app_id, rows[1].event_timestamp)]


async def test_ingest_goes_on_while_the_sweep_deletes(running: Running) -> None:
    """The sweep's batches interleave with the recorder's commits: every ingest is answered and recorded."""
    import asyncio

    db = running.state.db
    await price(running)
    await ingest(running, [event(_ago(50), 1000, user_id=f"u{i % 7}") for i in range(600)])
    retention = Retention(db, Defaults(request_days=30), batch_size=50, pause=0)

    async def keep_ingesting() -> int:
        done = 0
        for i in range(20):
            await ingest(running, [event(_ago(0.01), 1000, user_id=f"n{i}")])
            done += 1
        return done

    removed, ingested = await asyncio.gather(retention.sweep(), keep_ingesting())
    assert removed["requests"] == 600 and ingested == 20
    assert await _count(db, requests) == 20
    totals = await report(running, running.org_key, start=_ago(60), end=(NOW + timedelta(hours=2)).isoformat(), bucket="total")
    assert totals["totals"]["requests"] == 620


async def test_the_sweepers_counts_reach_the_metrics(running: Running) -> None:
    await price(running)
    await ingest(running, [event(_ago(40), 1000), event(_ago(40), 1000), event(_ago(1), 1000)])
    assert running.state.retention is not None and running.state.sweeper is not None
    await running.state.retention.set(int(running.boot.app["app_id"]), {"request_days": 30})
    result = await running.state.sweeper.run_once()
    assert result is not None and result["requests"] == 2
    text = (await running.client.get("/metrics")).text
    assert 'payi_retention_deleted_total{kind="requests"} 2.0' in text
    assert 'payi_retention_deleted_total{kind="payloads"} 0.0' in text
