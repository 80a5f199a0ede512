"""Alerts, on SQLite and PostgreSQL, against a real HTTP receiver: one event per limit transition whatever the
number of workers, signed JSON and Slack bodies, retries with backoff, the endpoint's secret never in the log."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import timedelta

import httpx2
import orjson
from sqlalchemy import func, select

from payi_server.alerts.deliver import deliver_due, deliver_one
from payi_server.alerts.detect import Seen, detect, transitions
from payi_server.alerts.endpoints import AlertEndpoints, shown_url
from payi_server.store.changes import utcnow
from payi_server.store.engine import Database
from payi_server.store.tables import alert_deliveries, alert_events

from ...conftest import Running
from ..reports.data import event, ingest, price
from .receiver import receiver


def _signed(secret: str, headers: dict[str, str], body: bytes) -> bool:
    expected = hmac.new(secret.encode(), f"{headers['x-payi-timestamp']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["x-payi-signature"], f"sha256={expected}")


def test_transitions() -> None:
    ok = Seen("ok", False, "w1|")
    assert transitions(ok, Seen("exceeded", False, "w1|")) == ["exceeded"]
    assert transitions(ok, Seen("overrun", True, "w1|")) == ["overrun", "blocked"]
    assert transitions(Seen("overrun", True, "w1|"), Seen("ok", False, "w2|")) == ["reset"]
    assert transitions(Seen("overrun", True, "w1|"), Seen("exceeded", False, "w1|r")) == ["reset", "exceeded"]
    assert transitions(Seen("overrun", False, "w1|"), Seen("exceeded", False, "w1|")) == []  # max raised: no alert
    assert shown_url("https://hooks.slack.com/services/T0/B0/SECRET?x=1") == "https://hooks.slack.com/…"


async def test_one_event_per_transition_across_workers_signed_and_delivered(running: Running) -> None:
    await running.app.state.payi_alerts.stop()  # this test drives the workers itself
    await price(running)
    org = running.boot.org_id
    url = running.state.settings.sqlalchemy_url
    workers = [Database(url, pool_size=2) for _ in range(3)]  # three processes' pools on one database
    try:
        async with receiver() as hook:
            service = AlertEndpoints(running.state.db)
            json_endpoint, secret = await service.create(org, "ops", hook.url + "/json", "json")
            await service.create(org, "chat", hook.url + "/slack", "slack")
            response = await running.client.post(
                "/api/v1/limits", json={"limit_name": "team cap", "max": 2, "threshold": 0.75}, headers=running.headers()
            )
            limit_id = response.json()["limit"]["limit_id"]
            await asyncio.gather(*(detect(db) for db in workers))  # first sight, nothing spent: no event
            await ingest(running, [event(utcnow(), 1600, limit_ids=[limit_id])])  # $1.60 of $2: past 75%
            counts = await asyncio.gather(*(detect(db) for db in workers))
            assert sorted(counts) == [0, 0, 1]
            await ingest(running, [event(utcnow(), 1000, limit_ids=[limit_id])])  # $2.60: over the max
            assert sum(await asyncio.gather(*(detect(db) for db in workers))) == 1
            reset = await running.client.post(f"/api/v1/limits/{limit_id}/reset", headers=running.headers())
            assert reset.status_code == 200
            assert sum(await asyncio.gather(*(detect(db) for db in workers))) == 1
            assert sum(await asyncio.gather(*(detect(db) for db in workers))) == 0  # nothing new
            async with running.state.db.read() as conn:
                kinds = (await conn.execute(select(alert_events.c.kind).order_by(alert_events.c.id))).scalars().all()
            assert kinds == ["exceeded", "overrun", "reset"]

            async with httpx2.AsyncClient(timeout=10) as http:
                sent = await asyncio.gather(*(deliver_due(db, http) for db in workers))
            assert sum(sent) == 6  # three events to two endpoints, each delivered by one worker
            assert len(hook.received) == 6
            json_posts = [r for r in hook.received if r["path"] == "/json"]
            assert [orjson.loads(r["body"])["type"] for r in json_posts] == ["limit.exceeded", "limit.overrun",
                                                                           "limit.reset"]
            assert all(_signed(secret, r["headers"], r["body"]) for r in json_posts)
            assert not _signed("whsec_wrong", json_posts[0]["headers"], json_posts[0]["body"])
            overrun = orjson.loads(json_posts[1]["body"])
            assert overrun["limit"]["limit_id"] == limit_id and overrun["limit"]["spent"] == 2.6
            assert overrun["limit"]["percent"] == 130.0 and overrun["application"]["name"] == "default"
            slack = [orjson.loads(r["body"]) for r in hook.received if r["path"] == "/slack"]
            assert slack[1] == {"text": "Pay-i: limit 'team cap' of default is over its max: $2.60 of $2.00 (130.0%)"}
            assert len({r["headers"]["x-payi-delivery"] for r in json_posts}) == 3
            assert json_endpoint["secret"] not in str(await service.log(org))
    finally:
        for db in workers:
            await db.dispose()


async def test_failed_deliveries_are_retried_with_backoff(running: Running) -> None:
    await running.app.state.payi_alerts.stop()
    org = running.boot.org_id
    db = running.state.db
    async with receiver() as hook, httpx2.AsyncClient(timeout=10) as http:
        hook.answers = [500, 503]
        service = AlertEndpoints(db)
        endpoint, _secret = await service.create(org, "flaky", hook.url + "/hook", "json")
        delivery_id = await service.send_test(org, endpoint["id"])
        start = utcnow()
        assert await deliver_one(db, http, delivery_id, clock=lambda: start) == "pending"
        assert await deliver_due(db, http, clock=lambda: start + timedelta(seconds=5)) == 0  # not due yet
        assert await deliver_due(db, http, clock=lambda: start + timedelta(seconds=11)) == 1  # 503 again
        assert await deliver_due(db, http, clock=lambda: start + timedelta(seconds=35)) == 0  # 30 s after that
        assert await deliver_due(db, http, clock=lambda: start + timedelta(seconds=45)) == 1
        async with db.read() as conn:
            row = (await conn.execute(select(alert_deliveries).where(alert_deliveries.c.id == delivery_id))).one()
        assert (row.status, row.attempts, row.last_status) == ("sent", 3, 200)
        assert len(hook.received) == 3 and orjson.loads(hook.received[0]["body"])["type"] == "test"

        # an endpoint that never answers well: failed after the last attempt
        hook.answers = [500] * 20
        delivery_id = await service.send_test(org, endpoint["id"])
        later = start
        for _ in range(10):
            later += timedelta(hours=2)
            await deliver_due(db, http, clock=lambda at=later: at)  # type: ignore[misc]
        async with db.read() as conn:
            row = (await conn.execute(select(alert_deliveries).where(alert_deliveries.c.id == delivery_id))).one()
            total = (await conn.execute(select(func.count()).select_from(alert_deliveries))).scalar_one()
        assert (row.status, row.attempts, row.last_status) == ("failed", 7, 500) and total == 2


async def test_an_unreachable_or_odd_endpoint_is_a_failed_attempt_never_an_error(running: Running) -> None:
    await running.app.state.payi_alerts.stop()
    org = running.boot.org_id
    service = AlertEndpoints(running.state.db)
    for bad in ("http://127.0.0.1:99999/x", "ftp://example.com/", "http:///nohost", "https://" + "a" * 2001):
        try:
            await service.create(org, "bad", bad, "json")
        except Exception as exc:  # noqa: BLE001 - the refusal is an ApiError 400
            assert getattr(exc, "status", None) == 400, bad
        else:
            raise AssertionError(f"accepted {bad}")
    endpoint, _secret = await service.create(org, "closed", "http://127.0.0.1:9/", "slack")
    delivery_id = await service.send_test(org, endpoint["id"])
    async with httpx2.AsyncClient(timeout=5) as http:
        assert await deliver_one(running.state.db, http, delivery_id) == "pending"
    async with running.state.db.read() as conn:
        row = (await conn.execute(select(alert_deliveries).where(alert_deliveries.c.id == delivery_id))).one()
    assert row.attempts == 1 and row.last_status is None and row.last_error and row.lease_until is None
