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

from sqlalchemy import DateTime, String, case, func, literal, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from ..errors import ApiError

_HOUR = timedelta(hours=1)


def check_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (``UTC``, ``Europe/Paris`` ...), or 400 ``invalid_timezone``."""
    if not name or len(name) > 64 or not all(c.isalnum() or c in "/_+-" for c in name):
        raise ApiError(400, "invalid_timezone", "Unknown time zone; use an IANA name such as Europe/Paris")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApiError(400, "invalid_timezone", "Unknown time zone; use an IANA name such as Europe/Paris") from None


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


def bucket_label(dialect: str, column: Any, unit: str, tz: str, start: datetime, end: datetime) -> ColumnElement[Any]:
    """An SQL expression naming the local ``day`` or ``month`` that a rollup hour falls in.

    PostgreSQL yields a timestamp without zone (local midnight of the bucket); SQLite a text date-time
    ``YYYY-MM-DD 00:00:00``. ``label_start`` reads either back into an aware date-time.
    """
    if unit not in ("day", "month"):
        raise ValueError(unit)
    if dialect == "postgresql":
        return type_coerce(func.date_trunc(unit, func.timezone(tz, column)), DateTime())
    segments = offset_segments(check_zone(tz), start, end)
    if len(segments) == 1:
        shift: ColumnElement[Any] = literal(_modifier(segments[0][1]), String())
    else:
        whens = [(column < until, literal(_modifier(off), String())) for until, off in segments[:-1] if until]
        shift = case(*whens, else_=literal(_modifier(segments[-1][1]), String()))
    fmt = "%Y-%m-%d 00:00:00" if unit == "day" else "%Y-%m-01 00:00:00"
    return type_coerce(func.strftime(fmt, column, shift), String())


def label_start(value: Any, tz: str) -> datetime:
    """The aware start of a local bucket, from what ``bucket_label`` returned."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"unexpected bucket label {value!r}")
    zone = check_zone(tz)
    if value.tzinfo is not None:  # an hour bucket: the UTC hour itself
        return value.astimezone(zone)
    return value.replace(tzinfo=zone)


def local_hour(value: Any, tz: str) -> datetime:
    """A UTC rollup hour shown in the zone."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(check_zone(tz))  # type: ignore[no-any-return]
