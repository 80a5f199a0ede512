"""Erasure: remove a person (a ``user_id``) or an account (an ``account_name``) from what an application recorded.

- their requests' stored prompts and responses are deleted;
- their request rows lose the identity (the column becomes NULL), or, asked to, are deleted with their limit
  links;
- their rollup rows (hourly, then daily; a user's also in the narrow rollups by user) are merged into the
  anonymous rows of the same hour or day and dimensions (``user_id`` or ``account_name`` ``''``, which reports show
  as "not given"), so every report total and limit stays as it was: the costs stay, the identity goes.

The rollups say which hours hold the identity's requests, so the request log is read only in those hours (on its
``(app_id, event_timestamp)`` index), never scanned whole. Work goes in transactions of about ``batch_size``
requests; each moves its hours' requests and rollup rows together, then the daily rows go in transactions of
``_MAX_RUNS`` days, so an erasure cut short leaves a consistent state and running it again finishes it. Requests recorded while it runs may escape it: stop sending the
identity first (or run it again).

Not touched: request properties, tags and use-case ids (free-form: erase by deleting the requests, or let
retention remove them), property rollups (they carry no user or account).
"""

from __future__ import annotations

import asyncio
from functools import partial
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from sqlalchemy import Table, and_, delete, func, or_, select
from sqlalchemy.exc import DBAPIError

from .engine import Database
from .tables import NARROW_ROLLUPS, ROLLUP_HOURLY_MEASURES, rollup_daily, rollup_hourly
from .upsert import insert_add

Identity = Literal["user_id", "account_name"]
IDENTITIES: tuple[Identity, ...] = ("user_id", "account_name")
_HOUR = timedelta(hours=1)
_MAX_RUNS = 64
_ATTEMPTS = 3
_T = TypeVar("_T")

_MEASURES = ROLLUP_HOURLY_MEASURES


def _narrow(identity: Identity) -> list[tuple[Table, Table]]:
    """The narrow rollups (hourly, daily) that hold ``identity``."""
    return [(n.hourly, n.daily) for n in NARROW_ROLLUPS if identity in n.columns]


def _runs(hours: list[tuple[datetime, int]], batch_size: int) -> Iterator[list[tuple[datetime, datetime]]]:
    """Groups of contiguous hour ranges ``[start, end)``, each group about ``batch_size`` requests."""
    group: list[tuple[datetime, datetime]] = []
    count = 0
    for bucket, n in hours:
        if group and (count + n > batch_size or len(group) >= _MAX_RUNS):
            yield group
            group, count = [], 0
        if group and group[-1][1] == bucket:
            group[-1] = (group[-1][0], bucket + _HOUR)
        else:
            group.append((bucket, bucket + _HOUR))
        count += n
    if group:
        yield group


async def erase(
    db: Database,
    app_id: int,
    identity: Identity,
    value: str,
    *,
    delete_requests: bool = False,
    batch_size: int = 2000,
) -> dict[str, int]:
    """Erase ``identity == value`` from application ``app_id``; the counts of what was removed."""
    if identity not in IDENTITIES:
        raise ValueError(f"identity is one of {IDENTITIES}")
    if not value:
        raise ValueError("the value to erase is not empty (empty is the anonymous key)")
    u_col = rollup_hourly.c[identity]
    hours_query = (
        select(rollup_hourly.c.bucket, func.sum(rollup_hourly.c.requests))
        .where(rollup_hourly.c.app_id == app_id, u_col == value)
        .group_by(rollup_hourly.c.bucket)
        .order_by(rollup_hourly.c.bucket)
    )
    async with db.read() as conn:
        hours = [(r[0], int(r[1] or 0)) for r in (await conn.execute(hours_query)).all()]

    counts = {"requests": 0, "payloads": 0, "rollup_rows": 0}
    for group in _runs(hours, batch_size):
        done = await _retried(partial(_erase_hours, db, app_id, identity, value, group, delete_requests))
        for name, n in done.items():
            counts[name] += n
    await _erase_days(db, app_id, identity, value)
    return counts


def _is_conflict(exc: BaseException) -> bool:
    """A deadlock or serialization failure (SQLSTATE class 40): the transaction can simply be run again."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if str(getattr(seen, "sqlstate", "") or getattr(seen, "pgcode", "") or "").startswith("40"):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return False


async def _erase_hours(
    db: Database,
    app_id: int,
    identity: Identity,
    value: str,
    group: list[tuple[datetime, datetime]],
    delete_requests: bool,
) -> dict[str, int]:
    """One transaction: the identity's requests and rollup rows in these hours."""
    u_col = rollup_hourly.c[identity]
    counts = {"requests": 0, "payloads": 0, "rollup_rows": 0}
    in_buckets = or_(*(and_(rollup_hourly.c.bucket >= s, rollup_hourly.c.bucket < e) for s, e in group))
    async with db.write() as conn:
        done, payloads = await db.request_log.erase(conn, app_id, identity, value, group, delete_requests)
        counts["requests"] += done
        counts["payloads"] += payloads
        counts["rollup_rows"] += await _merge(conn, db, rollup_hourly, identity, rollup_hourly.c.app_id == app_id, u_col == value, in_buckets)
        for table, _daily in _narrow(identity):
            within = or_(*(and_(table.c.bucket >= s, table.c.bucket < e) for s, e in group))
            await _merge(conn, db, table, identity, table.c.app_id == app_id, table.c[identity] == value, within)
    return counts


async def _erase_days(db: Database, app_id: int, identity: Identity, value: str) -> None:
    """The identity's daily rollup rows merged into the anonymous ones, ``_MAX_RUNS`` days a transaction (after
    the hours: an erasure cut short and run again finds them here even when no hour is left), the full rollup's
    first, then the narrow ones'. (The narrow hours go with the full hours, in ``_erase_hours``.)"""
    for t in (rollup_daily, *(daily for _hourly, daily in _narrow(identity))):
        days_query = (
            select(t.c.bucket).where(t.c.app_id == app_id, t.c[identity] == value).group_by(t.c.bucket)
            .order_by(t.c.bucket)
        )
        async with db.read() as conn:
            days = [r[0] for r in (await conn.execute(days_query)).all()]
        for start in range(0, len(days), _MAX_RUNS):
            chunk = days[start : start + _MAX_RUNS]

            async def merge_days(chunk: list[datetime] = chunk, t: Table = t) -> int:
                async with db.write() as conn:
                    return await _merge(
                        conn, db, t, identity, t.c.app_id == app_id, t.c[identity] == value, t.c.bucket.in_(chunk)
                    )

            await _retried(merge_days)


async def _retried(run: Callable[[], Awaitable[_T]]) -> _T:
    """``run()``, run again after a deadlock with a concurrent group commit (PostgreSQL: that one wins)."""
    for attempt in range(_ATTEMPTS - 1):
        try:
            return await run()
        except DBAPIError as exc:
            if not _is_conflict(exc):
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
    return await run()


async def _merge(conn: Any, db: Database, table: Table, identity: Identity, *where: Any) -> int:
    """Delete a dimension rollup's rows matching ``where`` and add what they held (as deleted: a concurrent group
    commit's addition to one is either in it or waits and makes a new row) to the anonymous rows of the same keys,
    in key order like the recorder's, so that the two take row locks in the same order; the rows deleted."""
    keys = tuple(str(c.name) for c in table.primary_key.columns)
    gone = (
        await conn.execute(delete(table).where(*where).returning(*(table.c[k] for k in (*keys, *_MEASURES))))
    ).all()
    moved: dict[tuple[Any, ...], list[Any]] = {}
    for row in gone:
        key = tuple("" if k == identity else row._mapping[k] for k in keys)
        values = [row._mapping[m] for m in _MEASURES]
        current = moved.setdefault(key, [0] * len(values))
        for i, v in enumerate(values):
            current[i] += v
    if moved:
        await conn.execute(
            insert_add(db, table, keys, _MEASURES),
            [
                {**dict(zip(keys, key, strict=True)), **dict(zip(_MEASURES, values, strict=True))}
                for key, values in sorted(moved.items(), key=lambda kv: kv[0])
            ],
        )
    return len(gone)


def describe(counts: dict[str, Any], delete_requests: bool) -> dict[str, Any]:
    """The answer's counts, named for what happened to the requests."""
    return {
        "requests_deleted" if delete_requests else "requests_anonymised": counts["requests"],
        "payloads_deleted": counts["payloads"],
        "rollup_rows_merged": counts["rollup_rows"],
    }
