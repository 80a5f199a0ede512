"""The SQLite adapter makes one trip to the connection's thread per statement, and behaves as SQLAlchemy's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from payi_server.store.engine import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/driver.db")
    try:
        async with database.write() as conn:
            await conn.execute(text("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT UNIQUE)"))
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call queued to an aiosqlite connection's thread, by the name of the function it runs there."""
    seen: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


async def test_one_trip_per_statement(db: Database, trips: list[str]) -> None:
    async with db.read() as conn:  # the reader's connection is opened (its set-up is trips of its own)
        await conn.execute(text("SELECT 1"))
    trips.clear()
    async with db.write() as conn:
        inserted = await conn.execute(text("INSERT INTO t (b) VALUES ('x'), ('y') RETURNING a"))
        assert [r[0] for r in inserted.all()] == [1, 2]
        many = await conn.execute(text("INSERT INTO t (b) VALUES (:b)"), [{"b": "p"}, {"b": "q"}, {"b": "r"}])
        assert many.rowcount == 3
        single = await conn.execute(text("INSERT INTO t (b) VALUES ('s')"))
        assert single.lastrowid == 6
    # BEGIN IMMEDIATE, three statements, COMMIT: five trips (SQLAlchemy's adapter made 3-4 per statement, and
    # the pool's rollback of the connection it takes back was a sixth)
    assert trips == ["_run"] * 4 + ["commit"], trips
    trips.clear()
    async with db.read() as conn:
        rows = (await conn.execute(text("SELECT a, b FROM t ORDER BY a"))).all()
        assert [tuple(r) for r in rows] == [(1, "x"), (2, "y"), (3, "p"), (4, "q"), (5, "r"), (6, "s")]
        assert (await conn.execute(text("SELECT count(*) FROM t WHERE a > :n"), {"n": 4})).scalar_one() == 2
        assert (await conn.execute(text("SELECT a FROM t WHERE b = 'nobody'"))).first() is None
    assert trips == ["_run"] * 4 + ["rollback"], trips  # BEGIN, three selects, the end of the read


async def test_errors_are_sqlalchemy_errors_and_roll_back(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(text("INSERT INTO t (b) VALUES ('x')"))
    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO t (b) VALUES ('y')"))
            await conn.execute(text("INSERT INTO t (b) VALUES ('x')"))  # duplicate: the whole transaction goes
    with pytest.raises(OperationalError, match="no such table"):
        async with db.read() as conn:
            await conn.execute(text("SELECT * FROM nowhere"))
    async with db.read() as conn:
        assert [r[0] for r in (await conn.execute(text("SELECT b FROM t"))).all()] == ["x"]
    # the connection is still usable after the errors
    async with db.write() as conn:
        await conn.execute(text("INSERT INTO t (b) VALUES ('z')"))
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2


async def test_streamed_results_still_work(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(text("INSERT INTO t (a) VALUES (:a)"), [{"a": i} for i in range(1, 2501)])
    async with db.read() as conn:
        result = await conn.stream(text("SELECT a FROM t ORDER BY a"))
        total = 0
        async for partition in result.partitions(1000):
            total += sum(r[0] for r in partition)
    assert total == 2500 * 2501 // 2
