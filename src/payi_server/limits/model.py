"""What a limit is, independent of storage: states, thresholds, periodic windows, and the wire view.

States (Pay-i's, ``xproxy_result.limits[id].state`` and the ``totals.requests`` counters):

- ``ok``: spend after the request is below the risk threshold (``threshold * max``; threshold 1.0 by default);
- ``exceeded``: at or above the risk threshold, not above ``max``;
- ``overrun``: above ``max`` after the request;
- ``blocked``: this block limit stopped the request (proxy only); ``blocked_external``: another limit did;
- ``failed``: the request failed (a provider error); its cost, if any, still counts.

Periodic limits (beyond Pay-i) reset at calendar boundaries in a time zone. The window a limit's totals belong to
is stored with them; a limit whose window has passed is read as empty, and its old totals become history, at
read time: no job has to run for a reset to happen.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

STATES = ("ok", "exceeded", "overrun", "blocked", "blocked_external", "failed")
LIMIT_TYPES = ("block", "allow")
PERIODS = ("day", "week", "month")
ENFORCEMENTS = ("default", "strict")
ZERO = Decimal(0)


def state_after(spent_after: Decimal, maximum: Decimal, threshold: Decimal | None) -> str:
    if spent_after > maximum:
        return "overrun"
    if spent_after >= (maximum if threshold is None else maximum * threshold):
        return "exceeded"
    return "ok"


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def window_start(period: str | None, tz: str | None, at: datetime) -> datetime | None:
    """Start (UTC) of the calendar window containing ``at``: local midnight, Monday, or the 1st of the month."""
    if period is None:
        return None
    local = at.astimezone(zone(tz))
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        day -= timedelta(days=day.weekday())
    elif period == "month":
        day = day.replace(day=1)
    elif period != "day":
        raise ValueError(f"unknown period {period!r}")
    # Re-localise: a DST change between `local` and the boundary must not shift the boundary.
    boundary = datetime(day.year, day.month, day.day, tzinfo=zone(tz))
    return boundary.astimezone(UTC)


def is_stale(row: Mapping[str, Any], at: datetime) -> bool:
    """Whether the stored totals belong to a window that has ended."""
    current = window_start(row["period"], row["timezone"], at)
    return current is not None and row["window_start"] is not None and row["window_start"] < current


def totals_view(row: Mapping[str, Any], *, empty: bool = False) -> dict[str, Any]:
    """``TotalCostData`` of a limit row (all zero when ``empty``: a stale periodic window)."""
    if empty:
        spent_in = spent_out = spent = ZERO
        counts = dict.fromkeys(STATES, 0)
        total = 0
    else:
        spent_in, spent_out, spent = row["spent_input"], row["spent_output"], row["spent_total"]
        counts = {state: int(row[f"count_{state}"]) for state in STATES}
        total = int(row["count_total"])
    overrun = spent - row["max"] if spent > row["max"] else ZERO
    return {
        "cost": {
            "input": {"base": float(spent_in)},
            "output": {"base": float(spent_out)},
            "total": {"base": float(spent), "overrun_base": float(overrun)},
        },
        "requests": {**counts, "total": total},
    }


def limit_view(row: Mapping[str, Any], at: datetime | None = None) -> dict[str, Any]:
    """The ``Limit`` object of the wire protocol (plus our extras: properties, tags, enforcement, period)."""
    at = at or datetime.now(UTC)
    stale = is_stale(row, at)
    view: dict[str, Any] = {
        "limit_id": row["limit_id"],
        "limit_name": row["name"],
        "limit_type": row["limit_type"],
        "max": float(row["max"]),
        "threshold": float(row["threshold"]) if row["threshold"] is not None else None,
        "limit_creation_timestamp": row["created_at"],
        "limit_update_timestamp": row["updated_at"],
        "totals": totals_view(row, empty=stale),
        "properties": row["properties"] or {},
        "limit_tags": row["limit_tags"] or [],
        "enforcement": row["enforcement"],
        "reserved": float(row["reserved"]),
    }
    if row["period"]:
        view["period"] = row["period"]
        view["timezone"] = row["timezone"] or "UTC"
        view["window_start"] = window_start(row["period"], row["timezone"], at)
    return view
