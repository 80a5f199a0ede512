"""Limit checks on one hot block limit: checks per second with 3 processes on PostgreSQL, and the added latency
of a reserve/settle pair.

    .venv/bin/python -m benchmarks.bench_limits [--processes 3] [--seconds 10] [--pg postgresql://postgres@127.0.0.1:5432/test]
    .venv/bin/python -m benchmarks.bench_limits --redis redis://127.0.0.1:6379/0      # checks in Redis

A check is what the proxy does before a call that names a block limit: one transaction that locks the limit,
drops expired reservations, checks the budget and holds the call's estimate (``limits.ledger.reserve``). A settle
is what the recorder does when the call is recorded: charge the real cost, count the state, release the
reservation (``Ledger.charge`` + ``release_reservations`` in one transaction). Each process runs a loop of
check+settle pairs against the same limit, so every pair contends for the same row lock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import time
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
from redis.asyncio import Redis

from payi_server.ids import IdGenerator
from payi_server.limits.ledger import Ledger, release_reservations, reserve
from payi_server.limits.shared import SharedLimits
from payi_server.store.changes import utcnow
from payi_server.store.engine import Database
from payi_server.store.migrate import migrate
from payi_server.store.tables import applications, limits, organizations

ESTIMATE = Decimal("0.0001")
COST = Decimal("0.00008")


async def _setup(url: str) -> int:
    await migrate(url)
    db = Database(url, pool_size=1)
    now = utcnow()
    async with db.write() as conn:
        org = (await conn.execute(organizations.insert().values(name="b", created_at=now).returning(organizations.c.id))).scalar_one()
        app = (
            await conn.execute(
                applications.insert()
                .values(org_id=org, name="b", description="", store_prompts=False, created_at=now)
                .returning(applications.c.id)
            )
        ).scalar_one()
        await conn.execute(
            limits.insert().values(app_id=app, limit_id="hot", name="hot", limit_type="block", max=Decimal(10**9),
                                   threshold=None, enforcement="default", created_at=now, updated_at=now)
        )
    await db.dispose()
    return int(app)


async def _pairs(url: str, app_id: int, seconds: float, node: int, redis_url: str = "", prefix: str = "") -> dict[str, Any]:
    db = Database(url, pool_size=2)
    ids = IdGenerator(node)
    shared = SharedLimits(Redis.from_url(redis_url), prefix=prefix) if redis_url else None
    reserve_ms: list[float] = []
    settle_ms: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        rid = ids.next()
        t0 = time.perf_counter()
        if shared is not None:
            outcome = await shared.reserve(db, app_id, ["hot"], ESTIMATE, reservation_id=rid, ttl=60)
        else:
            outcome = await reserve(db, app_id, ["hot"], ESTIMATE, reservation_id=rid, owner=node, ttl=60, now=utcnow())
        t1 = time.perf_counter()
        assert not outcome.blocked and not outcome.missing
        async with db.write() as conn:
            ledger = Ledger(conn, db, utcnow())
            await ledger.load(app_id, ["hot"])
            released = await release_reservations(conn, rid)
            ledger.charge(app_id, ["hot"], COST, Decimal(0), failed=False, released=released)
            await ledger.flush()
            pk = ledger.get(app_id, "hot").pk  # type: ignore[union-attr]
        if shared is not None:
            await shared.settle(rid, {pk: COST})
        t2 = time.perf_counter()
        reserve_ms.append((t1 - t0) * 1000)
        settle_ms.append((t2 - t1) * 1000)
    await db.dispose()
    if shared is not None:
        await shared.close()
    return {"pairs": len(reserve_ms), "reserve_ms": reserve_ms, "settle_ms": settle_ms}


def _worker(url: str, app_id: int, seconds: float, node: int, out: Any, redis_url: str, prefix: str) -> None:
    out.put(asyncio.run(_pairs(url, app_id, seconds, node, redis_url, prefix)))


def _pct(values: list[float], p: float) -> float:
    data = sorted(values)
    return round(data[min(len(data) - 1, int(p / 100 * (len(data) - 1)))], 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="", help="e.g. redis://127.0.0.1:6379/0: checks in Redis, charges in PostgreSQL")
    args = parser.parse_args()
    prefix = f"payi-bench-{uuid.uuid4().hex[:8]}"
    name = f"payi_bench_limits_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(args.pg)
        await conn.execute(sql)
        await conn.close()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    url = args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name
    try:
        app_id = asyncio.run(_setup(url))
        # one process alone: the latency of a pair without contention
        alone = asyncio.run(_pairs(url, app_id, min(args.seconds, 5), 901, args.redis, prefix))
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(url, app_id, args.seconds, 900 + i, queue, args.redis, prefix)) for i in range(args.processes)]
        for p in procs:
            p.start()
        results = [queue.get() for _ in procs]
        for p in procs:
            p.join()
        pairs = sum(r["pairs"] for r in results)
        reserve_all = [x for r in results for x in r["reserve_ms"]]
        settle_all = [x for r in results for x in r["settle_ms"]]
        summary = {
            "checks_in": "redis" if args.redis else "postgresql",
            "processes": args.processes,
            "seconds": args.seconds,
            "checks_per_s": round(pairs / args.seconds, 1),
            "contended": {
                "reserve_p50_ms": _pct(reserve_all, 50), "reserve_p99_ms": _pct(reserve_all, 99),
                "settle_p50_ms": _pct(settle_all, 50), "settle_p99_ms": _pct(settle_all, 99),
            },
            "uncontended": {
                "pairs_per_s": round(alone["pairs"] / min(args.seconds, 5), 1),
                "reserve_p50_ms": _pct(alone["reserve_ms"], 50), "reserve_p99_ms": _pct(alone["reserve_ms"], 99),
                "settle_p50_ms": _pct(alone["settle_ms"], 50), "settle_p99_ms": _pct(alone["settle_ms"], 99),
                "pair_mean_ms": round(statistics.fmean(a + b for a, b in zip(alone["reserve_ms"], alone["settle_ms"], strict=True)), 3),
            },
        }
        print(json.dumps(summary, indent=2))
    finally:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


if __name__ == "__main__":
    main()
