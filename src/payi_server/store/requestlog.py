"""The request log behind one interface: ``RequestLog``, held by the database (``Database.request_log``).

Every read and write of the log's tables (``requests``, ``request_limits``, ``request_payloads``,
``request_keys``) goes through it; no other module names them (``tests/server/store/test_requestlog.py`` holds the
boundary). Reports, limits, use cases and the dashboard's charts read the rollups and the limits' own totals, which
stay in the transactional database whatever keeps the log.

The methods, in three groups:

- **the recorder's batch**, in its transaction (``conn``): ``insert`` the rows (a duplicate
  ``(app_id, category, provider_response_id)`` is not), the ``originals`` of the duplicates, ``link`` each request's
  limit states, ``store_payloads``;
- **reads**: ``recorded`` (crash replay), ``find`` / ``find_by_response`` and ``limit_states`` (the requests API),
  ``page`` / ``top`` (the dashboard's list, exports), ``detail`` (one request's page); ``update_properties`` in the
  caller's transaction (which moves the property rollups with it);
- **lifecycle**: ``prepare`` (the days ahead), ``drop_before`` (whole expired days), ``expire_requests`` /
  ``expire_payloads`` / ``fill_payloads`` (bounded batches), ``default_rows``, ``erase`` (in the erasure's
  transaction, which merges the rollups with it).

``SqlRequestLog`` keeps the log in the transactional database: on SQLite in plain tables, duplicates caught by a
unique index; on PostgreSQL in day partitions of the request id (``partitions``), duplicates caught through
``request_keys`` (``requestkeys``). A columnar backend would implement the same methods (``docs/request-log.md``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, Table, and_, bindparam, delete, or_, select, tuple_, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .bulk import BulkInsert
from .partitions import (
    DROP_DAYS_AT_ONCE, EVENT_LEAD, complete_indexes, default_rows, drop_days, ensure_days, expired_days, id_at,
)
from .requestkeys import KeyedRequestInsert, deleting, forget, recorded_ids
from .sqlite_bulk import SqliteInsert, conflict_clause
from .sqlite_driver import trips
from .tables import DIMENSION_COLUMNS, limits, request_limits, request_payloads, requests
from .upsert import insert_ignore

if TYPE_CHECKING:
    from .engine import Database

Key = tuple[int, str, str]
"""A request's duplicate key: ``(app_id, category, provider_response_id)``."""
Row = dict[str, Any]

FILTERS: dict[str, str] = DIMENSION_COLUMNS
"""Filter name (as in reports) -> request-log column."""


def _text_limits(table: Table) -> dict[str, int | None]:
    return {c.name: c.type.length for c in table.columns if isinstance(c.type, String)}


REQUEST_TEXT_LIMITS = _text_limits(requests)
"""The text columns of a request row and their widths (None: unbounded): the recorder cuts its text to them."""
PAYLOAD_TEXT_LIMITS = _text_limits(request_payloads)
"""The same for a stored prompt and response."""
TOP_COLUMNS = {"cost": requests.c.cost_total, "latency": requests.c.end_to_end_latency_ms}
"""What ``top`` can rank by."""
MAX_UNION_APPS = 64


@dataclass(frozen=True)
class LogQuery:
    """Rows of ``[start, end)`` by ``event_timestamp``, filtered (``FILTERS``: a dimension's values, ``''`` for "not
    given"; ``failed``), oldest or newest first."""

    start: datetime
    end: datetime
    filters: Mapping[str, tuple[str, ...]]
    failed: bool | None = None
    newest_first: bool = False


class RequestLog(ABC):
    """The request log's operations (see the module docstring)."""

    # --- the recorder's batch, in its transaction -------------------------------------------------------------
    @abstractmethod
    async def insert(self, conn: AsyncConnection, rows: Sequence[Row], now: datetime) -> list[int]:
        """Insert request rows; the ids of those inserted (a row whose key is already recorded is not)."""

    async def insert_reading(
        self, conn: AsyncConnection, rows: Sequence[Row], now: datetime, query: tuple[str, Any], table: Table
    ) -> tuple[list[int], list[Any] | None]:
        """``insert``, with ``query`` sent in the same round trip when the log lives in the batch's database: a
        ``SELECT`` of every column of ``table`` (``(sql, parameters)``: on PostgreSQL one parameter, ``$1``, run
        first, in the same statement; on SQLite ``?`` ones, in the same trip). Its rows as the driver gives them, or
        ``None`` when it was not sent (the caller sends it)."""
        return await self.insert(conn, rows, now), None

    @abstractmethod
    async def originals(self, conn: AsyncConnection, keys: Sequence[Key], now: datetime) -> dict[Key, tuple[Row, dict[str, str]]]:
        """The recorded original of each duplicate key: its row and its limit states."""

    @abstractmethod
    async def link(self, conn: AsyncConnection, rows: Sequence[Row]) -> None:
        """A request's state on each limit it named (``request_id``, ``limit_pk``, ``state``)."""

    def link_statement(self, rows: Sequence[Row]) -> tuple[str, Any] | None:
        """``link`` as a statement the batch may send with its own, when the log lives in the batch's database:
        ``(sql, parameters)``, on PostgreSQL one parameter (``$1``), on SQLite a list of them (``?``); ``None``: call
        ``link``."""
        return None

    @abstractmethod
    async def store_payloads(self, conn: AsyncConnection, rows: Sequence[Row]) -> None:
        """Stored prompts and responses (``request_id``, ``app_id``, ``event_timestamp`` and the texts)."""

    def payload_statement(self, rows: Sequence[Row]) -> tuple[str, Any] | None:
        """``store_payloads`` as a statement the batch may send with its own (as ``link_statement``); ``None``: call
        ``store_payloads``."""
        return None

    # --- reads ------------------------------------------------------------------------------------------------
    @abstractmethod
    async def recorded(self, ids: Sequence[int]) -> set[int]:
        """Which of these request ids are in the log."""

    @abstractmethod
    async def find(self, app_id: int, request_id: int) -> Row | None:
        """One request of the application by its id."""

    @abstractmethod
    async def find_by_response(self, app_id: int, category: str, provider_response_id: str) -> Row | None:
        """One request of the application by its provider's response id (the first recorded, if several)."""

    @abstractmethod
    async def limit_states(self, ids: Sequence[int]) -> dict[int, dict[str, str]]:
        """``{request id: {limit_id: state}}`` as recorded."""

    @abstractmethod
    async def update_properties(
        self, conn: AsyncConnection, request_id: int, changes: Mapping[str, str | None]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Set (``None``: remove) properties of a request in the caller's transaction; (before, after)."""

    @abstractmethod
    async def page(
        self, app_ids: Sequence[int], query: LogQuery, after: tuple[datetime, int] | None, size: int,
        windows: Mapping[int, tuple[datetime, datetime]] | None = None,
    ) -> list[Row]:
        """Up to ``size`` rows after the keyset position ``after`` (``(event_timestamp, id)`` of the last row seen),
        in the query's order. ``windows``: per application, the part of the range that can hold matching rows."""

    @abstractmethod
    async def top(self, app_ids: Sequence[int], query: LogQuery, by: str, size: int) -> list[Row]:
        """The ``size`` matching rows with the highest ``by`` (``TOP_COLUMNS``; rows without a value last)."""

    @abstractmethod
    async def detail(self, app_ids: Sequence[int], request_id: int) -> Row | None:
        """One request of these applications with its ``payload`` (a row, or None) and ``limit_states`` (``limit_id``,
        ``name``, ``state`` each)."""

    # --- lifecycle ------------------------------------------------------------------------------------------
    @abstractmethod
    async def prepare(self, today: date) -> None:
        """Make ready to take the next days' requests (partitions ahead), and build what indexes a migration left
        to build (``partitions.complete_indexes``)."""

    @abstractmethod
    async def drop_before(self, cutoff: datetime) -> list[tuple[str, dict[str, int]]]:
        """Remove whole stretches of the log (days) that hold only events before ``cutoff``: each one's name and the
        rows it held (``requests``, ``payloads``). Those it could not remove now are left for the next call."""

    @abstractmethod
    async def expire_requests(self, app_id: int, cutoff: datetime, limit: int) -> tuple[int, int]:
        """Delete up to ``limit`` of the application's requests with events before ``cutoff``, with their links and
        payloads, in one transaction: (requests, payloads) deleted."""

    @abstractmethod
    async def expire_payloads(self, app_id: int, cutoff: datetime, limit: int) -> int:
        """Delete up to ``limit`` of the application's payloads with events before ``cutoff``; how many."""

    @abstractmethod
    async def fill_payloads(self, limit: int) -> int:
        """Up to ``limit`` payloads written by a server older than migration 0006 get their request's application and
        time (deleted if the request is gone); how many were seen."""

    @abstractmethod
    async def default_rows(self) -> int:
        """Rows no partition covers (0 when all is well; -1 where the log has no partitions)."""

    @abstractmethod
    async def erase(
        self, conn: AsyncConnection, app_id: int, identity: str, value: str,
        hours: Sequence[tuple[datetime, datetime]], delete_requests: bool,
    ) -> tuple[int, int]:
        """In the caller's transaction: the application's requests with ``identity == value`` in these time ranges
        lose it (or are deleted, with their links) and their payloads are deleted; (requests, payloads)."""


_SELECTED = [c for c in requests.c if c.name not in ("result",)]
_DUPLICATE_KEY = ("app_id", "category", "provider_response_id")
_IN_CHUNK = 1000


def _statement(insert: BulkInsert | SqliteInsert, rows: Sequence[Row]) -> tuple[str, Any] | None:
    """``rows`` inserted as one statement for the batch to send with its own: PostgreSQL's (one parameter), or
    SQLite's when they fit in one; ``None``: nothing to insert, or insert them on their own."""
    if not rows:
        return None
    if isinstance(insert, BulkInsert):
        return insert.sql, insert.payload(rows)
    return insert.statement(rows)


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[i : i + _IN_CHUNK] for i in range(0, len(ids), _IN_CHUNK)]


class SqlRequestLog(RequestLog):
    """The request log in the transactional database (SQLite, or PostgreSQL partitioned by day)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # The recorder's statements, built once (``store.bulk``, ``store.sqlite_bulk``: not through SQLAlchemy).
        self._keyed: KeyedRequestInsert | None = None
        self._requests: SqliteInsert | None = None
        self._links: BulkInsert | SqliteInsert
        self._payloads: BulkInsert | SqliteInsert
        if db.is_sqlite:
            dialect = db.engine.dialect
            # a duplicate (app, category, provider_response_id) is skipped by the unique index of ``requests``
            ignore = insert_ignore(db, requests, _DUPLICATE_KEY, index_where=requests.c.provider_response_id.is_not(None))
            self._requests = SqliteInsert(requests, dialect, tail=conflict_clause(ignore, dialect), returning="id")
            self._links = SqliteInsert(request_limits, dialect)
            self._payloads = SqliteInsert(request_payloads, dialect)
        else:
            # request rows and their duplicate keys in one statement (``store/requestkeys.py``)
            self._keyed = KeyedRequestInsert()
            self._links = BulkInsert(request_limits)
            self._payloads = BulkInsert(request_payloads)

    # --- the recorder's batch -----------------------------------------------------------------------------------
    async def insert(self, conn: AsyncConnection, rows: Sequence[Row], now: datetime) -> list[int]:
        if not rows:
            return []
        if self._keyed is not None:
            return await self._keyed.insert(conn, rows, now)
        assert self._requests is not None
        return await self._requests.run(conn, rows)

    async def insert_reading(
        self, conn: AsyncConnection, rows: Sequence[Row], now: datetime, query: tuple[str, Any], table: Table
    ) -> tuple[list[int], list[Any] | None]:
        if self._keyed is not None:
            return await self._keyed.insert_reading(conn, rows, now, query, table)
        assert self._requests is not None
        statement = self._requests.statement(rows)
        if statement is None:  # none, or more rows than one statement takes
            return await self.insert(conn, rows, now), None
        inserted, read = await trips(conn, [(*statement, False), (*query, False)])
        return [row[0] for row in inserted], read

    async def originals(self, conn: AsyncConnection, keys: Sequence[Key], now: datetime) -> dict[Key, tuple[Row, dict[str, str]]]:
        """By the unique index of ``requests`` (SQLite) or by the keys of the batch's duplicate window (PostgreSQL,
        ``requestkeys``)."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        if self.db.is_sqlite:
            query = select(requests).where(
                tuple_(requests.c.app_id, requests.c.category, requests.c.provider_response_id).in_(wanted)
            )
        else:
            ids = await recorded_ids(conn, wanted, now)
            query = select(requests).where(requests.c.id.in_(sorted(ids.values())))
        rows = [dict(r._mapping) for r in (await conn.execute(query)).all()]
        states = await _limit_states(conn, [r["id"] for r in rows])
        return {(r["app_id"], r["category"], r["provider_response_id"]): (r, states.get(r["id"], {})) for r in rows}

    async def link(self, conn: AsyncConnection, rows: Sequence[Row]) -> None:
        if rows:
            await self._links.run(conn, rows)

    def link_statement(self, rows: Sequence[Row]) -> tuple[str, Any] | None:
        return _statement(self._links, rows)

    async def store_payloads(self, conn: AsyncConnection, rows: Sequence[Row]) -> None:
        if rows:
            await self._payloads.run(conn, rows)

    def payload_statement(self, rows: Sequence[Row]) -> tuple[str, Any] | None:
        return _statement(self._payloads, rows)

    # --- reads --------------------------------------------------------------------------------------------------
    async def recorded(self, ids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        async with self.db.read() as conn:
            for chunk in _chunks(ids):
                query = select(requests.c.id).where(requests.c.id.in_(chunk))
                found.update(row.id for row in (await conn.execute(query)).all())
        return found

    async def find(self, app_id: int, request_id: int) -> Row | None:
        return await self._one(select(requests).where(requests.c.app_id == app_id, requests.c.id == request_id))

    async def find_by_response(self, app_id: int, category: str, provider_response_id: str) -> Row | None:
        query = select(requests).where(requests.c.app_id == app_id)
        if self.db.is_sqlite:
            return await self._one(
                query.where(requests.c.category == category, requests.c.provider_response_id == provider_response_id)
            )
        # the log is partitioned by id: its keys say which (every partition's key index probed once)
        key = (app_id, category, provider_response_id)
        async with self.db.read() as conn:
            found = (await recorded_ids(conn, [key])).get(key)
            row = None if found is None else (await conn.execute(query.where(requests.c.id == found))).first()
        return None if row is None else dict(row._mapping)

    async def _one(self, query: Any) -> Row | None:
        async with self.db.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else dict(row._mapping)

    async def limit_states(self, ids: Sequence[int]) -> dict[int, dict[str, str]]:
        async with self.db.read() as conn:
            return await _limit_states(conn, ids)

    async def update_properties(
        self, conn: AsyncConnection, request_id: int, changes: Mapping[str, str | None]
    ) -> tuple[dict[str, str], dict[str, str]]:
        current = (await conn.execute(select(requests.c.properties).where(requests.c.id == request_id))).scalar()
        before = dict(current or {})
        merged = dict(before)
        for name, value in changes.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        await conn.execute(update(requests).where(requests.c.id == request_id).values(properties=merged or None))
        return before, merged

    async def page(
        self, app_ids: Sequence[int], query: LogQuery, after: tuple[datetime, int] | None, size: int,
        windows: Mapping[int, tuple[datetime, datetime]] | None = None,
    ) -> list[Row]:
        """Over several applications, each application's page is read on its own index range and the pages are
        merged (``UNION ALL``, then the first ``size``): one ``app_id IN (...)`` query would sort the whole range."""
        ids = tuple(app_ids)
        if not ids:
            return []
        if len(ids) > MAX_UNION_APPS:
            stmt = _page_statement(ids, query, after, size)
        elif len(ids) == 1:
            stmt = _page_statement(ids, query, after, size, windows[ids[0]] if windows else None)
        else:
            # Each part wrapped in its own SELECT: SQLite allows no ORDER BY/LIMIT on a bare compound member.
            parts = union_all(
                *(
                    select(_page_statement((a,), query, after, size, windows[a] if windows else None).subquery(f"a{i}"))
                    for i, a in enumerate(ids)
                )
            ).subquery("pages")
            order = [parts.c.event_timestamp, parts.c.id]
            stmt = select(parts).order_by(*(c.desc() if query.newest_first else c.asc() for c in order)).limit(size)
        async with self.db.read() as conn:
            return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]

    async def top(self, app_ids: Sequence[int], query: LogQuery, by: str, size: int) -> list[Row]:
        """One page, no keyset: a top-N sort over the range's rows (its index bounds the scan)."""
        if not app_ids:
            return []
        ids = tuple(app_ids)
        column = TOP_COLUMNS[by]
        if column.nullable:  # rows without a value last
            order = [column.is_(None), column.desc(), requests.c.id.desc()]
            stmt = select(*_SELECTED).where(*_wheres(ids, query)).order_by(*order).limit(size)
        elif len(ids) == 1 or len(ids) > MAX_UNION_APPS:
            stmt = select(*_SELECTED).where(*_wheres(ids, query)).order_by(column.desc(), requests.c.id.desc()).limit(size)
        else:
            # A column that always has a value (cost) is ordered by its (app_id, column) index, one application at a
            # time (an index range gives no order across several), and the applications' tops are merged.
            parts = union_all(
                *(
                    select(
                        select(*_SELECTED).where(*_wheres((a,), query))
                        .order_by(column.desc(), requests.c.id.desc()).limit(size).subquery(f"a{i}")
                    )
                    for i, a in enumerate(ids)
                )
            ).subquery("tops")
            stmt = select(parts).order_by(parts.c[column.name].desc(), parts.c.id.desc()).limit(size)
        async with self.db.read() as conn:
            return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]

    async def detail(self, app_ids: Sequence[int], request_id: int) -> Row | None:
        if not app_ids:
            return None
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(requests).where(requests.c.id == request_id, requests.c.app_id.in_(app_ids)))
            ).first()
            if row is None:
                return None
            payload = (
                await conn.execute(select(request_payloads).where(request_payloads.c.request_id == request_id))
            ).first()
            states = (
                await conn.execute(
                    select(limits.c.limit_id, limits.c.name, request_limits.c.state)
                    .join(limits, limits.c.id == request_limits.c.limit_pk)
                    .where(request_limits.c.request_id == request_id)
                )
            ).all()
        data = dict(row._mapping)
        data["payload"] = dict(payload._mapping) if payload is not None else None
        data["limit_states"] = [{"limit_id": s.limit_id, "name": s.name, "state": s.state} for s in states]
        return data

    # --- lifecycle ------------------------------------------------------------------------------------------
    async def prepare(self, today: date) -> None:
        if self.db.is_sqlite:
            return
        async with self.db.write() as conn:
            await conn.run_sync(ensure_days, today)
        async with self.db.engine.connect() as conn:  # indexes a migration left to build (usually nothing to do)
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.run_sync(complete_indexes)

    async def drop_before(self, cutoff: datetime) -> list[tuple[str, dict[str, int]]]:
        """PostgreSQL: a day's events are at most ``EVENT_LEAD`` later than its ids' time (``metering/meter.py``), so
        a day whose last id is older than ``cutoff`` minus that holds only earlier events; each is dropped whole, all
        four tables' partitions, up to ``DROP_DAYS_AT_ONCE`` days in one statement. SQLite: nothing (the batches
        delete)."""
        if self.db.is_sqlite:
            return []
        async with self.db.read() as conn:
            expired = await conn.run_sync(expired_days, id_at(cutoff - EVENT_LEAD))
        out = []
        for start in range(0, len(expired), DROP_DAYS_AT_ONCE):
            days = expired[start : start + DROP_DAYS_AT_ONCE]
            async with self.db.write() as conn:
                dropped = await conn.run_sync(drop_days, days)
            out += [(day.name, rows) for day, rows in dropped]
        return out

    async def expire_requests(self, app_id: int, cutoff: datetime, limit: int) -> tuple[int, int]:
        ids_query = (
            select(requests.c.id)
            .where(requests.c.app_id == app_id, requests.c.event_timestamp < cutoff)
            .order_by(requests.c.event_timestamp)
            .limit(limit)
        )
        payloads = 0
        async with self.db.write() as conn:
            ids = [r[0] for r in (await conn.execute(ids_query)).all()]
            if ids:
                await conn.execute(delete(request_limits).where(request_limits.c.request_id.in_(ids)))
                payloads = (
                    await conn.execute(delete(request_payloads).where(request_payloads.c.request_id.in_(ids)))
                ).rowcount
                await forget(conn, (await conn.execute(deleting(requests.c.id.in_(ids)))).all())
        return len(ids), payloads

    async def expire_payloads(self, app_id: int, cutoff: datetime, limit: int) -> int:
        t = request_payloads
        ids_query = (
            select(t.c.request_id)
            .where(t.c.app_id == app_id, t.c.event_timestamp < cutoff)
            .order_by(t.c.event_timestamp)
            .limit(limit)
        )
        async with self.db.write() as conn:
            ids = [r[0] for r in (await conn.execute(ids_query)).all()]
            if ids:
                await conn.execute(delete(t).where(t.c.request_id.in_(ids)))
        return len(ids)

    async def fill_payloads(self, limit: int) -> int:
        t = request_payloads
        ids_query = select(t.c.request_id).where(t.c.app_id.is_(None)).limit(limit)
        fill = (
            update(t)
            .where(t.c.request_id == bindparam("rid"))
            .values(app_id=bindparam("aid"), event_timestamp=bindparam("ts"))
        )
        async with self.db.write() as conn:
            ids = [r[0] for r in (await conn.execute(ids_query)).all()]
            if ids:
                found = (
                    await conn.execute(
                        select(requests.c.id, requests.c.app_id, requests.c.event_timestamp).where(requests.c.id.in_(ids))
                    )
                ).all()
                if found:
                    await conn.execute(fill, [{"rid": r.id, "aid": r.app_id, "ts": r.event_timestamp} for r in found])
                gone = set(ids) - {r.id for r in found}
                if gone:
                    await conn.execute(delete(t).where(t.c.request_id.in_(sorted(gone))))
        return len(ids)

    async def default_rows(self) -> int:
        async with self.db.read() as conn:
            return int(await conn.run_sync(default_rows))

    async def erase(
        self, conn: AsyncConnection, app_id: int, identity: str, value: str,
        hours: Sequence[tuple[datetime, datetime]], delete_requests: bool,
    ) -> tuple[int, int]:
        """The requests are found on the ``(app_id, event_timestamp)`` index, in those hours only."""
        column = requests.c[identity]
        in_hours = or_(*(and_(requests.c.event_timestamp >= s, requests.c.event_timestamp < e) for s, e in hours))
        ids = [
            r[0]
            for r in (
                await conn.execute(select(requests.c.id).where(requests.c.app_id == app_id, column == value, in_hours))
            ).all()
        ]
        payloads = 0
        for chunk in _chunks(ids):
            payloads += (
                await conn.execute(delete(request_payloads).where(request_payloads.c.request_id.in_(chunk)))
            ).rowcount
            if delete_requests:
                await conn.execute(delete(request_limits).where(request_limits.c.request_id.in_(chunk)))
                await forget(conn, (await conn.execute(deleting(requests.c.id.in_(chunk)))).all())
            else:
                await conn.execute(update(requests).where(requests.c.id.in_(chunk)).values({identity: None}))
        return len(ids), payloads


async def _limit_states(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = defaultdict(dict)
    for chunk in _chunks(ids):
        query = (
            select(request_limits.c.request_id, request_limits.c.state, limits.c.limit_id)
            .join(limits, limits.c.id == request_limits.c.limit_pk)
            .where(request_limits.c.request_id.in_(chunk))
        )
        for row in (await conn.execute(query)).all():
            out[row.request_id][row.limit_id] = row.state
    return dict(out)


def _wheres(app_ids: tuple[int, ...], query: LogQuery, window: tuple[datetime, datetime] | None = None) -> list[Any]:
    start, end = window or (query.start, query.end)
    wheres: list[Any] = [
        requests.c.app_id == app_ids[0] if len(app_ids) == 1 else requests.c.app_id.in_(app_ids),
        requests.c.event_timestamp >= start,
        requests.c.event_timestamp < end,
        # Implied by the range (an event is at most EVENT_LEAD later than its id's time), and lets PostgreSQL skip
        # the request log's partitions of the days before it (store/partitions.py).
        requests.c.id >= id_at(start - EVENT_LEAD),
    ]
    for name, values in query.filters.items():
        column = requests.c[FILTERS[name]]
        if name == "use_case_version":
            ints = [int(v) for v in values if v]
            wheres.append(or_(column.in_(ints), column.is_(None)) if "" in values else column.in_(ints))
        else:
            present = [v for v in values if v]
            cond = column.in_(present)
            wheres.append(or_(cond, column.is_(None), column == "") if "" in values else cond)
    if query.failed is not None:
        wheres.append(requests.c.failed.is_(query.failed))
    return wheres


def _page_statement(
    app_ids: tuple[int, ...], query: LogQuery, after: tuple[datetime, int] | None, size: int,
    window: tuple[datetime, datetime] | None = None,
) -> Any:
    wheres = _wheres(app_ids, query, window)
    ts, rid = requests.c.event_timestamp, requests.c.id
    if after is not None:
        # The range condition first, so that the (app_id, event_timestamp) index bounds the scan.
        if query.newest_first:
            wheres += [ts <= after[0], or_(ts < after[0], rid < after[1])]
        else:
            wheres += [ts >= after[0], or_(ts > after[0], rid > after[1])]
    order = [ts.desc(), rid.desc()] if query.newest_first else [ts.asc(), rid.asc()]
    return select(*_SELECTED).where(*wheres).order_by(*order).limit(size)


