"""``store.sqlite_bulk.SqliteInsert`` (SQLite's group-commit statements without SQLAlchemy) stores exactly what
SQLAlchemy's insert stores, as SQLite holds it (the same text for a time, the same count for an amount, the same
JSON text), for any request row; with ``insert_add``'s conflict clause it adds what ``insert_add`` adds,
saturating alike; a batch larger than one statement's parameters is split, and duplicates are skipped and not
returned. The writer's ``BEGIN IMMEDIATE``, sent straight to the driver, fails as SQLAlchemy's error."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings as hsettings
from sqlalchemy import exc as sa_exc, func, select, text

from payi_server.store.engine import Database
from payi_server.store.sqlite_bulk import SqliteInsert, conflict_clause
from payi_server.store.sqlite_driver import trip
from payi_server.store.tables import request_limits, requests, rollup_limit_hourly
from payi_server.store.upsert import insert_add, insert_ignore
from tests.conftest import make_settings
from tests.server.store.test_bulk import _row, request_rows, rollup_writes

_ids = itertools.count(1)
_KEYS = ("bucket", "app_id", "limit_pk")
_SUMS = ("requests", "cost_total")


def _url(make_database: Any, tmp_path: Path) -> str:
    return make_settings(make_database("sqlite"), tmp_path).sqlalchemy_url


def test_sqlite_insert_stores_what_sqlalchemy_stores(make_database: Any, tmp_path: Path) -> None:
    url = _url(make_database, tmp_path)
    plain = requests.insert().returning(requests.c.id)
    names = ", ".join(c.name for c in requests.columns)

    async def both(row: dict[str, Any]) -> None:
        a, b = dict(row, id=next(_ids)), dict(row, id=next(_ids))
        db = Database(url, pool_size=1)
        ours = SqliteInsert(requests, db.engine.dialect, returning="id")
        try:
            async with db.write() as conn:
                assert [r[0] for r in (await conn.execute(plain, [a])).all()] == [a["id"]]
                assert await ours.run(conn, [b]) == [b["id"]]
                # as SQLite holds them: each value's storage class and text
                query_text = f"SELECT {names} FROM requests WHERE id IN (?, ?) ORDER BY id"
                stored = await trip(conn, query_text, [a["id"], b["id"]])
                query = select(requests).where(requests.c.id.in_([a["id"], b["id"]]))
                read = {r.id: dict(r._mapping) for r in (await conn.execute(query)).all()}
        finally:
            await db.dispose()
        assert stored[0][1:] == stored[1][1:]
        assert [type(v) for v in stored[0]] == [type(v) for v in stored[1]]
        assert dict(read[a["id"]], id=0) == dict(read[b["id"]], id=0)

    @hsettings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(request_rows())
    def check(row: dict[str, Any]) -> None:
        asyncio.run(both(row))

    check()


def test_sqlite_upsert_adds_what_insert_add_adds(make_database: Any, tmp_path: Path) -> None:
    """Writes to one rollup row through ``insert_add`` for one key and ``SqliteInsert`` with its conflict clause
    for another: the rows are equal, saturated alike near the columns' ceilings."""
    url = _url(make_database, tmp_path)
    bucket = datetime(2026, 12, 4, 5, tzinfo=UTC)

    async def both(writes: list[tuple[int, Decimal]]) -> None:
        a, b = next(_ids), next(_ids)
        db = Database(url, pool_size=1)
        plain = insert_add(db, rollup_limit_hourly, _KEYS, _SUMS)
        ours = SqliteInsert(
            rollup_limit_hourly, db.engine.dialect, columns=[*_KEYS, *_SUMS],
            tail=conflict_clause(plain, db.engine.dialect),
        )
        try:
            async with db.write() as conn:
                for n, cost in writes:
                    values = {"bucket": bucket, "app_id": 1, "requests": n, "cost_total": cost}
                    await conn.execute(plain, [dict(values, limit_pk=a)])
                    await ours.run(conn, [dict(values, limit_pk=b)])
                # every column but the one that tells the rows apart (compared by position, not by value: an
                # amount stored as 116 units must not be dropped for equalling a limit_pk of 116)
                others = ", ".join(c.name for c in rollup_limit_hourly.columns if c.name != "limit_pk")
                query_text = f"SELECT {others} FROM rollup_limit_hourly WHERE limit_pk IN (?, ?) ORDER BY limit_pk"
                stored = await trip(conn, query_text, [a, b])
        finally:
            await db.dispose()
        assert len(stored) == 2
        assert stored[0] == stored[1]

    @hsettings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(rollup_writes)
    def check(writes: list[tuple[int, Decimal]]) -> None:
        asyncio.run(both(writes))

    check()


def test_a_large_batch_is_split_and_duplicates_are_skipped(make_database: Any, tmp_path: Path) -> None:
    """More request rows than one statement's parameters hold: every new row is inserted once and returned; a
    duplicate response id (of an earlier batch, or within this one) is neither."""
    url = _url(make_database, tmp_path)

    async def run() -> None:
        db = Database(url, pool_size=1)
        ignore = insert_ignore(
            db, requests, ["app_id", "category", "provider_response_id"],
            index_where=requests.c.provider_response_id.is_not(None),
        )
        dialect = db.engine.dialect
        ours = SqliteInsert(requests, dialect, tail=conflict_clause(ignore, dialect), returning="id")
        per = ours._per_statement
        assert per < 1000  # so that this batch takes several statements
        try:
            async with db.write() as conn:
                first = dict(_row(provider_response_id="resp-0"), id=next(_ids))
                assert await ours.run(conn, [first]) == [first["id"]]
            rows = [dict(_row(provider_response_id=f"resp-{n}"), id=next(_ids)) for n in range(2 * per + 7)]
            rows.append(dict(rows[-1], id=next(_ids)))  # a twin within the batch
            async with db.write() as conn:
                returned = await ours.run(conn, rows)
            expected = [r["id"] for r in rows[1:-1]]  # not resp-0 (recorded before), not the twin
            assert sorted(returned) == sorted(expected)
            async with db.read() as conn:
                count = (await conn.execute(select(func.count()).select_from(requests))).scalar()
            assert count == len(expected) + 1
            # links have three columns: a few thousand in one statement, stored as SQLAlchemy stores them
            links = SqliteInsert(request_limits, db.engine.dialect)
            async with db.write() as conn:
                await links.run(conn, [{"request_id": i, "limit_pk": 7, "state": "ok"} for i in expected])
            async with db.read() as conn:
                stored = (await conn.execute(select(func.count()).select_from(request_limits))).scalar()
            assert stored == len(expected)
        finally:
            await db.dispose()

    asyncio.run(run())


def test_a_writer_that_cannot_begin_fails_as_sqlalchemy_s_error(make_database: Any, tmp_path: Path) -> None:
    url = _url(make_database, tmp_path)
    path = url.split(":///", 1)[1]

    async def run() -> None:
        db = Database(url, pool_size=1)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the writer's lock
        try:
            async with db._writer.connect() as conn:
                raw = await conn.get_raw_connection()  # no transaction begun yet
                await raw.driver_connection.execute("PRAGMA busy_timeout=50")
                with pytest.raises(sa_exc.OperationalError, match="locked"):
                    await conn.begin()
        finally:
            other.rollback()
            other.close()
            await db.dispose()
        async with db.write() as conn:  # the lock released, the writer works again
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
        await db.dispose()

    asyncio.run(run())

