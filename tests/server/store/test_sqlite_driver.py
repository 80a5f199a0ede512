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
from payi_server.store.sqlite_driver import trip
from payi_server.store.sqlite_driver import trips as _trips


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


async def test_a_trip_without_sqlalchemy_is_one_trip_in_the_transaction_and_raises_its_errors(
    db: Database, trips: list[str]
) -> None:
    """``trip`` (the group commit's statements on limits): one trip each, inside the transaction (rolled back with
    it), and the driver's errors as SQLAlchemy's, as the recorder's retry logic expects them."""
    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            del trips[:]
            await trip(conn, "INSERT INTO t (b) VALUES (?)", [("p",), ("q",)], many=True)
            assert await trip(conn, "SELECT b FROM t ORDER BY b") == [("p",), ("q",)]
            assert trips == ["_run", "_run"], trips
            await trip(conn, "INSERT INTO t (b) VALUES (?)", ("p",))  # duplicate: the whole transaction goes
    with pytest.raises(OperationalError, match="no such table"):
        async with db.read() as conn:
            await trip(conn, "SELECT * FROM nowhere")
    async with db.read() as conn:
        assert await trip(conn, "SELECT count(*) FROM t") == [(0,)]


async def test_several_statements_go_in_one_trip_in_order_and_fail_together(db: Database, trips: list[str]) -> None:
    """``trips`` (the group commit's limit write-back and links): one trip for all, run in order (a statement sees
    the one before), each one's rows; a failing one raises as SQLAlchemy's error and the transaction goes."""
    async with db.write() as conn:
        del trips[:]
        out = await _trips(conn, [
            ("INSERT INTO t (b) VALUES (?)", [("p",), ("q",)], True),
            ("UPDATE t SET b = b || '!' WHERE b = ?", ("p",), False),
            ("SELECT b FROM t ORDER BY b", None, False),
        ])
        assert trips == ["_run_all"], trips
        assert out == [[], [], [("p!",), ("q",)]]
    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await _trips(conn, [
                ("DELETE FROM t", None, False), ("INSERT INTO t (b) VALUES (?)", [("r",), ("r",)], True),
            ])
    async with db.read() as conn:
        assert await trip(conn, "SELECT b FROM t ORDER BY b") == [("p!",), ("q",)]


async def test_rows_read_without_sqlalchemy_are_what_sqlalchemy_reads(tmp_path: Path) -> None:
    """``select_rows`` / ``read`` / ``bound`` convert as the columns' types do: money, prices, times, JSON."""
    from decimal import Decimal

    from sqlalchemy import select

    from payi_server.store.changes import utcnow
    from payi_server.store.sqlite_driver import bound, read, select_rows
    from payi_server.store.tables import applications, limits, metadata, organizations

    database = Database(f"sqlite+aiosqlite:///{tmp_path}/rows.db")
    now = utcnow()
    try:
        async with database.write() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(organizations.insert().values(id=1, name="o", created_at=now))
            await conn.execute(applications.insert().values(id=1, org_id=1, name="a", created_at=now))
            await conn.execute(limits.insert().values(
                id=7, app_id=1, limit_id="hot", name="hot", limit_type="block", max=Decimal("12.5"),
                threshold=Decimal("0.75"), enforcement="strict", period="day", timezone="UTC",
                properties={"a": [1, "b"]}, limit_tags=["x"], window_start=now, spent_input=Decimal("0.0000000001"),
                spent_output=Decimal("3"), spent_total=Decimal("3.0000000001"), reserved=Decimal("2.25"),
                created_at=now, updated_at=now,
            ))
            via_sqlalchemy = dict((await conn.execute(select(limits).where(limits.c.id == 7))).one()._mapping)
            assert await select_rows(conn, limits, "id = ?", (7,)) == [via_sqlalchemy]
            stored = await trip(conn, "SELECT max, reserved FROM limits WHERE id = 7")
            assert stored == [(bound(limits, "max", Decimal("12.5")), bound(limits, "reserved", Decimal("2.25")))]
            assert read(limits, "reserved", stored[0][1]) == Decimal("2.25")
    finally:
        await database.dispose()
