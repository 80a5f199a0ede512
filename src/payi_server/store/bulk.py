"""Many rows into one table in one statement on PostgreSQL: ``INSERT ... SELECT ... FROM unnest(column arrays)``.

The group commit writes hundreds of request rows per batch. Through SQLAlchemy each row's every value passes its
type's bind processor and the multi-row statement is compiled per row count ("insertmanyvalues"): in bulk ingest
that was a fifth of the worker's time. Here each column is one array parameter, converted once per value the way
the column's type would (money quantized, times in UTC, JSON as text, ``None`` as JSON ``null`` like SQLAlchemy's
``JSON``), and the statement text is the same for any number of rows (prepared once per connection).
SQLite keeps SQLAlchemy's path (``executemany`` on one connection is already cheap there).

The same holds for the group commit's few-row statements (the limits it locks and writes back, the leases it
settles, the hourly rollups): through SQLAlchemy each statement cost the worker 0.3-1 ms of CPU on the benchmark
machine, the same statement through asyncpg a third of that. ``driver`` gives the connection's asyncpg connection
(inside its transaction); ``UnnestUpsert`` adds to rollup rows, ``UnnestUpdate`` writes rows back by key, and
``decoded`` reads rows as SQLAlchemy would have returned them (each column's own result processing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import JSON, BigInteger, Boolean, Float, Integer, SmallInteger, String, Table, Text, TypeDecorator
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from .types import MONEY_QUANTUM, Money, Price, UTCDateTime
from .upsert import add_on_conflict

Convert = Callable[[Any], Any]
_LARGE = Decimal(10) ** 8  # below every clamp of ``Money`` (about 9.2e8): the quick path quantizes only


def _same(value: Any) -> Any:
    return value


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()  # None -> "null", as SQLAlchemy's JSON type stores it


_PG: Any = postgresql.asyncpg.dialect()  # type: ignore[attr-defined,no-untyped-call]
_MONEY = Money()


def _money(value: Any) -> Decimal | None:
    """As ``Money`` binds it: a sum past what the column holds saturates (``store.sums``), then quantized."""
    if value is None:
        return None
    amount = Decimal(value)
    if -_LARGE < amount < _LARGE:
        return amount.quantize(MONEY_QUANTUM)
    return Decimal(_MONEY.process_bind_param(amount, _PG))


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
        columns: Sequence[str] | None = None,
    ) -> None:
        self.columns: list[tuple[str, Convert]] = []
        params, selects = [], []
        chosen = table.columns if columns is None else [table.c[name] for name in columns]
        for n, column in enumerate(chosen, start=1):
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
        raw = await driver(conn)
        if self.returning:
            return [record[0] for record in await raw.fetch(self.sql, *self.arrays(rows))]
        await raw.execute(self.sql, *self.arrays(rows))
        return []


async def driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under ``conn``, its transaction begun: SQLAlchemy's asyncpg adapter sends ``BEGIN``
    only before the first statement it runs itself, so a statement sent here first would run and commit on its
    own (a crash or a failure later in the batch would leave it written: a half-written record)."""
    raw = await conn.get_raw_connection()
    adapted: Any = raw.dbapi_connection
    if conn.in_transaction() and adapted._transaction is None:
        await adapted._start_transaction()
    return raw.driver_connection


class UnnestUpsert(UnnestInsert):
    """Rows added to a table's existing rows by key (the hourly rollups): ``insert_add``'s statement (its
    ``ON CONFLICT ... DO UPDATE``, each sum saturating, compiled from it) fed by column arrays. The rows' keys
    must be distinct (one statement cannot update a row twice); sorted, so concurrent batches lock in one order."""

    def __init__(self, table: Table, keys: Sequence[str], add: Sequence[str]) -> None:
        super().__init__(table, columns=[*keys, *add])
        stmt = add_on_conflict(postgresql.insert(table), table, keys, add, sqlite=False)
        compiled = str(stmt.compile(dialect=_PG, compile_kwargs={"literal_binds": True}))
        self.sql += compiled[compiled.index(" ON CONFLICT ") :]


class UnnestUpdate:
    """Rows written back by key in one statement: ``UPDATE table SET c = u.c, ... FROM unnest(...) u WHERE
    table.key = u.key``. Rows are mappings with the key and every column named."""

    def __init__(self, table: Table, key: str, columns: Sequence[str]) -> None:
        self._values = UnnestInsert(table, columns=[key, *columns])
        sets = ", ".join(f"{name} = v.{name}" for name in columns)
        self.sql = f"UPDATE {table.name} AS t SET {sets} FROM ({self._values.source}) AS v WHERE t.{key} = v.{key}"

    async def run(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            await (await driver(conn)).execute(self.sql, *self._values.arrays(rows))


def decoded(table: Table, record: Mapping[str, Any]) -> dict[str, Any]:
    """A row read through ``driver`` as SQLAlchemy returns it: each column's own result processing (``Money``
    quantized, ``Price`` normalized, times in UTC). JSON arrives parsed (the codec SQLAlchemy sets on the
    connection)."""
    out = dict(record)
    for name, process in _result_processing(table):
        value = out.get(name)
        if value is not None:
            out[name] = process(value, _PG)
    return out


def _result_processing(table: Table) -> list[tuple[str, Callable[[Any, Any], Any]]]:
    found = _PROCESSING.get(table.name)
    if found is None:
        found = _PROCESSING[table.name] = [
            (c.name, c.type.process_result_value) for c in table.columns if isinstance(c.type, TypeDecorator)
        ]
    return found


_PROCESSING: dict[str, list[tuple[str, Callable[[Any, Any], Any]]]] = {}
