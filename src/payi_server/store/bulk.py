"""Many rows into one table in one statement on PostgreSQL: ``INSERT ... SELECT ... FROM unnest(column arrays)``.

The group commit writes hundreds of request rows per batch. Through SQLAlchemy each row's every value passes its
type's bind processor and the multi-row statement is compiled per row count ("insertmanyvalues"): in bulk ingest
that was a fifth of the worker's time. Here each column is one array parameter, converted once per value the way
the column's type would (money quantized, times in UTC, JSON as text, ``None`` as JSON ``null`` like SQLAlchemy's
``JSON``), and the statement text is the same for any number of rows (prepared once per connection).
SQLite keeps SQLAlchemy's path (``executemany`` on one connection is already cheap there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import JSON, BigInteger, Boolean, Float, Integer, SmallInteger, String, Table, Text
from sqlalchemy.ext.asyncio import AsyncConnection

from .types import MONEY_QUANTUM, Money, Price, UTCDateTime

Convert = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()  # None -> "null", as SQLAlchemy's JSON type stores it


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(MONEY_QUANTUM)


def _price(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTCDateTime column")
    return value.astimezone(UTC)


# Checked in order (a subclass before its base: SmallInteger and BigInteger are Integers).
_KINDS: tuple[tuple[type[Any], str, str, Convert], ...] = (
    (JSON, "text", "::json", _json),
    (Money, "numeric", "", _money),
    (Price, "numeric", "", _price),
    (UTCDateTime, "timestamptz", "", _utc),
    (SmallInteger, "int2", "", _same),
    (BigInteger, "int8", "", _same),
    (Integer, "int4", "", _same),
    (Boolean, "bool", "", _same),
    (Float, "float8", "", _same),
    (String, "text", "", _same),
    (Text, "text", "", _same),
)


def _column_kind(column_type: Any) -> tuple[str, str, Convert]:
    """(array element type, cast applied in the SELECT, value conversion) for a column's type."""
    for kind, element, cast, convert in _KINDS:
        if isinstance(column_type, kind):
            return element, cast, convert
    raise TypeError(f"no array type for {column_type!r}")


class UnnestInsert:
    """``INSERT INTO table (every column) SELECT ... FROM unnest(...)``, optionally ``ON CONFLICT (...) [WHERE ...]
    DO NOTHING`` and ``RETURNING`` one column. Rows are mappings with every column of the table."""

    def __init__(
        self,
        table: Table,
        *,
        conflict: Sequence[str] = (),
        conflict_where: str | None = None,
        returning: str | None = None,
    ) -> None:
        self.columns: list[tuple[str, Convert]] = []
        params, selects = [], []
        for n, column in enumerate(table.columns, start=1):
            element, cast, convert = _column_kind(column.type)
            self.columns.append((column.name, convert))
            params.append(f"${n}::{element}[]")
            selects.append(f"u.{column.name}{cast}")
        names = ", ".join(name for name, _ in self.columns)
        self.source = f"SELECT {', '.join(selects)} FROM unnest({', '.join(params)}) AS u({names})"
        sql = f"INSERT INTO {table.name} ({names}) {self.source}"
        if conflict:
            sql += f" ON CONFLICT ({', '.join(conflict)})"
            if conflict_where:
                sql += f" WHERE {conflict_where}"
            sql += " DO NOTHING"
        if returning:
            sql += f" RETURNING {returning}"
        self.sql = sql
        self.returning = returning

    def arrays(self, rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
        return [
            [row.get(name) for row in rows] if convert is _same else [convert(row.get(name)) for row in rows]
            for name, convert in self.columns
        ]

    async def run(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Insert ``rows`` in the connection's transaction; the ``returning`` column of each row inserted."""
        if not rows:
            return []
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        if self.returning:
            return [record[0] for record in await driver.fetch(self.sql, *self.arrays(rows))]
        await driver.execute(self.sql, *self.arrays(rows))
        return []
