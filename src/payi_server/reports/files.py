"""Exports to files, for ``payi-server export``: the request log (streamed, constant memory) and reports.

The CLI draws the progress bar; this module reports progress through a callback and estimates the total from
the rollups (whole hours, so the estimate can exceed the exact count at the edges of the range).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, BinaryIO

import orjson

from ..store.engine import Database
from .formats import export_stream, report_csv
from .query import ReportQuery, build_query
from ..store.requestlog import LogQuery
from .requestlog import iter_requests
from .scope import Scope
from .service import ReportService


async def estimate_requests(db: Database, scope: Scope, query: LogQuery) -> int:
    """About how many rows ``query`` will export, from the rollups (no scan of the request log)."""
    filters = {name: list(values) for name, values in query.filters.items()}
    rollup_query = build_query(start=query.start, end=query.end, bucket="total", filters=filters)
    report = await ReportService(db).spend(scope, rollup_query)
    return int(report.totals.get("requests", 0))


async def write_requests(
    db: Database,
    scope: Scope,
    query: LogQuery,
    fmt: str,
    out: BinaryIO,
    progress: Callable[[int], None] | None = None,
    page_size: int = 2000,
) -> int:
    """Write every matching request (oldest first) as CSV or JSON lines; return the number written."""
    written = 0
    counted = _Counted(iter_requests(db, scope, query, page_size))
    async for chunk in export_stream(counted, fmt):
        out.write(chunk)
        if counted.rows != written:
            if progress is not None:
                progress(counted.rows - written)
            written = counted.rows
    return written


class _Counted:
    """Passes pages through, counting their rows."""

    def __init__(self, pages: AsyncIterator[list[dict[str, Any]]]) -> None:
        self._pages = pages
        self.rows = 0

    def __aiter__(self) -> _Counted:
        return self

    async def __anext__(self) -> list[dict[str, Any]]:
        page = await self._pages.__anext__()
        self.rows += len(page)
        return page


async def write_report(db: Database, scope: Scope, query: ReportQuery, fmt: str, out: BinaryIO) -> int:
    """Write a report as CSV or JSON (as the API answers it); return its number of rows."""
    report = await ReportService(db).spend(scope, query)
    if fmt == "csv":
        out.write(report_csv(report).encode())
    else:
        out.write(orjson.dumps(report.as_dict(), option=orjson.OPT_UTC_Z | orjson.OPT_INDENT_2) + b"\n")
    return len(report.rows)
