"""The request log itself, read page by page for exports and the dashboard's request list (``RequestLog.page``).

Pages are keyset-paginated on ``(event_timestamp, id)`` within ``app_id IN scope`` (the request log's
``(app_id, event_timestamp)`` index), each page in its own short read, so an export of any size holds one page
in memory and no long transaction. Rows never carry a key; ``provider_uri`` loses its query string (some
providers put credentials there, ``?key=...``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func, select

from ..errors import api_error
from ..store.engine import Database
from ..store.requestlog import FILTERS, LogQuery
from ..store.tables import rollups_for
from .buckets import check_zone, hour_floor
from .query import DEFAULT_RANGE, HOURLY_DIMENSIONS, aware, check_date
from .scope import Scope

EXPORT_COLUMNS = (
    "request_id",
    "application",
    "source",
    "category",
    "resource",
    "event_timestamp",
    "ingest_timestamp",
    "cost_input",
    "cost_output",
    "cost_total",
    "unpriced",
    "units",
    "unknown_units",
    "use_case_id",
    "use_case_name",
    "use_case_version",
    "use_case_step",
    "user_id",
    "account_name",
    "limit_ids",
    "properties",
    "request_tags",
    "http_status_code",
    "failed",
    "blocked",
    "end_to_end_latency_ms",
    "time_to_first_token_ms",
    "provider_response_id",
    "provider_uri",
    "resource_scope",
    "price_as_category",
    "price_as_resource",
)

def make_log_query(
    start: datetime | None,
    end: datetime | None,
    tz: str = "UTC",
    filters: Mapping[str, list[str]] | None = None,
    failed: bool | None = None,
) -> LogQuery:
    """A checked request-log query: dates without a zone are read in ``tz``; default the last 30 days."""
    check_zone(tz)
    end_at = check_date(aware(end, tz)).astimezone(UTC) if end else datetime.now(UTC)
    start_at = check_date(aware(start, tz)).astimezone(UTC) if start else end_at - DEFAULT_RANGE
    if end_at <= start_at:
        raise api_error("invalid_range")
    for name, values in (filters or {}).items():
        if name not in FILTERS:
            raise api_error("invalid_filter", "request_log", filters=', '.join(FILTERS))
        if name == "use_case_version" and any(v and not (v.isascii() and v.isdigit()) for v in values):
            raise api_error("invalid_filter", "use_case_version")
    return LogQuery(
        start=start_at, end=end_at, filters={k: tuple(v) for k, v in (filters or {}).items()}, failed=failed
    )


def safe_uri(value: str | None) -> str | None:
    """A provider URI without query string, fragment or user info."""
    if not value:
        return value
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def export_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A request-log row as exported: ids as strings, ``provider_uri`` made safe."""
    out = {c: row.get(c) for c in EXPORT_COLUMNS if c in row}
    out["request_id"] = str(row["id"])
    out["application"] = str(row["app_id"])
    out["provider_uri"] = safe_uri(row.get("provider_uri"))
    return {c: out.get(c) for c in EXPORT_COLUMNS}


_HOUR = timedelta(hours=1)


async def _windows(db: Database, scope: Scope, query: LogQuery) -> dict[int, tuple[datetime, datetime]]:
    """For a filtered query: the applications with matching rows, each with the hours that hold them.

    Read from the rollups, so a filter that matches little (a rare user, failed calls) does not walk the whole
    range of every application's log to find it. (The narrowest rollup with the filters' dimensions: filtered by
    user alone, the one by user.)"""
    t, _daily = rollups_for({HOURLY_DIMENSIONS[name] for name in query.filters if name != "application"})
    wheres: list[Any] = [t.c.app_id.in_(scope.app_ids), t.c.bucket >= hour_floor(query.start), t.c.bucket < query.end]
    for name, values in query.filters.items():
        column = t.c[HOURLY_DIMENSIONS[name]]
        if name == "use_case_version":
            wheres.append(column.in_([int(v) if v else 0 for v in values]))
        else:
            wheres.append(column.in_(list(values)))
    if query.failed is True:
        wheres.append(t.c.failed > 0)
    elif query.failed is False:
        wheres.append(t.c.requests > t.c.failed)
    stmt = select(t.c.app_id, func.min(t.c.bucket), func.max(t.c.bucket)).where(*wheres).group_by(t.c.app_id)
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    return {r[0]: (max(query.start, r[1]), min(query.end, r[2] + _HOUR)) for r in rows}


async def read_page(
    db: Database, scope: Scope, query: LogQuery, after: tuple[datetime, int] | None, size: int
) -> list[dict[str, Any]]:
    """One page of rows after the keyset position ``after`` (``(event_timestamp, id)`` of the last row seen), from
    the request log (``RequestLog.page``). Filtered queries first ask the rollups which applications and hours can
    match."""
    if not scope.app_ids:
        return []
    windows: dict[int, tuple[datetime, datetime]] | None = None
    app_ids = scope.app_ids
    if query.filters or query.failed is not None:
        windows = await _windows(db, scope, query)
        app_ids = tuple(a for a in scope.app_ids if a in windows)
    return await db.request_log.page(app_ids, query, after, size, windows)


async def read_top(db: Database, scope: Scope, query: LogQuery, by: str, size: int) -> list[dict[str, Any]]:
    """The ``size`` matching rows of the range with the highest ``by`` (``cost`` or ``latency``; rows without a
    latency last)."""
    return await db.request_log.top(scope.app_ids, query, by, size)


async def iter_requests(
    db: Database, scope: Scope, query: LogQuery, page_size: int = 1000
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every matching row, oldest first, one page (list of export rows) at a time."""
    after: tuple[datetime, int] | None = None
    while True:
        rows = await read_page(db, scope, query, after, page_size)
        if not rows:
            return
        yield [export_row(r) for r in rows]
        if len(rows) < page_size:
            return
        last = rows[-1]
        after = (last["event_timestamp"], last["id"])
