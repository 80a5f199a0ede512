"""``store.bulk.BulkInsert`` (PostgreSQL's one-statement insert of a batch, the rows as one JSON parameter) stores exactly what SQLAlchemy's
insert stores, value for value, for any request row; with the keys of ``store.requestkeys.KeyedRequestInsert`` a
duplicate response id is skipped and not returned. ``BulkUpsert`` adds what ``insert_add`` adds (saturating
alike), ``decoded`` reads what SQLAlchemy reads, and a statement sent through ``driver`` first in a transaction is
part of it."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from sqlalchemy import BigInteger, Column, MetaData, Table, Text, cast, select

from payi_server.metering.batch import BatchWriter
from payi_server.settings import Settings
from payi_server.store.bulk import BulkInsert, BulkUpsert, Tail, decoded, driver, joined, reading_first
from payi_server.store.engine import Database
from payi_server.store.partitions import id_at
from payi_server.store.requestkeys import KeyedRequestInsert
from payi_server.store.requestlog import SqlRequestLog
from payi_server.store.sqlite_bulk import SqliteInsert
from payi_server.store.tables import request_payloads, requests, rollup_limit_hourly
from payi_server.store.types import MONEY_MAX
from payi_server.store.upsert import insert_add
from tests.conftest import BACKENDS, make_settings

_ids = itertools.count(1)
_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
_json = st.recursive(  # text in JSON may hold a NUL: the json type keeps it escaped
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | _text | st.just("a\x00b"),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_money = st.decimals(min_value=0, max_value=Decimal("1e6"), places=12, allow_nan=False, allow_infinity=False)
# any offset: each path converts to UTC itself (whole microseconds too, and none)
_time = st.builds(
    lambda d, minutes: d.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    st.sampled_from([0, 0, 60, -300, 330, 14 * 60 - 1, -(14 * 60 - 1)]),
)


@st.composite
def request_rows(draw: Any) -> dict[str, Any]:
    return {
        "id": 0,
        "app_id": 1,
        "source": draw(st.sampled_from(["ingest", "proxy"])),
        "category": draw(_text.filter(bool)),
        "resource": draw(_text),
        "resource_id": draw(st.none() | st.integers(1, 2**62)),
        "event_timestamp": draw(_time),
        "ingest_timestamp": draw(_time),
        "units": draw(st.dictionaries(_text, st.dictionaries(st.sampled_from(["input", "output"]), st.integers(0, 10**9)))),
        "cost_input": draw(_money),
        "cost_output": draw(_money),
        "cost_total": draw(_money),
        "unpriced": draw(st.booleans()),
        # an object, as the recorder writes it (SQLite gives a JSON column NUMERIC affinity: a bare number would
        # come back as a number, for either path)
        "unknown_units": draw(st.none() | st.dictionaries(_text, _json, max_size=3)),
        "use_case_id": draw(st.none() | _text),
        "use_case_name": draw(st.none() | _text),
        "use_case_version": draw(st.none() | st.integers(0, 2**31 - 1)),
        "use_case_step": draw(st.none() | _text),
        "user_id": draw(st.none() | _text),
        "account_name": draw(st.none() | _text),
        "limit_ids": draw(st.none() | st.lists(_text, max_size=3)),
        "properties": draw(st.none() | st.dictionaries(_text, _text, max_size=3)),
        "request_tags": draw(st.none() | st.lists(_text, max_size=3)),
        "http_status_code": draw(st.none() | st.integers(100, 599)),
        "failed": draw(st.booleans()),
        "blocked": draw(st.booleans()),
        "end_to_end_latency_ms": draw(st.none() | st.integers(0, 2**31 - 1)),
        "time_to_first_token_ms": draw(st.none() | st.integers(0, 2**31 - 1)),
        "time_to_first_completion_token_ms": draw(st.none() | st.integers(0, 2**31 - 1)),
        "provider_response_id": None,
        "provider_uri": draw(st.none() | _text),
        "resource_scope": draw(st.none() | _text),
        "price_as_category": draw(st.none() | _text),
        "price_as_resource": draw(st.none() | _text),
        "result": draw(st.none() | st.fixed_dictionaries({"warnings": st.lists(_text, max_size=2)})),
    }


def _row(**changes: Any) -> dict[str, Any]:
    row = {c.name: None for c in requests.columns}
    now = datetime(2026, 12, 3, tzinfo=UTC)
    row.update(
        id=0, app_id=1, source="ingest", category="system.openai", resource="gpt-4o", event_timestamp=now,
        ingest_timestamp=now, units={"text": {"input": 1, "output": 2}}, cost_input=Decimal("0.1"),
        cost_output=Decimal("0.2"), cost_total=Decimal("0.3"), unpriced=False, failed=False, blocked=False,
    )
    row.update(changes)
    return row


def test_the_batch_writer_uses_each_database_s_own_statements(settings: Settings) -> None:
    db = Database(settings.sqlalchemy_url, pool_size=1)
    try:
        writer = BatchWriter(db)
        expected = SqliteInsert if db.is_sqlite else BulkInsert
        assert isinstance(db.request_log, SqlRequestLog)
        assert isinstance(db.request_log._links, expected) and isinstance(db.request_log._payloads, expected)
        upsert = SqliteInsert if db.is_sqlite else BulkUpsert
        rollups = writer.statements.sqlite if db.is_sqlite else writer.statements.pg
        assert len(rollups) == 8 and all(isinstance(s, upsert) for s in rollups.values())
    finally:
        asyncio.run(db.dispose())


def test_every_column_of_the_request_log_is_covered() -> None:
    """A column added to ``requests`` gets a recordset type (or this fails), and the statement names every column."""
    insert = BulkInsert(requests, returning="id")
    assert [name for name, _ in insert.columns] == [c.name for c in requests.columns]
    assert insert.sql.count("$") == 1
    assert all(f"u.{c.name}" in insert.source for c in requests.columns)


def test_bulk_insert_stores_what_sqlalchemy_stores(make_database: Any, tmp_path: Path) -> None:
    url = make_settings(make_database("postgresql"), tmp_path).sqlalchemy_url
    bulk = KeyedRequestInsert()
    plain = requests.insert().returning(requests.c.id)
    now = datetime.now(UTC)
    base = id_at(now)  # ids of today: the keys' duplicate window is the days around the batch

    async def both(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        a, b = dict(row, id=next(_ids) + base), dict(row, id=next(_ids) + base)
        db = Database(url, pool_size=1)  # one per event loop
        try:
            async with db.write() as conn:
                assert [r[0] for r in (await conn.execute(plain, [a])).all()] == [a["id"]]
                assert await bulk.insert(conn, [b], now) == [b["id"]]
                query = select(requests).where(requests.c.id.in_([a["id"], b["id"]]))
                got = {r.id: dict(r._mapping) for r in (await conn.execute(query)).all()}
                # as PostgreSQL holds them: SQL NULL is not JSON null, numeric keeps its scale
                stored = select(requests.c.id, *[cast(c, Text).label(c.name) for c in requests.columns if c.name != "id"])
                texts = {r.id: dict(r._mapping) for r in (await conn.execute(stored.where(query.whereclause))).all()}
        finally:
            await db.dispose()
        assert dict(texts[a["id"]], id=0) == dict(texts[b["id"]], id=0)
        return got[a["id"]], got[b["id"]]

    @hsettings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(request_rows())
    def check(row: dict[str, Any]) -> None:
        via_sqlalchemy, via_bulk = asyncio.run(both(row))
        via_sqlalchemy.pop("id")
        via_bulk.pop("id")
        assert via_bulk == via_sqlalchemy

    async def duplicates() -> None:
        db = Database(url, pool_size=1)
        row = _row(provider_response_id="resp-bulk-dup")
        first, second = dict(row, id=next(_ids) + base), dict(row, id=next(_ids) + base)
        third = dict(row, id=next(_ids) + base, provider_response_id="resp-bulk-other")
        twin = dict(third, id=next(_ids) + base)
        async with db.write() as conn:
            assert await bulk.insert(conn, [first], now) == [first["id"]]
            # a duplicate of an earlier batch, and one within the batch, are skipped
            assert await bulk.insert(conn, [second, third, twin], now) == [third["id"]]
        await db.dispose()

    check()
    asyncio.run(duplicates())


def test_naive_times_are_refused_like_the_column_type_refuses_them() -> None:
    insert = BulkInsert(requests)
    row = _row(event_timestamp=datetime(2026, 1, 1) + timedelta(hours=1))
    try:
        insert.payload([row])
    except ValueError as exc:
        assert "naive" in str(exc)
    else:
        raise AssertionError("a naive datetime was accepted")


_SUMS = ("requests", "cost_total")
_KEYS = ("bucket", "app_id", "limit_pk")
# writes to one rollup row: (requests, cost), the cost sometimes at or near what the column holds
rollup_writes = st.lists(
    st.tuples(
        st.integers(-5, 2**63 - 1),
        _money | st.sampled_from([MONEY_MAX, MONEY_MAX - Decimal("0.5"), Decimal("-1")]),
    ),
    min_size=1,
    max_size=3,
)


def test_bulk_upsert_adds_what_insert_add_adds_and_reads_back_alike(make_database: Any, tmp_path: Path) -> None:
    """Two writes to one rollup row, through SQLAlchemy's ``insert_add`` for one key and ``BulkUpsert`` for
    another: the rows are equal, saturated alike near the columns' ceilings, and ``decoded`` reads them as
    SQLAlchemy does."""
    url = make_settings(make_database("postgresql"), tmp_path).sqlalchemy_url
    bulk = BulkUpsert(rollup_limit_hourly, _KEYS, _SUMS)
    bucket = datetime(2026, 12, 4, 5, tzinfo=UTC)

    async def both(writes: list[tuple[int, Decimal]]) -> None:
        a, b = next(_ids), next(_ids)
        db = Database(url, pool_size=1)
        try:
            async with db.write() as conn:
                plain = insert_add(db, rollup_limit_hourly, _KEYS, _SUMS)
                for n, cost in writes:
                    values = {"bucket": bucket, "app_id": 1, "requests": n, "cost_total": cost}
                    await conn.execute(plain, [dict(values, limit_pk=a)])
                    await bulk.run(conn, [dict(values, limit_pk=b)])
                query = select(rollup_limit_hourly).where(rollup_limit_hourly.c.limit_pk.in_([a, b]))
                got = {r.limit_pk: dict(r._mapping) for r in (await conn.execute(query)).all()}
                raw = await (await driver(conn)).fetch("SELECT * FROM rollup_limit_hourly WHERE limit_pk = $1", b)
                assert decoded(rollup_limit_hourly, raw[0]) == got[b]
        finally:
            await db.dispose()
        assert dict(got[a], limit_pk=0) == dict(got[b], limit_pk=0)

    @hsettings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(rollup_writes)
    def check(writes: list[tuple[int, Decimal]]) -> None:
        asyncio.run(both(writes))

    check()


def test_a_statement_sent_through_the_driver_first_is_part_of_the_transaction(
    make_database: Any, tmp_path: Path
) -> None:
    """The group commit's first statement may go straight to asyncpg: if the transaction then fails, nothing of it
    stays (SQLAlchemy sends ``BEGIN`` only before its own first statement; ``driver`` begins it)."""
    url = make_settings(make_database("postgresql"), tmp_path).sqlalchemy_url
    bulk = BulkUpsert(rollup_limit_hourly, _KEYS, _SUMS)
    row = {"bucket": datetime(2026, 12, 4, tzinfo=UTC), "app_id": 1, "limit_pk": next(_ids), "requests": 1,
           "cost_total": Decimal("0.5")}

    now = datetime.now(UTC)
    request = dict(_row(), id=id_at(now) + next(_ids))

    async def run() -> tuple[int, int]:
        db = Database(url, pool_size=1)
        try:
            firsts = (
                lambda conn: bulk.run(conn, [row]),
                lambda conn: KeyedRequestInsert().insert(conn, [request], now),
            )
            for first in firsts:
                try:
                    async with db.write() as conn:
                        await first(conn)
                        raise RuntimeError("the batch failed after its first statement")
                except RuntimeError:
                    pass
            async with db.read() as conn:
                query = select(rollup_limit_hourly).where(rollup_limit_hourly.c.limit_pk == row["limit_pk"])
                rollups = len((await conn.execute(query)).all())
                query = select(requests).where(requests.c.id == request["id"])
                return rollups, len((await conn.execute(query)).all())
        finally:
            await db.dispose()

    assert asyncio.run(run()) == (0, 0)


def test_joined_statements_run_in_the_order_given(make_database: Any, tmp_path: Path) -> None:
    """``joined`` statements take their row locks in the order given, as one by one (the recorder's rollups and
    erasure's merges lock the same rows in one order, or deadlock): each writes the next value of one sequence."""
    url = make_settings(make_database("postgresql"), tmp_path).sqlalchemy_url
    tables = ("joined_a", "joined_b", "joined_c")

    async def run() -> dict[str, int]:
        db = Database(url, pool_size=1)
        try:
            async with db.write() as conn:
                raw = await driver(conn)
                await raw.execute("CREATE TEMP SEQUENCE joined_order")
                for table in tables:
                    await raw.execute(f"CREATE TEMP TABLE {table} (tag int8, seq int8)")
                await raw.execute(
                    joined([f"INSERT INTO {table} SELECT $1::int8, nextval('joined_order')" for table in tables]),
                    1, 2, 3,
                )
                return {table: (await raw.fetchrow(f"SELECT tag, seq FROM {table}"))["seq"] for table in tables}
        finally:
            await db.dispose()

    assert asyncio.run(run()) == {"joined_a": 1, "joined_b": 2, "joined_c": 3}


def test_a_joined_tail_takes_the_last_parameters_and_its_rows_come_back(make_database: Any, tmp_path: Path) -> None:
    """``joined``'s ``tail`` (the recorder's limits written back with its rollups) takes the parameters after the
    statements', whatever their number, and the statement returns the rows of its ``select``."""
    url = make_settings(make_database("postgresql"), tmp_path).sqlalchemy_url
    tables = ("joined_a", "joined_b")

    async def run() -> tuple[list[tuple[int, int]], dict[str, int]]:
        db = Database(url, pool_size=1)
        try:
            async with db.write() as conn:
                raw = await driver(conn)
                await raw.execute("CREATE TEMP TABLE joined_held (id int8 PRIMARY KEY, amount int8)")
                await raw.execute("INSERT INTO joined_held VALUES (1, 10), (2, 20), (3, 30)")
                for table in tables:
                    await raw.execute(f"CREATE TEMP TABLE {table} (tag int8)")
                tail = Tail(
                    "c AS (UPDATE joined_held SET amount = amount - $2 WHERE id = ANY($1::int8[]) "
                    "RETURNING id, amount)",
                    "SELECT id, amount FROM c",
                )
                records = await raw.fetch(
                    joined([f"INSERT INTO {table} SELECT $1::int8" for table in tables], tail=tail), 1, 2, [3, 1], 5
                )
                after = {table: (await raw.fetchrow(f"SELECT tag FROM {table}"))["tag"] for table in tables}
                return sorted((r["id"], r["amount"]) for r in records), after
        finally:
            await db.dispose()

    rows, after = asyncio.run(run())
    assert rows == [(1, 5), (3, 25)]
    assert after == {"joined_a": 1, "joined_b": 2}


def test_reading_first_runs_its_query_before_the_writes(make_database: Any, tmp_path: Path) -> None:
    """``reading_first`` (the recorder's lock of its limits, sent with the request rows) runs its query before every
    write of the statement, so every batch locks the limits before it inserts request keys: each step takes the
    next value of one sequence. The query's rows come back with ``returned`` null, then the returned ids."""
    url = make_settings(make_database("postgresql"), tmp_path).sqlalchemy_url
    locked = Table("joined_locked", MetaData(), Column("id", BigInteger), Column("seq", BigInteger))

    async def run() -> tuple[list[Any], dict[str, int]]:
        db = Database(url, pool_size=1)
        try:
            async with db.write() as conn:
                raw = await driver(conn)
                await raw.execute("CREATE TEMP SEQUENCE joined_order")
                await raw.execute("CREATE TEMP TABLE joined_locked (id int8 PRIMARY KEY, seq int8)")
                await raw.execute("INSERT INTO joined_locked VALUES (1, 0), (2, 0), (3, 0)")
                for table in ("joined_a", "joined_b"):
                    await raw.execute(f"CREATE TEMP TABLE {table} (tag int8, seq int8)")
                query = (
                    "SELECT id, nextval('joined_order') AS seq FROM joined_locked WHERE id = ANY($1::int8[]) "
                    "ORDER BY id FOR NO KEY UPDATE"
                )
                sql = reading_first(
                    query, locked,
                    "k AS (INSERT INTO joined_b SELECT $2::int8, nextval('joined_order') RETURNING tag)",
                    "INSERT INTO joined_a SELECT tag + $1::int8, nextval('joined_order') FROM k RETURNING tag",
                    2,
                )
                records = await raw.fetch(sql, 100, 7, [3, 1])
                after = {t: (await raw.fetchrow(f"SELECT seq FROM {t}"))["seq"] for t in ("joined_a", "joined_b")}
                return [tuple(r) for r in records], after
        finally:
            await db.dispose()

    records, after = asyncio.run(run())
    read = [r for r in records if r[0] is None]
    assert [r[1] for r in read] == [1, 3]
    assert [r[0] for r in records if r[0] is not None] == [107]
    assert records.index(read[-1]) < len(read)  # the query's rows first
    assert max(r[2] for r in read) < after["joined_b"] < after["joined_a"]


_headers = st.none() | st.lists(st.dictionaries(_text, _text, max_size=2), max_size=2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_group_commit_stores_payloads_as_sqlalchemy_does(backend: str, make_database: Any, tmp_path: Path) -> None:
    """Stored prompts and responses go in the batch's own statement on each database (``BulkInsert`` /
    ``SqliteInsert``): the same values and the same stored text as SQLAlchemy's insert, for any payload."""
    url = make_settings(make_database(backend), tmp_path).sqlalchemy_url
    plain = request_payloads.insert()
    stored = select(request_payloads.c.request_id, *[
        cast(c, Text).label(c.name) for c in request_payloads.columns if c.name != "request_id"
    ])

    async def both(row: dict[str, Any]) -> None:
        base = id_at(datetime.now(UTC))
        a, b = dict(row, request_id=base + next(_ids)), dict(row, request_id=base + next(_ids))
        db = Database(url, pool_size=1)
        try:
            ours = db.request_log
            async with db.write() as conn:
                await conn.execute(plain, [a])
                await ours.store_payloads(conn, [b])
                where = request_payloads.c.request_id.in_([a["request_id"], b["request_id"]])
                query = select(request_payloads).where(where)
                read = {r.request_id: dict(r._mapping) for r in (await conn.execute(query)).all()}
                texts = {r.request_id: dict(r._mapping) for r in (await conn.execute(stored.where(where))).all()}
        finally:
            await db.dispose()
        assert dict(read[a["request_id"]], request_id=0) == dict(read[b["request_id"]], request_id=0)
        assert dict(texts[a["request_id"]], request_id=0) == dict(texts[b["request_id"]], request_id=0)

    @hsettings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.fixed_dictionaries({
        "app_id": st.integers(1, 2**40),
        "event_timestamp": _time,
        "provider_request_json": st.none() | _text,
        "provider_request_reasoning_json": st.none() | _text,
        "provider_response_json": st.none() | _text | st.lists(_text, max_size=3),
        "provider_request_headers": _headers,
        "provider_response_headers": _headers,
        "provider_response_function_calls": st.none() | st.lists(st.dictionaries(_text, _json, max_size=2), max_size=2),
    }))
    def check(row: dict[str, Any]) -> None:
        asyncio.run(both(row))

    check()
