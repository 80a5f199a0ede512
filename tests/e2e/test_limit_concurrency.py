"""Budgets that hold under concurrency: 200 concurrent proxied calls against one block limit that covers 20,
through 3 server processes on one PostgreSQL database (and 1 process on SQLite)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select

from payi_server.pricing.cost import price_units
from payi_server.pricing.catalog import Catalog
from payi_server.pricing.seed import load_seed
from payi_server.proxy.estimate import input_tokens
from payi_server.store.changes import utcnow
from payi_server.store.engine import Database
from payi_server.store.tables import limit_reservations, limits, request_limits, requests
from tests.conftest import TEST_SECRET, pg_base_url
from tests.fakes.config import FakeConfig
from tests.fakes.serve import serve_app
from tests.fakes.upstream import create_app as create_fake

from .servers import ServerProcess, run_server, stop

pytestmark = pytest.mark.slow

MODEL = "gpt-4o-mini"
MAX_TOKENS = 50
REQUEST = {"model": MODEL, "messages": [{"role": "user", "content": "how much is the fish"}], "max_tokens": MAX_TOKENS}
CALLS = 200
COVERED = 20


def _call_cost() -> tuple[Decimal, dict[str, int]]:
    """Usage that equals the reservation estimate, so one call's cost is exactly what it reserves."""
    usage = {"prompt_tokens": input_tokens(MODEL, REQUEST, 0), "completion_tokens": MAX_TOKENS}
    version = Catalog(load_seed()).resolve("system.openai", MODEL, utcnow())
    assert version is not None
    units = {"text": {"input": usage["prompt_tokens"], "output": MAX_TOKENS}}
    return price_units(units, version.units).total, usage


@contextmanager
def _servers(tmp_path: Path, database_url: str, count: int, redis_url: str = "") -> Iterator[list[ServerProcess]]:
    with serve_app(create_fake(FakeConfig())) as fake_url, ExitStack() as stack:
        env = {
            "PAYI_SERVER_DATABASE_URL": database_url,
            "PAYI_SERVER_SECRET_KEY": TEST_SECRET,
            "PAYI_SERVER_OPENAI_BASE_URL": fake_url + "/v1",
            "PAYI_SERVER_ALLOW_PRIVATE_PROVIDER_HOSTS": "true",
            "PAYI_SERVER_ACCESS_LOG": "false",
            "PAYI_SERVER_REDIS_URL": redis_url,
            "PAYI_SERVER_REDIS_PREFIX": f"payi-test-{uuid.uuid4().hex[:8]}",
        }
        # The first start bootstraps the database; the others start at the same time as each other.
        servers = [stack.enter_context(run_server(tmp_path / "s0", env))]
        with ThreadPoolExecutor(max(count - 1, 1)) as pool:
            starting = [pool.submit(stack.enter_context, run_server(tmp_path / f"s{i}", env)) for i in range(1, count)]
        servers += [started.result() for started in starting]
        stack.callback(_stop_all, servers)  # runs first: every server stops at once, as a deployment's would
        yield servers


def _stop_all(servers: list[ServerProcess]) -> None:
    with ThreadPoolExecutor(len(servers)) as pool:
        list(pool.map(stop, [server.process for server in servers]))


async def add_block_limit(url: str, app_id: int, maximum: Decimal, enforcement: str, limit_id: str = "hot") -> None:
    """A block limit written straight into the servers' database (async URL)."""
    db = Database(url, pool_size=1)
    now = utcnow()
    try:
        async with db.write() as conn:
            await conn.execute(
                limits.insert().values(
                    app_id=app_id, limit_id=limit_id, name=limit_id, limit_type="block", max=maximum, threshold=None,
                    enforcement=enforcement, created_at=now, updated_at=now,
                )
            )
    finally:
        await db.dispose()


async def _ledger(url: str) -> dict[str, Any]:
    db = Database(url, pool_size=1)
    try:
        async with db.read() as conn:
            limit = (await conn.execute(select(limits))).one()
            recorded = (
                await conn.execute(
                    select(func.coalesce(func.sum(requests.c.cost_total), 0), func.count())
                    .select_from(requests.join(request_limits, request_limits.c.request_id == requests.c.id))
                    .where(requests.c.blocked.is_(False))
                )
            ).one()
            held = (await conn.execute(select(func.count()).select_from(limit_reservations))).scalar_one()
    finally:
        await db.dispose()
    return {"limit": limit, "recorded_cost": Decimal(recorded[0]), "recorded": recorded[1], "held": held}


async def _fire(servers: list[ServerProcess], key: str, usage: dict[str, int]) -> list[int]:
    headers = {"xProxy-Api-Key": key, "xProxy-Limit-IDs": "hot", "x-fake-usage": json.dumps(usage)}
    limits_ = httpx2.Limits(max_connections=CALLS, max_keepalive_connections=CALLS)
    async with httpx2.AsyncClient(timeout=60, limits=limits_) as client:

        async def one(i: int) -> int:
            server = servers[i % len(servers)]
            response = await client.post(
                f"{server.url}/api/v1/proxy/openai/v1/chat/completions", json=REQUEST, headers=headers
            )
            return response.status_code

        return list(await asyncio.gather(*(one(i) for i in range(CALLS))))


def _run(tmp_path: Path, database_url: str, processes: int, enforcement: str, redis_url: str = "") -> None:
    """Fire the calls, stop the servers cleanly, then check the ledger: spend within the rule, every admitted call
    recorded and charged, every refusal counted, and no budget left leased."""
    cost, usage = _call_cost()
    maximum = cost * COVERED
    async_url = database_url.replace("postgresql://", "postgresql+asyncpg://").replace("sqlite:///", "sqlite+aiosqlite:///")
    with _servers(tmp_path, database_url, processes, redis_url) as servers:
        key = servers[0].keys["app1"]
        app_id = int(httpx2.get(servers[0].url + "/api/v1/whoami", headers={"xProxy-api-key": key}).json()["app_id"])
        asyncio.run(add_block_limit(async_url, app_id, maximum, enforcement))
        statuses = asyncio.run(_fire(servers, key, usage))
    ledger = asyncio.run(_ledger(async_url))
    limit = ledger["limit"]
    admitted = statuses.count(200)
    assert statuses.count(200) + statuses.count(400) == CALLS, statuses
    assert ledger["held"] == 0 and limit.reserved == 0
    assert limit.spent_total == ledger["recorded_cost"] == cost * admitted
    assert limit.count_blocked == CALLS - admitted
    if enforcement == "strict":
        assert limit.spent_total <= limit.max
        assert admitted == COVERED
    else:
        # Pay-i's rule (admit while spend < max) on leases: at most the calls in flight overrun, one per process.
        assert limit.spent_total <= limit.max + cost * processes
        assert admitted >= COVERED


@pytest.mark.postgres
@pytest.mark.parametrize("enforcement", ["default", "strict"])
def test_three_processes_on_postgresql(tmp_path: Path, make_database: Any, enforcement: str) -> None:
    if not pg_base_url():
        pytest.skip("needs PAYI_TEST_DATABASE_URL")
    _run(tmp_path, make_database("postgresql"), 3, enforcement)


@pytest.mark.parametrize("enforcement", ["default", "strict"])
def test_one_process_on_sqlite(tmp_path: Path, make_database: Any, enforcement: str) -> None:
    _run(tmp_path, make_database("sqlite"), 1, enforcement)


REDIS = "redis://127.0.0.1:6379/0"


def _redis_up() -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", 6379)) == 0


@pytest.mark.postgres
@pytest.mark.parametrize("enforcement", ["default", "strict"])
def test_three_processes_with_redis(tmp_path: Path, make_database: Any, enforcement: str) -> None:
    """Redis (used for cache invalidation) changes nothing in how limits are kept."""
    if not pg_base_url() or not _redis_up():
        pytest.skip("needs PAYI_TEST_DATABASE_URL and Redis at 127.0.0.1:6379")
    _run(tmp_path, make_database("postgresql"), 3, enforcement, REDIS)
