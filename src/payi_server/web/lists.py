"""Dashboard pages that list things: limits, use cases, the request log (and one request), applications and keys."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..ids import numeric_id
from ..reports.requestlog import read_page, read_top, safe_uri
from ..store.requestlog import TOP_COLUMNS
from ..reports.scope import Scope
from .accounts import WebUser
from .context import PageFilters
from .data import cursor_of, limits_in, parse_cursor, request_detail, use_cases_in
from .flash import take_flash
from .limit_pages import PERIODS
from .pages import _query, _use_case_choices, db_of, live_apps, page_scope, run
from .render import render
from .session import PageNotFound, Viewer

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
# ?sort= of the request log: newest first (""), oldest first, or the top of the range by cost or latency.
SORTS = {"": "newest first", "oldest": "oldest first", "cost": "most expensive", "latency": "slowest"}


@router.get("/limits")
async def limits_page(request: Request, user: Viewer) -> Response:
    filters = PageFilters.from_request(request)
    org_scope, scope = await page_scope(request, user.org_id, filters)
    shown = await limits_in(db_of(request), scope, over=filters.window())  # burn rates of the page's range too
    return render(
        request,
        "limits.html",
        {"filters": filters, "apps": live_apps(org_scope), "limits": shown,
         "periods": PERIODS, **await take_flash(request, user)},
    )


@router.get("/use-cases")
async def use_cases_page(request: Request, user: Viewer) -> Response:
    filters = PageFilters.from_request(request)
    org_scope, scope = await page_scope(request, user.org_id, filters)
    spend = await run(request, scope, _query(filters, group_by=("application", "use_case"), bucket="total"))
    spend_of = {(r["application"], r["use_case"]): r for r in spend.rows}
    items = await use_cases_in(db_of(request), scope, filters.window())
    for item in items:
        item["spend"] = spend_of.get((item["app_id"], item["name"]))
    return render(
        request,
        "use_cases.html",
        {"filters": filters, "apps": live_apps(org_scope), "groups": use_case_groups(items), "periods": PERIODS,
         **await take_flash(request, user)},
    )


def use_case_groups(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Use cases by name across applications: the sums, and each application's row."""
    groups: dict[str, dict[str, Any]] = {}
    for item in items:
        group = groups.setdefault(item["name"], {"name": item["name"], "items": [], "instances": 0, "requests": 0,
                                                 "cost_total": 0})
        group["items"].append(item)
        group["instances"] += item["instances"]
        if item["spend"]:
            group["requests"] += item["spend"]["requests"]
            group["cost_total"] += item["spend"]["cost_total"]
    return sorted(groups.values(), key=lambda g: (-g["cost_total"], g["name"]))


@router.get("/requests")
async def requests_page(request: Request, user: Viewer) -> Response:
    filters = PageFilters.from_request(request)  # the overview's default range: a link between them keeps the view
    org_scope, scope = await page_scope(request, user.org_id, filters)
    failed_param = request.query_params.get("failed", "")
    failed = {"yes": True, "no": False}.get(failed_param)
    sort = request.query_params.get("sort", "")
    sort = sort if sort in SORTS else ""
    query = filters.log_query(failed=failed)
    if sort in TOP_COLUMNS:  # the most expensive / slowest of the range: one page
        rows, more = await read_top(db_of(request), scope, query, sort, PAGE_SIZE), False
    else:
        query = replace(query, newest_first=sort != "oldest")
        after = parse_cursor(request.query_params.get("cursor"))
        rows = await read_page(db_of(request), scope, query, after, PAGE_SIZE + 1)
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
    for row in rows:
        row["application"] = scope.name(row["app_id"])
        row["provider_uri"] = safe_uri(row.get("provider_uri"))
    next_cursor = cursor_of(rows[-1]) if more and rows else ""
    return render(
        request,
        "requests.html",
        {
            "filters": filters,
            "apps": live_apps(org_scope),
            "use_cases": await _use_case_choices(request, scope, filters),
            "rows": rows,
            "failed": failed_param,
            "sort": sort,
            "sorts": SORTS,
            "next_qs": filters.qs(cursor=next_cursor, failed=failed_param, sort=sort) if next_cursor else "",
        },
    )


@router.get("/requests/{request_id}")
async def request_page(request: Request, request_id: str, user: Viewer) -> Response:
    number = numeric_id(request_id)
    if number is None:
        raise PageNotFound("There is no such request.")
    filters = PageFilters.from_request(request)
    org_scope, _scope = await page_scope(request, user.org_id)
    found = await request_detail(db_of(request), org_scope, number)
    if found is None:
        raise PageNotFound("There is no such request.")
    return render(request, "request.html", {"filters": filters, "r": found})


async def applications_context(request: Request, user: WebUser) -> dict[str, Any]:
    """What the applications page shows: live applications, each with its keys (never a secret part)."""
    org_scope, _scope = await page_scope(request, user.org_id)
    tenancy = request.app.state.payi.tenancy
    apps = await tenancy.list_applications(user.org_id)
    keys = await tenancy.list_keys(user.org_id)
    for app in apps:
        app["keys"] = sorted((k for k in keys if k["app_id"] == app["app_id"]), key=lambda k: k["slot"] or 0)
    org_keys = [k for k in keys if k["app_id"] is None]
    return {"filters": PageFilters.from_request(request), "applications": apps, "org_keys": org_keys,
            "scope": org_scope}


@router.get("/applications")
async def applications_page(request: Request, user: Viewer) -> Response:
    context = await applications_context(request, user)
    return render(request, "applications.html", {**context, **await take_flash(request, user)})


def _scope_names(scope: Scope) -> dict[str, str]:
    return {str(a): scope.name(a) for a in scope.app_ids}
