"""Time buckets in the caller's time zone, computed in SQL over the UTC hours of the rollups.

- ``hour``: the rollup's own UTC hour, shown in the zone (an hour that repeats when clocks go back stays two
  buckets, as it should);
- ``day`` / ``month``: the local calendar day or month containing the hour. PostgreSQL converts with
  ``date_trunc(unit, bucket AT TIME ZONE tz)``; SQLite, which has no time zones, gets the zone's UTC offsets over
  the range (a few segments: one per DST change) as a ``CASE`` and shifts the hour by them.

Limitation (stated in ``docs/dashboard.md``): the rollups are whole UTC hours, so in zones whose offset is not a
whole hour (India, Nepal, parts of Australia) an hour that straddles local midnight is counted in the day it
starts in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import DateTime, Integer, String, case, func, literal, type_coerce
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from ..errors import api_error

_HOUR = timedelta(hours=1)


def check_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (``UTC``, ``Europe/Paris`` ...), or 400 ``invalid_timezone``."""
    if not name or len(name) > 64 or not all(c.isalnum() or c in "/_+-" for c in name):
        raise api_error("invalid_timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise api_error("invalid_timezone") from None


def hour_floor(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return at.replace(minute=0, second=0, microsecond=0)


def hour_ceil(at: datetime) -> datetime:
    floor = hour_floor(at)
    return floor if floor == at.astimezone(UTC) else floor + _HOUR


def offset_segments(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime | None, int]]:
    """``[(until, offset_seconds), ...]``: the zone's UTC offset over ``[start, end)``, the last ``until`` None.

    Walks day by day and finds each change to the hour, so a year costs about 370 offset look-ups.
    """

    def offset(at: datetime) -> int:
        delta = at.astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    segments: list[tuple[datetime | None, int]] = []
    at = hour_floor(start)
    current = offset(at)
    day = timedelta(days=1)
    while at < end:
        nxt = min(at + day, end)
        if offset(nxt) == current:
            at = nxt
            continue
        probe = at + _HOUR  # the change is in (at, nxt]: find its hour
        while offset(probe) == current:
            probe += _HOUR
        segments.append((probe, current))
        current = offset(probe)
        at = probe
    segments.append((None, current))
    return segments


def _modifier(seconds: int) -> str:
    return f"{seconds:+d} seconds"


def bucket_starts(unit: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    """The local day or month starts from the one containing ``start`` to the last before ``end``."""
    zone = check_zone(tz)
    day = start.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    if unit == "month":
        day = day.replace(day=1)
    out: list[datetime] = []
    while True:
        # Re-localised each time: a DST change must not shift the next boundary.
        at = day.replace(tzinfo=zone)
        if at >= end:
            return out
        out.append(at)
        day = day + timedelta(days=1) if unit == "day" else (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def bucket_label(dialect: str, column: Any, unit: str, tz: str, start: datetime, end: datetime) -> ColumnElement[Any]:
    """An SQL expression naming the local ``day`` or ``month`` that a rollup hour falls in.

    PostgreSQL: ``width_bucket(hour, boundaries)``, the 1-based index of the bucket (a binary search in the
    boundaries computed here, so DST and month lengths cost nothing per row). SQLite: the local date as text,
    ``YYYY-MM-DD 00:00:00``, from the hour shifted by the zone's offset. ``label_start`` reads either back.
    """
    if unit not in ("day", "month"):
        raise ValueError(unit)
    if dialect == "postgresql":
        bounds = bucket_starts(unit, tz, start, end)
        array = literal(bounds, postgresql.ARRAY(DateTime(timezone=True)))
        return type_coerce(func.width_bucket(column, array), Integer())
    segments = offset_segments(check_zone(tz), start, end)
    if len(segments) == 1:
        shift: ColumnElement[Any] = literal(_modifier(segments[0][1]), String())
    else:
        whens = [(column < until, literal(_modifier(off), String())) for until, off in segments[:-1] if until]
        shift = case(*whens, else_=literal(_modifier(segments[-1][1]), String()))
    fmt = "%Y-%m-%d 00:00:00" if unit == "day" else "%Y-%m-01 00:00:00"
    return type_coerce(func.strftime(fmt, column, shift), String())


def label_start(value: Any, tz: str, bounds: list[datetime]) -> datetime:
    """The aware start of a local bucket, from what ``bucket_label`` returned (``bounds``: ``bucket_starts``)."""
    if isinstance(value, int):
        # 0: an hour before the first local boundary (zones with a half-hour offset): it joins the first bucket.
        return bounds[min(max(value, 1), len(bounds)) - 1]
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"unexpected bucket label {value!r}")
    return value.replace(tzinfo=check_zone(tz))


def local_hour(value: Any, tz: str) -> datetime:
    """A UTC rollup hour shown in the zone."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(check_zone(tz))  # type: ignore[no-any-return]


_DAY = timedelta(days=1)


def day_floor(at: datetime) -> datetime:
    return hour_floor(at).replace(hour=0)


def whole_days(unit: str, tz: str, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The runs ``[from, to)`` of UTC days that lie wholly inside ``[start, end)`` and inside one ``unit`` bucket
    (``day``, ``month`` or ``total``) of the zone: what the daily rollup can answer for a report. A UTC day that a
    local bucket boundary cuts (every day in a zone off UTC, for ``day`` buckets; the days of a month's first
    midnight, for ``month``) is left to the hours."""
    first = day_floor(start)
    if first < start:
        first += _DAY
    last = day_floor(end)
    if last <= first:
        return []
    cut: set[datetime] = set()
    if unit != "total":
        for boundary in bucket_starts(unit, tz, start, end):
            at = boundary.astimezone(UTC)
            if at != day_floor(at):
                cut.add(day_floor(at))
    runs: list[tuple[datetime, datetime]] = []
    day = first
    while day < last:
        if day not in cut:
            if runs and runs[-1][1] == day:
                runs[-1] = (runs[-1][0], day + _DAY)
            else:
                runs.append((day, day + _DAY))
        day += _DAY
    return runs

