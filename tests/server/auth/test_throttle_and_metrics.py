"""Brute force of keys is throttled per client address, across processes (429 + retry-after); /metrics reports
what happened."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from payi_server.app import create_app
from payi_server.auth.throttle import FailureThrottle
from payi_server.errors import ApiError

from payi_server.settings import Settings
from payi_server.store.engine import Database

from ...conftest import Running, bootstrap_database, make_settings


async def test_throttle_counts_per_source_and_window() -> None:
    now = [1_800_000_000.0]
    throttle = FailureThrottle(limit=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        await throttle.check("key:10.0.0.1")
        await throttle.failed("key:10.0.0.1")  # the third uses up the budget: still answered 401 by the caller
    for call in (throttle.check, throttle.failed):
        with pytest.raises(ApiError) as info:
            await call("key:10.0.0.1")
        assert info.value.status == 429
        assert info.value.headers is not None and info.value.headers["retry-after"] == "60"
    await throttle.check("key:10.0.0.2")  # another source is not affected
    now[0] += 59.5
    with pytest.raises(ApiError) as info:
        await throttle.check("key:10.0.0.1")
    assert info.value.headers is not None and info.value.headers["retry-after"] == "1"
    now[0] += 0.5  # the window has ended
    await throttle.check("key:10.0.0.1")
    await throttle.failed("key:10.0.0.1")


async def test_throttles_sharing_a_database_share_their_counts(settings: Settings) -> None:
    """Two processes' throttles on one table: the budget is the address's, wherever its failures land."""
    await bootstrap_database(settings)
    db = Database(settings.sqlalchemy_url, pool_size=2)
    try:
        now = [1_800_000_000.0]
        one, two = (FailureThrottle(limit=4, window=60, db=db, clock=lambda: now[0]) for _ in range(2))
        for throttle in (one, two, one, two):
            await throttle.failed("key:10.0.0.3")
        for throttle in (two, one):
            with pytest.raises(ApiError):
                await throttle.failed("key:10.0.0.3")
        fresh = FailureThrottle(limit=4, window=60, db=db, clock=lambda: now[0])
        with pytest.raises(ApiError):
            await fresh.check("key:10.0.0.3")
        now[0] += 60
        await fresh.check("key:10.0.0.3")
        await fresh.failed("key:10.0.0.3")
    finally:
        await db.dispose()


async def test_repeated_bad_keys_get_429_with_retry_after(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path / "data", auth_failure_limit=5, auth_failure_window=30)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        boot = await app.state.payi.tenancy.bootstrap()
        transport = httpx2.ASGITransport(app=app, client=("203.0.113.7", 5000))
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
            for _ in range(5):
                bad = await client.get("/api/v1/whoami", headers={"xProxy-api-key": "payi_app_guess"})
                assert bad.status_code == 401
            blocked = await client.get("/api/v1/whoami", headers={"xProxy-api-key": "payi_app_guess"})
            assert blocked.status_code == 429
            assert blocked.json()["xproxy_error"]["code"] == "too_many_failed_attempts"
            assert int(blocked.headers["retry-after"]) >= 1
        other = httpx2.ASGITransport(app=app, client=("198.51.100.9", 5000))
        async with httpx2.AsyncClient(transport=other, base_url="http://t") as client:
            ok = await client.get("/api/v1/whoami", headers={"xProxy-api-key": boot.app_keys[0].plaintext})
            assert ok.status_code == 200
            metrics = (await client.get("/metrics")).text
    assert "payi_auth_failures_total 6.0" in metrics
    assert "payi_auth_throttled_total 1.0" in metrics


async def test_metrics_report_recorded_cost(running: Running) -> None:
    body = {"category": "system.aws.bedrock", "resource": "anthropic.claude-3-haiku-20240307-v1:0",
            "units": {"text": {"input": 50, "output": 100}}}
    assert (await running.client.post("/api/v1/ingest", json=body, headers=running.headers())).status_code == 200
    text = (await running.client.get("/metrics")).text
    assert 'payi_cost_usd_total{category="system.aws.bedrock"} 0.0001375' in text
    assert 'payi_events_recorded_total{source="ingest"} 1.0' in text
    assert 'payi_http_requests_total{group="ingest",status="2xx"} 1.0' in text
    assert "payi_record_queue_depth" in text
