"""Forecasts of limits from the hourly limit rollups: the burn rate, where the window ends, the spend projected at
its end, and when the max is reached at this rate.

The recent rate (``forecast_limits``) is the limit's spend per hour over the last 7 days, or since its window
began, it was reset or created if that is later (whole hours of ``rollup_limit_hourly``: a reset in the middle of
an hour counts that hour from its start). The rate of a range (``forecast_over``, the page's selected range) is its
spend per hour over that range, up to now and from the limit's creation if later; resets and window starts inside
the range do not shorten it (the burn rate of the range, not of the current window). Either way the projection
starts from what the limit has spent in its window now. Less than an hour of history gives no forecast.
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
    """Forecasts of limit rows (the ``limits`` columns, ``spent`` as shown) at their recent rate, keyed by the rows'
    ``id``."""
    rows = list(rows)
    return await _forecasts(db, rows, now, {int(r["id"]): since(r, now) for r in rows}, now)


async def forecast_over(
    db: Database, rows: Iterable[Mapping[str, Any]], now: datetime, start: datetime, end: datetime
) -> dict[int, Forecast]:
    """Forecasts of limit rows at the rate of ``[start, end)`` (the page's range; up to now, from each limit's
    creation if later), keyed by the rows' ``id``."""
    rows = list(rows)
    starts = {int(r["id"]): hour_floor(max(start, r["created_at"])) for r in rows}
    return await _forecasts(db, rows, now, starts, min(end, now))


async def _forecasts(
    db: Database, rows: list[Mapping[str, Any]], now: datetime, starts: dict[int, datetime], until: datetime
) -> dict[int, Forecast]:
    """The rate of each row is its spend in the hours from ``starts[id]`` to ``until``."""
    if not rows:
        return {}
    t = rollup_limit_hourly
    query = (
        select(t.c.limit_pk, t.c.bucket, wide_sum(t.c.cost_total, db.is_sqlite))
        .where(t.c.limit_pk.in_(list(starts)), t.c.bucket >= min(starts.values()))
        .group_by(t.c.limit_pk, t.c.bucket)
    )
    if until < now:  # a range that ended: not the hours after it
        query = query.where(t.c.bucket < until)
    async with db.read() as conn:
        spend: dict[int, float] = {}
        for pk, bucket, cost in (await conn.execute(query)).all():
            if bucket >= starts[int(pk)]:
                spend[int(pk)] = spend.get(int(pk), 0.0) + float(cost)
    out = {}
    for row in rows:
        pk = int(row["id"])
        hours = (until - starts[pk]) / timedelta(hours=1)
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
