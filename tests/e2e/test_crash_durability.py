"""No answered call is lost: ``kill -9`` a server (supervisor and workers) under proxied load, restart it on the
same data directory and database, and every call a client got an answer for is in the request log exactly once;
the limit's money balances, and the dead process's budget leases return to the limit."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select

from payi_server.store.engine import Database
from payi_server.store.tables import limit_reservations, limits, request_limits, requests
from tests.conftest import TEST_SECRET, pg_base_url
from tests.fakes.config import FakeConfig
from tests.fakes.serve import serve_app
from tests.fakes.upstream import create_app as create_fake

from .servers import run_server
from .test_limit_concurrency import add_block_limit

pytestmark = pytest.mark.slow

REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "count to three"}], "max_tokens": 20}
THREADS = 16
LEASE_TTL = 2


def _async_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://").replace("sqlite:///", "sqlite+aiosqlite:///")


async def _state(url: str) -> dict[str, Any]:
    db = Database(url, pool_size=1)
    try:
        async with db.read() as conn:
            ids = [r.id for r in (await conn.execute(select(requests.c.id))).all()]
            limit = (await conn.execute(select(limits))).one()
            charged = (
                await conn.execute(
                    select(func.coalesce(func.sum(requests.c.cost_total), 0)).select_from(
                        requests.join(request_limits, request_limits.c.request_id == requests.c.id)
                    )
                )
            ).scalar_one()
            leased = (await conn.execute(select(func.coalesce(func.sum(limit_reservations.c.amount), 0)))).scalar_one()
            leases = (await conn.execute(select(func.count()).select_from(limit_reservations))).scalar_one()
    finally:
        await db.dispose()
    return {"ids": ids, "limit": limit, "charged": Decimal(charged), "leased": Decimal(leased), "leases": leases}


def _load(url: str, key: str, stop: threading.Event, answered: list[str], with_limit: bool) -> None:
    headers = {"xProxy-Api-Key": key, "authorization": "Bearer sk-test"}
    if with_limit:
        headers["xProxy-Limit-IDs"] = "team"
    with httpx2.Client(timeout=5) as client:
        while not stop.is_set():
            try:
                response = client.post(f"{url}/api/v1/proxy/openai/v1/chat/completions", json=REQUEST, headers=headers)
            except httpx2.HTTPError:
                continue  # the server died under this call: no answer, nothing to check
            if response.status_code == 200:
                answered.append(response.json()["xproxy_result"]["request_id"])


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_under_load_loses_no_answered_call(tmp_path: Path, make_database: Any, backend: str) -> None:
    if backend == "postgresql" and not pg_base_url():
        pytest.skip("needs PAYI_TEST_DATABASE_URL")
    database_url = make_database(backend)
    async_url = _async_url(database_url)
    with serve_app(create_fake(FakeConfig())) as fake_url:
        env = {
            "PAYI_SERVER_DATABASE_URL": database_url,
            "PAYI_SERVER_SECRET_KEY": TEST_SECRET,
            "PAYI_SERVER_OPENAI_BASE_URL": fake_url + "/v1",
            "PAYI_SERVER_ALLOW_PRIVATE_PROVIDER_HOSTS": "true",
            "PAYI_SERVER_ACCESS_LOG": "false",
            "PAYI_SERVER_LEASE_TTL": str(LEASE_TTL),
            "PAYI_SERVER_WORKERS": "2" if backend == "postgresql" else "1",
        }
        answered: list[str] = []
        with run_server(tmp_path, env) as server:
            key = server.keys["app1"]
            app_id = int(httpx2.get(server.url + "/api/v1/whoami", headers={"xProxy-api-key": key}).json()["app_id"])
            asyncio.run(add_block_limit(async_url, app_id, Decimal(1000), "strict", "team"))
            stop = threading.Event()
            threads = [
                threading.Thread(target=_load, args=(server.url, key, stop, answered, i % 2 == 0))
                for i in range(THREADS)
            ]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 20
            while len(answered) < 600 and time.monotonic() < deadline:
                time.sleep(0.05)
            os.killpg(server.process.pid, signal.SIGKILL)  # supervisor and workers, mid-load
            server.process.wait()
            stop.set()
            for thread in threads:
                thread.join()
        assert len(answered) >= 100, "the load never got going"
        crashed = asyncio.run(_state(async_url))
        # The restart records what the dead processes answered but had not recorded (from their journals).
        with run_server(tmp_path, env):
            time.sleep(LEASE_TTL + 0.5)  # the dead processes' leases expire ...
            after_restart = asyncio.run(_state(async_url))
        recovered = asyncio.run(_state(async_url))  # ... and the clean stop returned the new ones

    recorded = recovered["ids"]
    assert len(recorded) == len(set(recorded)), "a call was recorded twice"
    missing = set(int(i) for i in answered) - set(recorded)
    assert not missing, f"{len(missing)} answered calls were never recorded ({len(crashed['ids'])} before restart)"
    limit = recovered["limit"]
    assert limit.spent_total == recovered["charged"]  # the limit's spend is the sum of its requests' costs
    assert limit.spent_total + after_restart["leased"] <= limit.max
    assert recovered["leases"] == 0 and limit.reserved == 0  # nothing stranded: dead leases reclaimed, live ones returned
