"""A revoked or regenerated key stops working in every server process within one second."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from ..conftest import TEST_SECRET, pg_base_url
from .servers import run_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _refused_within(url: str, key: str, limit: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < limit + 2:
        if httpx2.get(url + "/api/v1/whoami", headers={"xProxy-api-key": key}).status_code == 401:
            return time.monotonic() - start
        time.sleep(0.02)
    return float("inf")


def _wait_for_subscribers(channel: str, count: int, timeout: float = 10.0) -> None:
    """Until ``count`` processes subscribe to the Redis change channel (instead of sleeping and hoping)."""
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) >= count:
                return
            time.sleep(0.02)
    finally:
        client.close()
    raise AssertionError(f"{channel}: fewer than {count} subscribers after {timeout} s")


def test_revocation_reaches_another_process_within_a_second(tmp_path: Path, make_database: Any) -> None:
    if not pg_base_url():
        pytest.skip("needs PAYI_TEST_DATABASE_URL")
    env = {"PAYI_SERVER_DATABASE_URL": make_database("postgresql"), "PAYI_SERVER_SECRET_KEY": TEST_SECRET}
    with run_server(tmp_path / "a", env) as a, run_server(tmp_path / "b", env) as b:
        org = {"xProxy-api-key": a.keys["org"]}
        slot1, slot2 = a.keys["app1"], a.keys["app2"]
        # warm process B's cache with both keys
        for key in (slot1, slot2):
            assert httpx2.get(b.url + "/api/v1/whoami", headers={"xProxy-api-key": key}).status_code == 200

        # regenerate slot 1 through process A: B refuses the old key within a second, keeps slot 2
        apps = httpx2.get(a.url + "/api/v1/admin/applications", headers=org).json()["items"]
        app_id = apps[0]["app_id"]
        response = httpx2.post(a.url + f"/api/v1/admin/applications/{app_id}/keys/1/regenerate", headers=org)
        new1 = response.json()["key"]["key"]
        assert _refused_within(b.url, slot1, 1.0) < 1.0
        assert httpx2.get(b.url + "/api/v1/whoami", headers={"xProxy-api-key": slot2}).status_code == 200
        assert httpx2.get(b.url + "/api/v1/whoami", headers={"xProxy-api-key": new1}).status_code == 200

        # revoke slot 2 through A
        keys = httpx2.get(a.url + "/api/v1/admin/keys", headers=org).json()["items"]
        slot2_id = next(k["key_id"] for k in keys if k["slot"] == 2)
        httpx2.post(a.url + f"/api/v1/admin/keys/{slot2_id}/revoke", headers=org).raise_for_status()
        assert _refused_within(b.url, slot2, 1.0) < 1.0


def test_with_redis_revocation_is_announced_not_polled(tmp_path: Path, make_database: Any) -> None:
    """With Redis, a change is announced to every process at once: even with a slow database poll (5 s here),
    the other process refuses the revoked key within a fraction of a second."""
    import socket
    import uuid

    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", 6379)) != 0:
            pytest.skip("needs Redis at 127.0.0.1:6379")
    if not pg_base_url():
        pytest.skip("needs PAYI_TEST_DATABASE_URL")
    env = {
        "PAYI_SERVER_DATABASE_URL": make_database("postgresql"),
        "PAYI_SERVER_SECRET_KEY": TEST_SECRET,
        "PAYI_SERVER_KEY_REFRESH_INTERVAL": "5",
        "PAYI_SERVER_REDIS_URL": "redis://127.0.0.1:6379/0",
        "PAYI_SERVER_REDIS_PREFIX": f"payi-test-{uuid.uuid4().hex[:8]}",
    }
    with run_server(tmp_path / "a", env) as a, run_server(tmp_path / "b", env) as b:
        org = {"xProxy-api-key": a.keys["org"]}
        slot2 = a.keys["app2"]
        assert httpx2.get(b.url + "/api/v1/whoami", headers={"xProxy-api-key": slot2}).status_code == 200
        keys = httpx2.get(a.url + "/api/v1/admin/keys", headers=org).json()["items"]
        slot2_id = next(k["key_id"] for k in keys if k["slot"] == 2)
        _wait_for_subscribers(env["PAYI_SERVER_REDIS_PREFIX"] + ":changes", 2)  # a's and b's feeds listen
        httpx2.post(a.url + f"/api/v1/admin/keys/{slot2_id}/revoke", headers=org).raise_for_status()
        assert _refused_within(b.url, slot2, 1.0) < 0.5
