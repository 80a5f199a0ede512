"""Dropping a month of the request log's day partitions (PostgreSQL): one day a transaction against
``RequestLog.drop_before``, which drops up to ``DROP_DAYS_AT_ONCE`` days in one statement.

    .venv/bin/python -m benchmarks.bench_partition_drops [--pg postgresql://postgres@127.0.0.1:5432/test]
        [--partitions 400] [--days 31]

Two new databases next to ``--pg``, each migrated with ``--partitions`` day partitions a table made ahead (empty:
what is measured is the catalog work of a drop, which does not grow with a day's rows, not the removal of its
files), then the days up to ``--days`` from now (and the legacy part) dropped: the first database one day a
transaction (``partitions.drop_day``, the sweep's way until 2026-12-04), the second by ``drop_before``. Both
databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from payi_server.store import partitions
from payi_server.store.engine import Database
from payi_server.store.migrate import migrate


async def _database(pg: str, name: str, ahead: int) -> Database:
    admin = await asyncpg.connect(pg)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    url = pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name
    await migrate(url)
    db = Database(url, pool_size=2)
    async with db.write() as conn:
        await conn.run_sync(lambda c: partitions.ensure_days(c, datetime.now(UTC).date(), days_ahead=ahead))
    return db


async def main(pg: str, ahead: int, days: int) -> None:
    cutoff = datetime.now(UTC) + timedelta(days=days)
    names = ("payi_bench_drops_a", "payi_bench_drops_b")
    try:
        db = await _database(pg, names[0], ahead)
        async with db.read() as conn:
            expired = await conn.run_sync(partitions.expired_days, partitions.id_at(cutoff - partitions.EVENT_LEAD))
        began = time.perf_counter()
        for day in expired:
            async with db.write() as conn:
                await conn.run_sync(partitions.drop_day, day)
        one_by_one = time.perf_counter() - began
        await db.dispose()
        db = await _database(pg, names[1], ahead)
        began = time.perf_counter()
        dropped = await db.request_log.drop_before(cutoff)
        at_once = time.perf_counter() - began
        await db.dispose()
        print(f"{ahead} partitions a table, {len(expired)} expired days: one day a transaction {one_by_one:.2f} s, "
              f"drop_before {at_once:.2f} s ({len(dropped)} days)")
    finally:
        admin = await asyncpg.connect(pg)
        try:
            for name in names:
                await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--partitions", type=int, default=400, help="day partitions a table")
    parser.add_argument("--days", type=int, default=31, help="days from now that expire")
    args = parser.parse_args()
    asyncio.run(main(args.pg, args.partitions, args.days))
