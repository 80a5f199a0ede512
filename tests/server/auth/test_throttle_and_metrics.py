"""Brute force of keys is throttled per client address (429 + retry-after); /metrics reports what happened."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from payi_server.app import create_app
from payi_server.auth.throttle import FailureThrottle
from payi_server.errors import ApiError

from ...conftest import Running, make_settings


def test_throttle_counts_per_address_and_window() -> None:
    throttle = FailureThrottle(limit=3, window=60)
    for _ in range(3):
        throttle.check("10.0.0.1")
        throttle.failed("10.0.0.1")
    with pytest.raises(ApiError) as info:
        throttle.check("10.0.0.1")
    assert info.value.status == 429
    assert info.value.headers is not None and 1 <= int(info.value.headers["retry-after"]) <= 60
    throttle.check("10.0.0.2")  # another address is not affected


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
            blocked = await client.get("/api/v1/whoami", headers={"xProxy-api-key": boot.app_keys[0].plaintext})
            assert blocked.status_code == 429
            assert blocked.json()["xproxy_error"]["code"] == "too_many_failed_attempts"
            assert int(blocked.headers["retry-after"]) >= 1
        other = httpx2.ASGITransport(app=app, client=("198.51.100.9", 5000))
        async with httpx2.AsyncClient(transport=other, base_url="http://t") as client:
            ok = await client.get("/api/v1/whoami", headers={"xProxy-api-key": boot.app_keys[0].plaintext})
            assert ok.status_code == 200
            metrics = (await client.get("/metrics")).text
    assert "payi_auth_failures_total 5.0" in metrics
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
