"""Erasure: remove a person (a ``user_id``) or an account (an ``account_name``) from what an application recorded.

- their requests' stored prompts and responses are deleted;
- their request rows lose the identity (the column becomes NULL), or, asked to, are deleted with their limit
  links;
- their rollup rows are merged into the anonymous rows of the same hour and dimensions (``user_id`` or
  ``account_name`` ``''``, which reports show as "not given"), so every report total and limit stays as it was:
  the costs stay, the identity goes.

The rollups say which hours hold the identity's requests, so the request log is read only in those hours (on its
``(app_id, event_timestamp)`` index), never scanned whole. Work goes in transactions of about ``batch_size``
requests; each moves its hours' requests and rollup rows together, so an erasure cut short leaves a consistent
state and running it again finishes it. Requests recorded while it runs may escape it: stop sending the
identity first (or run it again).

Not touched: request properties, tags and use-case ids (free-form: erase by deleting the requests, or let
retention remove them), property rollups (they carry no user or account).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, delete, func, literal, or_, select, update

from .engine import Database
from .tables import request_limits, request_payloads, requests, rollup_hourly
from .upsert import insert_add

Identity = Literal["user_id", "account_name"]
IDENTITIES: tuple[Identity, ...] = ("user_id", "account_name")
_HOUR = timedelta(hours=1)
_IN_CHUNK = 1000
_MAX_RUNS = 64

_KEYS = (
    "bucket",
    "app_id",
    "category",
    "resource",
    "use_case_name",
    "use_case_version",
    "use_case_step",
    "user_id",
    "account_name",
)
_MEASURES = (
    "requests",
    "failed",
    "blocked",
    "unpriced",
    "cost_input",
    "cost_output",
    "cost_total",
    "units_input",
    "units_output",
)


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


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), _IN_CHUNK):
        yield ids[i : i + _IN_CHUNK]


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
    r_col = requests.c[identity]
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
    merge = insert_add(db, rollup_hourly, _KEYS, _MEASURES)
    for group in _runs(hours, batch_size):
        in_hours = or_(*(and_(requests.c.event_timestamp >= s, requests.c.event_timestamp < e) for s, e in group))
        in_buckets = or_(*(and_(rollup_hourly.c.bucket >= s, rollup_hourly.c.bucket < e) for s, e in group))
        async with db.write() as conn:
            ids = [
                r[0]
                for r in (
                    await conn.execute(select(requests.c.id).where(requests.c.app_id == app_id, r_col == value, in_hours))
                ).all()
            ]
            for chunk in _chunks(ids):
                counts["payloads"] += (
                    await conn.execute(delete(request_payloads).where(request_payloads.c.request_id.in_(chunk)))
                ).rowcount
                if delete_requests:
                    await conn.execute(delete(request_limits).where(request_limits.c.request_id.in_(chunk)))
                    await conn.execute(delete(requests).where(requests.c.id.in_(chunk)))
                else:
                    await conn.execute(update(requests).where(requests.c.id.in_(chunk)).values({identity: None}))
            counts["requests"] += len(ids)
            # The identity's rollup rows, added to the anonymous rows of the same keys, then removed.
            source = select(
                *(literal("").label(k) if k == identity else rollup_hourly.c[k] for k in _KEYS),
                *(rollup_hourly.c[m] for m in _MEASURES),
            ).where(rollup_hourly.c.app_id == app_id, u_col == value, in_buckets)
            await conn.execute(merge.from_select([*_KEYS, *_MEASURES], source))
            counts["rollup_rows"] += (
                await conn.execute(
                    delete(rollup_hourly).where(rollup_hourly.c.app_id == app_id, u_col == value, in_buckets)
                )
            ).rowcount
    return counts


def describe(counts: dict[str, Any], delete_requests: bool) -> dict[str, Any]:
    """The answer's counts, named for what happened to the requests."""
    return {
        "requests_deleted" if delete_requests else "requests_anonymised": counts["requests"],
        "payloads_deleted": counts["payloads"],
        "rollup_rows_merged": counts["rollup_rows"],
    }
