"""Forecasts of limits from the hourly limit rollups: the burn rate, where the window ends, the spend projected at
its end, and when the max is reached at this rate.

The rate is the limit's spend per hour over the last 7 days, or since its window began, it was reset or created
if that is later (whole hours of ``rollup_limit_hourly``: a reset in the middle of an hour counts that hour from
its start). Less than an hour of history gives no forecast.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from ..limits.model import window_start
from ..store.engine import Database
from ..store.sums import wide_sum
from ..store.tables import rollup_limit_hourly
from .buckets import hour_floor

LOOKBACK = timedelta(days=7)
_HORIZON_HOURS = 24 * 366 * 10  # further than 10 years reads as "not at this rate"
_NEXT = {"day": timedelta(hours=26), "week": timedelta(hours=170), "month": timedelta(days=32)}


@dataclass(frozen=True)
class Forecast:
    per_day: float  # USD per day at the recent rate
    window_end: datetime | None  # periodic limits: when this window ends
    projected: float | None  # periodic limits: the spend at the window's end at this rate
    reached_at: datetime | None  # when the max is reached at this rate (None: not before the window ends / never)
    reached: bool  # the max is reached already


def window_end(period: str | None, tz: str | None, now: datetime) -> datetime | None:
    start = window_start(period, tz, now)
    return window_start(period, tz, start + _NEXT[period]) if start is not None and period else None


def since(row: Mapping[str, Any], now: datetime) -> datetime:
    """Where the rate is measured from: 7 days back, or the window's start, the last reset or the creation."""
    marks = [now - LOOKBACK, row["created_at"], row.get("reset_at"), window_start(row["period"], row["timezone"], now)]
    return hour_floor(max(m for m in marks if m is not None))


async def forecast_limits(db: Database, rows: Iterable[Mapping[str, Any]], now: datetime) -> dict[int, Forecast]:
    """Forecasts of limit rows (the ``limits`` columns, ``spent`` as shown), keyed by the rows' ``id``."""
    rows = list(rows)
    if not rows:
        return {}
    starts = {int(r["id"]): since(r, now) for r in rows}
    t = rollup_limit_hourly
    query = (
        select(t.c.limit_pk, t.c.bucket, wide_sum(t.c.cost_total, db.is_sqlite))
        .where(t.c.limit_pk.in_(list(starts)), t.c.bucket >= min(starts.values()))
        .group_by(t.c.limit_pk, t.c.bucket)
    )
    async with db.read() as conn:
        spend: dict[int, float] = {}
        for pk, bucket, cost in (await conn.execute(query)).all():
            if bucket >= starts[int(pk)]:
                spend[int(pk)] = spend.get(int(pk), 0.0) + float(cost)
    out = {}
    for row in rows:
        pk = int(row["id"])
        hours = (now - starts[pk]) / timedelta(hours=1)
        if hours < 1:
            continue
        rate = spend.get(pk, 0.0) / hours  # USD per hour
        spent, maximum = float(row["spent"]), float(row["max"])
        end = window_end(row["period"], row["timezone"], now)
        projected = spent + rate * ((end - now) / timedelta(hours=1)) if end is not None else None
        reached_at = None
        if spent < maximum and rate > 0 and (maximum - spent) / rate < _HORIZON_HOURS:
            at = now + timedelta(hours=(maximum - spent) / rate)
            reached_at = at if end is None or at < end else None
        out[pk] = Forecast(rate * 24, end, projected, reached_at, spent >= maximum)
    return out
