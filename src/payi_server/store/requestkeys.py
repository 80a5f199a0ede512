"""Duplicate detection of the request log on PostgreSQL, where the log is partitioned by id (``partitions.py``).

The SDK's retry queue and crash replays send an event again; an event with a ``provider_response_id`` is recorded
once per ``(app_id, category, provider_response_id)``. A table partitioned by id cannot hold a unique index on those
columns, so the keys live in ``request_keys``, partitioned by the same days of ``request_id``, each partition with
its own unique index. The recorder's statement (``KeyedRequestInsert``) does in one round trip what the unique
index on ``requests`` did: a key is new when no partition of the window holds it (an index probe per partition),
is inserted into the partition of its request's day (``ON CONFLICT DO NOTHING``: two servers inserting the same
key the same day, the second waits for the first and skips), and only the rows whose key was inserted (or that
have none) are inserted into ``requests``.

The window is ``DUPLICATE_WINDOW`` (7 days) before the batch and one day after: a copy sent later than that is
recorded again; two copies arriving in the same moment on either side of midnight (UTC) land in two partitions
and both count: over-counted, never lost. Keys live as long as their requests (they are dropped and deleted with
them), so a lookup by provider response id (``api/requests.py``) finds any request still in the log.
SQLite keeps the unique index on ``requests`` (``tables.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from .bulk import UnnestInsert
from .partitions import id_at
from .tables import request_keys, requests

DUPLICATE_WINDOW = timedelta(days=7)
_AHEAD = timedelta(days=1)


def window(now: datetime) -> tuple[int, int]:
    """The ids ``[since, until)`` whose keys a batch recorded at ``now`` is checked against."""
    return id_at(now - DUPLICATE_WINDOW), id_at(now + _AHEAD)


class KeyedRequestInsert(UnnestInsert):
    """``requests`` rows from column arrays, skipping those whose key is already recorded; returns the ids
    inserted. The batch's keys go to ``request_keys`` in the same statement."""

    def __init__(self) -> None:
        super().__init__(requests)
        names = ", ".join(name for name, _ in self.columns)
        since, until = f"${len(self.columns) + 1}::int8", f"${len(self.columns) + 2}::int8"
        self.sql = (
            f"WITH b AS ({self.source}), "
            "k AS (INSERT INTO request_keys (request_id, app_id, category, provider_response_id) "
            "SELECT b.id, b.app_id, b.category, b.provider_response_id FROM b "
            "WHERE b.provider_response_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM request_keys o "
            "WHERE o.app_id = b.app_id AND o.category = b.category AND o.provider_response_id = b.provider_response_id "
            f"AND o.request_id >= {since} AND o.request_id < {until}) "
            "ON CONFLICT DO NOTHING RETURNING request_id) "
            f"INSERT INTO requests ({names}) SELECT {names} FROM b "
            "WHERE b.provider_response_id IS NULL OR b.id IN (SELECT request_id FROM k) RETURNING id"
        )

    async def insert(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]], now: datetime) -> list[int]:
        if not rows:
            return []
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        return [r[0] for r in await driver.fetch(self.sql, *self.arrays(rows), *window(now))]


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
