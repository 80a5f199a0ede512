"""Duplicate detection of the request log on PostgreSQL, where the log is partitioned by id (``partitions.py``).

The SDK's retry queue and crash replays send an event again; an event with a ``provider_response_id`` is recorded
once per ``(app_id, category, provider_response_id)``. A table partitioned by id cannot hold a unique index on those
columns, so the keys live in ``request_keys``, partitioned by the same days of ``request_id``, each partition with
its own unique index. The recorder's statement (``KeyedRequestInsert``) does in one round trip what the unique
index on ``requests`` did: a key is new when no partition of the window holds it (an index probe per partition),
is inserted into the partition of its request's day (``ON CONFLICT DO NOTHING``: two servers inserting the same
key the same day, the second waits for the first and skips), and only the rows whose key was inserted (or that
have none) are inserted into ``requests``.

The window is ``DUPLICATE_WINDOW`` (7 days) before the batch and an hour after: a copy sent later than that is
recorded again; two copies arriving in the same moment on either side of midnight (UTC) land in two partitions
and both count: over-counted, never lost. Keys live as long as their requests (they are dropped and deleted with
them), so a lookup by provider response id (``api/requests.py``) finds any request still in the log.
SQLite keeps the unique index on ``requests`` (``tables.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, tuple_
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from .bulk import BulkInsert, driver, reading_first
from .partitions import id_at
from .tables import request_keys, requests

DUPLICATE_WINDOW = timedelta(days=7)
_AHEAD = timedelta(hours=1)  # ids another server made with its clock a little ahead (tomorrow probed only then)


def window(now: datetime) -> tuple[int, int]:
    """The ids ``[since, until)`` whose keys a batch recorded at ``now`` is checked against."""
    return id_at(now - DUPLICATE_WINDOW), id_at(now + _AHEAD)


class KeyedRequestInsert(BulkInsert):
    """``requests`` rows from the batch's JSON (``BulkInsert``), skipping those whose key is already recorded;
    returns the ids inserted. The batch's keys go to ``request_keys`` in the same statement. A batch without keys takes the plain
    insert (``plain``): the keyed statement is planned anew at each run (PostgreSQL prefers custom plans for
    partitioned tables), about half a millisecond that such a batch need not pay."""

    def __init__(self) -> None:
        super().__init__(requests)
        self.plain = self.sql + " RETURNING id"
        names = ", ".join(name for name, _ in self.columns)
        since, until = "$2::int8", "$3::int8"
        # OFFSET 0 keeps NOT EXISTS a probe of each window partition's key index per key: made an anti-join, it
        # hashed whole partitions whenever a young partition's statistics said it was small (13 ms for 20 keys
        # instead of 1.5).
        self._ctes = (
            f"b AS ({self.source}), "
            "k AS (INSERT INTO request_keys (request_id, app_id, category, provider_response_id) "
            "SELECT b.id, b.app_id, b.category, b.provider_response_id FROM b "
            "WHERE b.provider_response_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM request_keys o "
            "WHERE o.app_id = b.app_id AND o.category = b.category AND o.provider_response_id = b.provider_response_id "
            f"AND o.request_id >= {since} AND o.request_id < {until} OFFSET 0) "
            "ON CONFLICT DO NOTHING RETURNING request_id)"
        )
        self._insert = (
            f"INSERT INTO requests ({names}) SELECT {names} FROM b "
            "WHERE b.provider_response_id IS NULL OR b.id IN (SELECT request_id FROM k) RETURNING id"
        )
        self.sql = f"WITH {self._ctes} {self._insert}"
        self._reading: dict[tuple[str, bool], str] = {}

    async def insert(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]], now: datetime) -> list[int]:
        return (await self.insert_reading(conn, rows, now))[0]

    async def insert_reading(
        self,
        conn: AsyncConnection,
        rows: Sequence[dict[str, Any]],
        now: datetime,
        query: tuple[str, Any] | None = None,
        table: Table | None = None,
    ) -> tuple[list[int], list[Any] | None]:
        """The ids inserted, and the rows of ``query`` (``(sql, parameter)``, a ``SELECT`` of every column of
        ``table``; ``store.bulk.reading_first``), run first in the same statement (``None``: no query)."""
        if not rows:
            return [], None
        raw = await driver(conn)  # the transaction begun: this is often a batch's first statement
        keyed = any(row.get("provider_response_id") is not None for row in rows)
        arguments = [self.payload(rows), *(window(now) if keyed else ())]
        if query is None:
            return [r[0] for r in await raw.fetch(self.sql if keyed else self.plain, *arguments)], None
        assert table is not None
        sql = self._reading.get((query[0], keyed))
        if sql is None:
            sql = self._reading[(query[0], keyed)] = (
                reading_first(query[0], table, self._ctes, self._insert, 3) if keyed
                else reading_first(query[0], table, "", self.plain, 1)
            )
        ids, read = [], []
        for record in await raw.fetch(sql, *arguments, query[1]):
            if record[0] is None:
                read.append(record)
            else:
                ids.append(record[0])
        return ids, read


async def recorded_ids(
    conn: AsyncConnection, keys: Sequence[tuple[int, str, str]], now: datetime | None = None
) -> dict[tuple[int, str, str], int]:
    """The request recorded for each key (the first, if two were): within the duplicate window of ``now``, or in
    the whole log when ``now`` is None."""
    if not keys:
        return {}
    k = request_keys.c
    query = select(k.request_id, k.app_id, k.category, k.provider_response_id).where(
        tuple_(k.app_id, k.category, k.provider_response_id).in_(sorted(set(keys)))
    )
    if now is not None:
        since, until = window(now)
        query = query.where(k.request_id >= since, k.request_id < until)
    found: dict[tuple[int, str, str], int] = {}
    for row in (await conn.execute(query.order_by(k.request_id.desc()))).all():
        found[(row.app_id, row.category, row.provider_response_id)] = row.request_id
    return found


_FORGET = delete(request_keys).where(
    request_keys.c.app_id == bindparam("a"),
    request_keys.c.category == bindparam("c"),
    request_keys.c.provider_response_id == bindparam("p"),
    request_keys.c.request_id == bindparam("r"),
)


async def forget(conn: AsyncConnection, deleted: Sequence[Row[Any]]) -> None:
    """Delete the keys of requests deleted one by one (retention's batches, erasure): ``deleted`` are their
    ``(id, app_id, category, provider_response_id)``. One probe of a partition's key index each (the table has no
    other index). Nothing on SQLite (its keys are the index of ``requests``)."""
    if conn.dialect.name == "sqlite":
        return
    keys = [
        {"a": r.app_id, "c": r.category, "p": r.provider_response_id, "r": r.id}
        for r in deleted
        if r.provider_response_id is not None
    ]
    if keys:
        await conn.execute(_FORGET, keys)


def deleting(where: Any) -> Any:
    """``DELETE FROM requests WHERE ...`` returning what ``forget`` needs."""
    return delete(requests).where(where).returning(
        requests.c.id, requests.c.app_id, requests.c.category, requests.c.provider_response_id
    )
