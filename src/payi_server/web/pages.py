"""Dashboard pages built from reports: the overview, a breakdown per dimension, and CSV exports of both.

Every number here comes from the rollups through ``ReportService``; the request-log export streams the log.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from ..errors import ApiError
from ..reports.formats import export_stream, report_csv
from ..reports.buckets import check_zone
from ..reports.query import ReportQuery
from ..reports.requestlog import iter_requests
from ..reports.scope import Scope, load_scope, narrow
from ..reports.service import Report, ReportService
from ..store.changes import utcnow
from .context import PageFilters, chart_data, counts_chart, latency_chart
from .data import limits_in
from .errors import web_error
from .render import SECURITY_HEADERS, render
from .session import PageNotFound, Viewer

router = APIRouter(include_in_schema=False)

DIMENSION_PAGES = {
    "resource": "Models",
    "category": "Categories",
    "use_case": "Use cases",
    "use_case_step": "Use case steps",
    "user": "Users",
    "account": "Accounts",
    "application": "Applications",
    "limit": "Limits",
    "property": "Request properties",
}
# Breakdowns whose rollup combines with the application only: other filters do not apply there.
NARROW = frozenset({"limit", "property"})


def db_of(request: Request) -> Any:
    return request.app.state.payi.db


async def page_scope(request: Request, org_id: int, filters: PageFilters | None = None) -> tuple[Scope, Scope]:
    """``(the organisation's applications, those the page's application filter keeps)``."""
    scope = await load_scope(db_of(request), org_id)
    if filters is None or not filters.app:
        return scope, scope
    try:
        return scope, narrow(scope, [filters.app])
    except ApiError as exc:
        raise web_error(exc) from None


async def run(request: Request, scope: Scope, query: ReportQuery) -> Report:
    try:
        return await ReportService(db_of(request)).spend(scope, query)
    except ApiError as exc:
        raise web_error(exc) from None


def _query(filters: PageFilters, **kwargs: Any) -> ReportQuery:
    try:
        return filters.report_query(**kwargs)
    except ApiError as exc:
        raise web_error(exc) from None


def live_apps(scope: Scope) -> list[tuple[str, str]]:
    return [(str(a), scope.name(a)) for a in scope.app_ids if a not in scope.deleted]


async def _use_case_choices(request: Request, scope: Scope, filters: PageFilters) -> list[str]:
    unfiltered = replace(filters, dims={k: v for k, v in filters.dims.items() if k != "use_case"})
    report = await run(request, scope, _query(unfiltered, group_by=("use_case",), bucket="total", top=200))
    return sorted(r["use_case"] for r in report.rows if r["use_case"])


async def _previous_totals(request: Request, scope: Scope, filters: PageFilters) -> dict[str, Any]:
    """The totals of the period before the page's, to show the trend."""
    try:
        return (await run(request, scope, filters.previous_query())).totals
    except ApiError:
        return {}  # a custom range that starts near 1970 has no period before it


@router.get("/")
async def overview(request: Request, user: Viewer) -> Response:
    filters = PageFilters.from_request(request)
    org_scope, scope = await page_scope(request, user.org_id, filters)
    # Each report is one scan of the rollups over the range: they run side by side (a connection each), so the
    # page takes about as long as its longest report where the database has the cores, not their sum.
    top_dims = ("resource", "use_case", "user")
    over_query = _query(filters, latency=True)
    top_queries = [_query(filters, group_by=(dim,), bucket="total", top=10) for dim in top_dims]
    over_task = asyncio.create_task(run(request, scope, over_query))
    top_tasks = [asyncio.create_task(run(request, scope, query)) for query in top_queries]
    before_task = asyncio.create_task(_previous_totals(request, scope, filters))
    use_case_task = asyncio.create_task(_use_case_choices(request, scope, filters))
    limits_task = asyncio.create_task(limits_in(db_of(request), scope, over=filters.window()))
    tasks: list[asyncio.Task[Any]] = [over_task, *top_tasks, before_task, use_case_task, limits_task]
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        task.result()  # the first that failed raises its error (the page's error page)
    over_time, before, shown = over_task.result(), before_task.result(), limits_task.result()
    tops = {dim: task.result().rows for dim, task in zip(top_dims, top_tasks, strict=True)}
    near = sorted((lim for lim in shown if near_max(lim)), key=lambda lim: -lim["percent"])
    return render(
        request,
        "overview.html",
        {
            "filters": filters,
            "apps": live_apps(org_scope),
            "use_cases": use_case_task.result(),
            "report": over_time,
            "totals": over_time.totals,
            "chart": chart_data(over_time),
            "counts_chart": counts_chart(over_time),
            "latency_chart": latency_chart(over_time),
            "tops": tops,
            "trends": {m: trend(over_time.totals.get(m), before.get(m)) for m in ("cost_total", "requests")},
            "near_limits": near[:NEAR_SHOWN],
            "near_more": max(0, len(near) - NEAR_SHOWN),
        },
    )


NEAR_SHOWN = 6
NEAR_PERCENT = 80.0
NEAR_AHEAD = timedelta(days=7)


def near_max(limit: dict[str, Any]) -> bool:
    """A limit past its threshold, at 80% of its max or more, or reaching its max within 7 days at its rate."""
    ahead = limit.get("forecast")
    soon = ahead is not None and ahead.reached_at is not None and ahead.reached_at - utcnow() < NEAR_AHEAD
    return bool(limit["state"] != "ok" or limit["percent"] >= NEAR_PERCENT or soon)


def trend(now: Any, before: Any) -> dict[str, Any] | None:
    """This period against the previous one: ``{"percent": 12.5, "up": True}``; None when there is nothing to
    compare with (nothing before)."""
    if not before:
        return None
    change = 100.0 * (float(now or 0) - float(before)) / float(before)
    return {"percent": abs(change), "up": change > 0, "flat": abs(change) < 0.05}


@router.get("/breakdown/{dimension}")
async def breakdown(request: Request, dimension: str, user: Viewer) -> Response:
    if dimension not in DIMENSION_PAGES:
        raise PageNotFound("There is no such breakdown.")
    filters = PageFilters.from_request(request)
    org_scope, scope = await page_scope(request, user.org_id, filters)
    effective = replace(filters, dims={}) if dimension in NARROW else filters
    group = dimension
    names: list[str] = []
    prop = request.query_params.get("name", "")[:200]
    if dimension == "property":
        start, end = filters.window()
        names = await ReportService(db_of(request)).property_names(scope, start, end)
        prop = prop if prop in names else (names[0] if names else "")
        group = f"property:{prop}" if prop else ""
    table: Report | None = None
    chart: dict[str, Any] | None = None
    if group:
        table = await run(request, scope, _query(effective, group_by=(group,), bucket="total", top=500))
        over_time = await run(request, scope, _query(effective, group_by=(group,), top=6))
        chart = chart_data(over_time, series_of=group)
    return render(
        request,
        "breakdown.html",
        {
            "filters": filters,
            "apps": live_apps(org_scope),
            "use_cases": await _use_case_choices(request, scope, effective),
            "dimension": dimension,
            "group": group,
            "title": DIMENSION_PAGES[dimension],
            "pages": DIMENSION_PAGES,
            "narrow": dimension in NARROW,
            "property_names": names,
            "property": prop,
            "table": table,
            "chart": chart,
        },
    )


@router.get("/export/report.csv")
async def export_report(request: Request, user: Viewer) -> Response:
    """The current view as CSV: by bucket, grouped by ``group`` when given."""
    filters = PageFilters.from_request(request)
    _org, scope = await page_scope(request, user.org_id, filters)
    group = request.query_params.get("group", "")[:210]
    narrowed = replace(filters, dims={}) if group in NARROW or group.startswith("property:") else filters
    report = await run(request, scope, _query(narrowed, group_by=(group,) if group else ()))
    what = f"spend-by-{group.replace(':', '-')}" if group else "spend"
    name = export_name(filters, f"{what}-per-{report.query.bucket}")
    headers = {**SECURITY_HEADERS, "content-disposition": f'attachment; filename="{name}"'}
    return Response(report_csv(report), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/export/requests.csv")
async def export_request_log(request: Request, user: Viewer) -> StreamingResponse:
    """The request log of the current view (oldest first), streamed as CSV."""
    filters = PageFilters.from_request(request)
    _org, scope = await page_scope(request, user.org_id, filters)
    query = replace(filters.log_query(), newest_first=False)
    headers = {**SECURITY_HEADERS, "content-disposition": f'attachment; filename="{export_name(filters, "requests")}"'}
    return StreamingResponse(
        export_stream(_app_names(iter_requests(db_of(request), scope, query), scope), "csv"),
        media_type="text/csv; charset=utf-8", headers=headers,
    )


async def _app_names(pages: AsyncIterator[list[dict[str, Any]]], scope: Scope) -> AsyncIterator[list[dict[str, Any]]]:
    """The dashboard's export names applications (the API's gives their ids)."""
    async for rows in pages:
        yield [{**row, "application": scope.name(int(row["application"]))} for row in rows]


def export_name(filters: PageFilters, what: str) -> str:
    """``payi-<what>-<first day>-to-<last day>.csv`` in the page's zone; a range of a day or less by its hours
    (``2026-12-02T1100-to-2026-12-03T1100``, the end excluded)."""
    start, end = filters.window()
    zone = check_zone(filters.tz)
    short = end - start <= timedelta(days=1)
    first, last = start.astimezone(zone), (end if short else end - timedelta(seconds=1)).astimezone(zone)
    fmt = "%Y-%m-%dT%H%M" if short else "%Y-%m-%d"
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", what)[:80]
    return f"payi-{safe}-{first.strftime(fmt)}-to-{last.strftime(fmt)}.csv"
