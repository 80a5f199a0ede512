"""Many rows into one table in one statement on PostgreSQL: ``INSERT ... SELECT ... FROM json_to_recordset($1)``.

The group commit writes hundreds of request rows per batch. Through SQLAlchemy each row's every value passes its
type's bind processor and the multi-row statement is compiled per row count ("insertmanyvalues"): in bulk ingest
that was a fifth of the worker's time. Here the batch is one parameter, the rows as one JSON text (``orjson``, one
call), each value converted first the way its column's type would (money quantized and clamped, times in UTC, a
JSON column's value as its JSON text, ``None`` as ``null`` there like SQLAlchemy's ``JSON``); the statement text is the same for any
number of rows (prepared once per connection). Column arrays (``unnest``) did the same before, but asyncpg checks
every element of an array parameter against the iterable ABCs (about 110 checks per request row): measured in
process, the insert of 64 request rows cost the worker 85 us of CPU per row with arrays and 19 us with the JSON
text, and PostgreSQL's backend 42 and 61 us.
SQLite's counterpart, one trip per statement without SQLAlchemy, is ``store.sqlite_bulk``.

The same holds for the group commit's few-row statements (the limits it locks and writes back, the leases it
settles, the hourly rollups): through SQLAlchemy each statement cost the worker 0.3-1 ms of CPU on the benchmark
machine, the same statement through asyncpg a third of that. ``driver`` gives the connection's asyncpg connection
(inside its transaction); ``BulkUpsert`` adds to rollup rows, ``BulkInsert.source`` gives rows to an ``UPDATE``
(the limits' write-back, ``limits.ledger``), and ``decoded`` reads rows as SQLAlchemy would have returned them (each column's own result processing).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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


_PG: Any = postgresql.asyncpg.dialect()  # type: ignore[attr-defined,no-untyped-call]
_MONEY = Money()


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


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
_KINDS: tuple[tuple[type[Any], str, Convert], ...] = (
    # A JSON column's value goes as its own JSON text, a string in the rows' JSON, cast back in the SELECT: nested as
    # it is, a "\u0000" in it would fail (json_to_recordset unescapes every string it parses; the json type keeps
    # the escape). None is the text "null", as SQLAlchemy's JSON type stores it.
    (JSON, "text", _json),
    (Money, "numeric", _money),
    (Price, "numeric", _price),
    (UTCDateTime, "timestamptz", _utc),
    (SmallInteger, "int2", _same),
    (BigInteger, "int8", _same),
    (Integer, "int4", _same),
    (Boolean, "bool", _same),
    (Float, "float8", _same),  # no column written here is one (orjson writes NaN as null)
    (String, "text", _same),
    (Text, "text", _same),
)


def _column_kind(column_type: Any) -> tuple[str, Convert]:
    """(the column's type in the recordset, the value's conversion) for a column's type."""
    for kind, element, convert in _KINDS:
        if isinstance(column_type, kind):
            return element, convert
    raise TypeError(f"no recordset type for {column_type!r}")


def _decimal(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)  # exact; a JSON string, which the numeric column reads as its text
    raise TypeError(f"{type(value).__name__} is not stored by a bulk statement")


class BulkInsert:
    """``INSERT INTO table (every column) SELECT ... FROM json_to_recordset($1)``, optionally ``ON CONFLICT (...)
    [WHERE ...] DO NOTHING`` and ``RETURNING`` one column. Rows are mappings with every column of the table (or of
    ``columns``); a missing key is ``None``."""

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
        self._converted: list[tuple[str, Convert]] = []
        fields, selects = [], []
        chosen = table.columns if columns is None else [table.c[name] for name in columns]
        for column in chosen:
            element, convert = _column_kind(column.type)
            name = str(column.name)
            self.columns.append((name, convert))
            if convert is not _same:
                self._converted.append((name, convert))
            fields.append(f"{name} {element}")
            selects.append(f"u.{name}::json AS {name}" if isinstance(column.type, JSON) else f"u.{name}")
        names = ", ".join(name for name, _ in self.columns)
        self.source = f"SELECT {', '.join(selects)} FROM json_to_recordset($1::json) AS u({', '.join(fields)})"
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

    def payload(self, rows: Sequence[Mapping[str, Any]]) -> str:
        """The rows as the statement's one parameter: JSON, each value converted as its column's type would."""
        converted = self._converted
        if converted:
            rows = [{**row, **{name: convert(row.get(name)) for name, convert in converted}} for row in rows]
        return orjson.dumps(rows, default=_decimal, option=orjson.OPT_NON_STR_KEYS).decode()

    async def run(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Insert ``rows`` in the connection's transaction; the ``returning`` column of each row inserted."""
        if not rows:
            return []
        raw = await driver(conn)
        if self.returning:
            return [record[0] for record in await raw.fetch(self.sql, self.payload(rows))]
        await raw.execute(self.sql, self.payload(rows))
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


FIRST_PARAMETER = re.compile(r"\$1(?!\d)")
_PARAMETER = re.compile(r"\$(\d+)")


def renumbered(sql: str, offset: int) -> str:
    """``sql`` with each parameter ``$n`` made ``$(n + offset)``: a statement's text inside a larger one (our own
    statements: no ``$`` and digits in a literal)."""
    return _PARAMETER.sub(lambda m: f"${int(m.group(1)) + offset}", sql)


@dataclass(frozen=True, slots=True)
class Tail:
    """Data-modifying ``WITH`` queries (``ctes``, their parameters from ``$1``) and the ``SELECT`` of their rows
    (``select``) that a statement of ``joined`` ends with: what the recorder's limits write back, with its rollups."""

    ctes: str
    select: str


def joined(statements: Sequence[str], *, tail: Tail | None = None) -> str:
    """Statements of one parameter each (``$1``) as one statement (each a data-modifying ``WITH`` query, the n-th
    taking ``$n``): one round trip instead of one each. Each must write a different table (one statement cannot
    update a row twice), and none needs another's effect (they see the same snapshot).

    They run in the order given, so they take their row locks in that order, as the same statements sent one by one
    would (erasure takes the rollups' rows in the recorder's order: a batch that took them in another would deadlock
    with it). PostgreSQL runs the ``WITH`` queries that the main query does not read last first, so they are
    written in reverse (``tests/server/store/test_bulk.py`` holds PostgreSQL to that order).

    ``tail`` (its parameters numbered after the statements'): ``WITH`` queries whose ``select`` the statement
    returns (the recorder's limits written back with its rollups); those the ``select`` reads run first."""
    parts = [f"w{n} AS ({FIRST_PARAMETER.sub(f'${n}', sql)})" for n, sql in enumerate(statements, 1)]
    if tail is not None:
        return f"WITH {renumbered(tail.ctes, len(statements))}, {', '.join(reversed(parts))} {tail.select}"
    return f"WITH {', '.join(reversed(parts))} SELECT 1"


def reading_first(query: str, table: Table, ctes: str, returning: str, count: int) -> str:
    """A statement that runs ``query`` (a ``SELECT`` of every column of ``table``, in order; one parameter ``$1``,
    made ``$(count + 1)``) first, then the data-modifying ``WITH`` queries ``ctes`` and the statement ``returning``
    (``count`` parameters between them; ``returning`` returns one ``int8`` column): the query's rows come back with
    ``returned`` null, then one row per ``returning`` row, its value in ``returned`` (the other columns null).
    ``UNION ALL`` runs its branches in order (the recorder locks its limits before it inserts request keys, as every
    batch does)."""
    read = FIRST_PARAMETER.sub(f"${count + 1}", query)
    nulls = ", ".join(f"(NULL::{table.name}).{column.name}" for column in table.columns)
    prefix = f"{ctes}, " if ctes else ""
    return (
        f"WITH q AS ({read}), {prefix}r AS ({returning}) "
        f"SELECT NULL::int8 AS returned, q.* FROM q UNION ALL SELECT r.*, {nulls} FROM r"
    )


class BulkUpsert(BulkInsert):
    """Rows added to a table's existing rows by key (the hourly rollups): ``insert_add``'s statement (its
    ``ON CONFLICT ... DO UPDATE``, each sum saturating, compiled from it) fed by the rows' JSON. The rows' keys
    must be distinct (one statement cannot update a row twice); sorted, so concurrent batches lock in one order."""

    def __init__(self, table: Table, keys: Sequence[str], add: Sequence[str]) -> None:
        super().__init__(table, columns=[*keys, *add])
        stmt = add_on_conflict(postgresql.insert(table), table, keys, add, sqlite=False)
        compiled = str(stmt.compile(dialect=_PG, compile_kwargs={"literal_binds": True}))
        self.sql += compiled[compiled.index(" ON CONFLICT ") :]


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
