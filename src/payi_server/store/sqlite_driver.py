"""SQLAlchemy's aiosqlite adapter, with each statement one trip to the connection's thread.

aiosqlite runs a connection's calls on a thread of its own; each call is a trip there and back, and the way back
is a callback on the event loop. SQLAlchemy's adapter makes three or four trips per statement (open a cursor,
execute, fetch the rows, close). On an idle loop a trip is a few microseconds, but under load the answer waits
for the loop to get through everything else that is ready, so each trip costs an iteration of the loop. Measured
on the proxy at 600-700 requests a second, the recorder's group commit of 8 statements took 0.8-2.4 s, all of it
waiting for trips: the records fell behind the calls, and a budget lease's grant, which needs the one writer
connection, waited behind the batch until calls found their lease empty.

Here a statement is one trip: the thread executes it, fetches every row, reads the description, row count and
last row id, and closes the cursor; the adapter then serves them from memory. Everything else (transactions,
errors, server-side cursors) is SQLAlchemy's own, except that the pool's rollback of a connection that is not in a
transaction is skipped rather than sent to the thread.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite
import orjson
from sqlalchemy import JSON, Table, TypeDecorator
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

__all__ = ["one_trip_dbapi", "trip", "trips", "select_rows", "select_sql", "rows_read", "read", "bound"]

# What one statement leaves behind: description, rows, row count, last row id.
_Outcome = tuple[Any, list[Any], int, int | None]


def _run(raw: sqlite3.Connection, many: bool, operation: str, parameters: Any) -> _Outcome:
    """On the connection's thread: the whole statement, start to finish."""
    cursor = raw.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_rowcount", "_lastrowid", "_arraysize")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No cursor is opened here (the base class opens one: a trip); each statement opens and closes its own.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None  # nothing is open between statements

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        return self._trip(False, operation, parameters)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        return self._trip(True, operation, seq_of_parameters)

    def _trip(self, many: bool, operation: Any, parameters: Any) -> None:
        try:
            outcome = await_(self._trip_async(many, operation, parameters))
        except Exception as error:  # noqa: BLE001 - SQLAlchemy maps it to its DBAPI exception types
            self._adapt_connection._handle_exception(error)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)

    async def _trip_async(self, many: bool, operation: Any, parameters: Any) -> _Outcome:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            outcome: _Outcome = await connection._execute(  # type: ignore[no-untyped-call]
                _run, connection._conn, many, operation, parameters
            )
            return outcome


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _OneTripCursor  # type: ignore[assignment]

    def rollback(self) -> None:
        # The pool rolls back every connection it takes back, after our commit or rollback already ended the
        # transaction: no trip for that. (SQLite's own flag, read while nothing runs on the connection.)
        raw: sqlite3.Connection | None = self._connection._connection  # type: ignore[attr-defined]
        if raw is not None and not raw.in_transaction:
            return
        super().rollback()


class _OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        return _OneTripConnection(self, adapted._connection)


def one_trip_dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The DBAPI module to give ``create_async_engine(..., module=...)`` for ``sqlite+aiosqlite`` URLs."""
    return _OneTripDBAPI(aiosqlite, sqlite3)


# --- statements without SQLAlchemy ---------------------------------------------------------------------------------
# The group commit's few-row statements on limits (their rows, the leases' amounts, the write-back, the request
# links): through SQLAlchemy each cost the worker about 350 us of CPU, one trip alone about 50 us.

_SQLITE: Any = sqlite.dialect()  # type: ignore[no-untyped-call]


async def trip(conn: Any, operation: str, parameters: Any = None, *, many: bool = False) -> list[Any]:
    """One statement in ``conn``'s transaction (SQLAlchemy's ``AsyncConnection``), one trip to the connection's
    thread; its rows as tuples. The driver's errors become SQLAlchemy's, as through SQLAlchemy."""
    raw = await conn.get_raw_connection()
    adapted: Any = raw.dbapi_connection
    connection = adapted._connection
    try:
        async with adapted._execute_mutex:
            outcome: _Outcome = await connection._execute(_run, connection._conn, many, operation, parameters)
    except sqlite3.Error as error:
        raise sa_exc.DBAPIError.instance(operation, parameters, error, sqlite3.Error) from error
    return outcome[1]


def _run_all(raw: sqlite3.Connection, statements: list[tuple[str, Any, bool]]) -> list[list[Any]]:
    """On the connection's thread: each statement in order, start to finish; each one's rows."""
    return [_run(raw, many, operation, parameters)[1] for operation, parameters, many in statements]


async def trips(conn: Any, statements: list[tuple[str, Any, bool]]) -> list[list[Any]]:
    """Several statements (``(operation, parameters, many)``) in ``conn``'s transaction in one trip to the
    connection's thread, in order; each one's rows. For statements that need nothing from each other's rows."""
    raw = await conn.get_raw_connection()
    adapted: Any = raw.dbapi_connection
    connection = adapted._connection
    try:
        async with adapted._execute_mutex:
            return await connection._execute(_run_all, connection._conn, statements)  # type: ignore[no-any-return]
    except sqlite3.Error as error:
        operations = "; ".join(operation for operation, _, _ in statements)
        raise sa_exc.DBAPIError.instance(operations, None, error, sqlite3.Error) from error


async def select_rows(conn: Any, table: Table, where: str, parameters: Any) -> list[dict[str, Any]]:
    """``SELECT`` every column of ``table`` ``WHERE ...`` in one trip, each row as SQLAlchemy reads it (each
    column's own result processing, JSON parsed)."""
    return rows_read(table, await trip(conn, select_sql(table, where), parameters))


def select_sql(table: Table, where: str) -> str:
    """``SELECT`` every column of ``table`` ``WHERE ...``: its rows for ``rows_read``."""
    names = ", ".join(f'"{column.name}"' for column in table.columns)
    return f"SELECT {names} FROM {table.name} WHERE {where}"


def rows_read(table: Table, rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows of every column of ``table`` (``select_sql``) as SQLAlchemy reads them (each column's own result
    processing, JSON parsed)."""
    columns = [(c.name, _reader(c.type)) for c in table.columns]
    return [
        {name: (value if value is None or read is None else read(value)) for (name, read), value in zip(columns, row)}
        for row in rows
    ]


def _reader(kind: Any) -> Any:
    if isinstance(kind, TypeDecorator):
        return lambda value: kind.process_result_value(value, _SQLITE)
    if isinstance(kind, JSON):
        return lambda value: orjson.loads(value) if isinstance(value, str) else value
    return None


def read(table: Table, name: str, value: Any) -> Any:
    """A value of ``table.name`` as read from SQLite, as SQLAlchemy reads it (``Money``'s count back to dollars)."""
    reader = _reader(table.c[name].type)
    return value if value is None or reader is None else reader(value)


def bound(table: Table, name: str, value: Any) -> Any:
    """``value`` as ``table.name``'s type stores it on SQLite (``Money`` as its count of 1e-10 USD)."""
    kind = table.c[name].type
    return kind.process_bind_param(value, _SQLITE) if isinstance(kind, TypeDecorator) else value
