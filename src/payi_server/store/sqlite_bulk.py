"""Many rows into one table on SQLite without SQLAlchemy: ``INSERT ... VALUES (?, ...), (?, ...) [ON CONFLICT ...]``,
one trip to the connection's thread per statement (``store.sqlite_driver.trip``).

The group commit's request insert and its hourly rollups run on every batch, with a limit or without. Through
SQLAlchemy each statement cost the worker about 0.35 ms of CPU before its rows (the execution context, the compiled
"insertmanyvalues" for that row count, the result), and each value passed its type's bind processor one call at a
time. Here the statement's text is built per row count (kept for small counts; SQLite's own statement cache,
128 texts, keeps the prepared statements); each value is converted by the same bind processor SQLAlchemy would
run (taken once per column, from the engine's own dialect, so a time, an amount or a JSON value is stored as the
same text: ``tests/server/store/test_sqlite_bulk.py``).
The ``ON CONFLICT`` clause is compiled from SQLAlchemy's statement once (``insert_ignore``, ``insert_add``), so the
two paths cannot drift. PostgreSQL's counterpart is ``store.bulk``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from .sqlite_driver import trip
from .types import Money, UTCDateTime, money_units

# SQLite's limit on a statement's parameters (SQLITE_MAX_VARIABLE_NUMBER): 32766 since 3.32, 999 before.
_MAX_PARAMETERS = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
_KEPT_TEXTS = 64


def conflict_clause(statement: Any, dialect: Any) -> str:
    """The `` ON CONFLICT ...`` tail of SQLAlchemy's ``statement`` as ``dialect`` compiles it (values inline)."""
    compiled = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    return compiled[compiled.index(" ON CONFLICT ") :]


def _utc_text(value: datetime | None) -> str | None:
    """A ``UTCDateTime`` value as SQLAlchemy's SQLite dialect stores it (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC,
    no offset), by ``isoformat`` instead of its %-formatting: a request row holds several, and that formatting
    was a sixth of the row's conversion."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTCDateTime column")
    if value.tzinfo is not UTC:  # (ours are UTC already: no conversion)
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _bind(column: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """The bind processor SQLAlchemy runs for ``column``'s values on ``dialect`` (for our own types, the function
    theirs calls, without SQLAlchemy's wrapper around it)."""
    if isinstance(column.type, UTCDateTime):
        return _utc_text
    if isinstance(column.type, Money):
        return money_units
    processor: Callable[[Any], Any] | None = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor


class SqliteInsert:
    """``INSERT INTO table (columns) VALUES ...`` for any number of rows, plus ``tail`` (an ``ON CONFLICT`` clause)
    and ``RETURNING`` one column. Rows are mappings; a missing key is ``None`` (as its column's default is not
    applied: name every column that has one). ``dialect`` is the engine's (its JSON serializer is the one used)."""

    def __init__(
        self,
        table: Table,
        dialect: Any,
        *,
        columns: Sequence[str] | None = None,
        tail: str = "",
        returning: str | None = None,
    ) -> None:
        chosen = list(table.columns) if columns is None else [table.c[name] for name in columns]
        self.columns: list[tuple[str, Callable[[Any], Any] | None]] = [
            (str(c.name), _bind(c, dialect)) for c in chosen
        ]
        self._head = f"INSERT INTO {table.name} ({', '.join(name for name, _ in self.columns)}) VALUES "
        self._row = "(" + ", ".join("?" * len(self.columns)) + ")"
        self._tail = tail + (f" RETURNING {returning}" if returning else "")
        self._per_statement = max(1, _MAX_PARAMETERS // len(self.columns))
        self._texts: dict[int, str] = {}

    def values(self, row: Mapping[str, Any]) -> list[Any]:
        """One row's parameters, each as its column's type binds it (``None`` too: a JSON column stores it as
        JSON ``null``, as through SQLAlchemy)."""
        return [row.get(name) if process is None else process(row.get(name)) for name, process in self.columns]

    def _text(self, count: int) -> str:
        # The texts of small batches are kept (a request row's is about 120 bytes: kept for every count up to a
        # statement's 885 rows they would take 45 MB); a larger one is built again, in a few microseconds.
        text = self._texts.get(count)
        if text is None:
            text = self._head + ", ".join([self._row] * count) + self._tail
            if count <= _KEPT_TEXTS:
                self._texts[count] = text
        return text

    def statement(self, rows: Sequence[Mapping[str, Any]]) -> tuple[str, list[Any]] | None:
        """The statement inserting ``rows`` and its parameters, for a caller's own trip (``sqlite_driver.trips``);
        ``None`` when they take more than one statement."""
        if not rows or len(rows) > self._per_statement:
            return None
        return self._text(len(rows)), [value for row in rows for value in self.values(row)]

    async def run(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Insert ``rows`` in the connection's transaction; the ``returning`` column of each row inserted."""
        returned: list[Any] = []
        step = self._per_statement
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            parameters = [value for row in chunk for value in self.values(row)]
            returned.extend(row[0] for row in await trip(conn, self._text(len(chunk)), parameters))
        return returned
