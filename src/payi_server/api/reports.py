"""``/api/v1/reports``: spend and request counts from the rollups, and the request log as a streamed export.

Application keys see their own application; organisation keys see all of their organisation's applications and
may narrow with ``application=<id or name>``.

``GET /api/v1/reports/spend``
    ``start``, ``end`` (ISO-8601; without a zone they are read in ``tz``; default: the last 30 days),
    ``bucket`` (hour | day | month | total), ``tz`` (IANA zone, default UTC), ``group_by`` (repeated or
    comma-separated dimensions), ``top`` (keep the N groups with the highest cost), ``format`` (json | csv),
    ``latency`` (true: add the end-to-end latency p50 and p95, in ms, from the rollups' histograms), and filters: ``application``, ``category``, ``resource``, ``use_case``, ``use_case_version``,
    ``use_case_step``, ``user``, ``account``, ``limit`` (limit ids), ``property.<name>=<value>``.
``GET /api/v1/reports/requests``
    The request log, oldest first, streamed: ``format`` (jsonl | csv), ``start``, ``end``, ``failed`` and the
    filters above (not ``limit``/``property``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.datastructures import QueryParams
from starlette.responses import Response, StreamingResponse

from ..auth.cache import Principal
from ..auth.dependency import AnyKey
from ..auth.keys import KeyKind
from ..errors import api_error
from ..jsonio import ORJSONResponse
from ..reports.formats import export_stream, report_csv
from ..reports.query import DIMENSIONS, PROPERTY_PREFIX, ReportQuery, build_query, split_list
from ..reports.requestlog import iter_requests, make_log_query
from ..reports.scope import Scope, load_scope, narrow
from ..reports.service import ReportService
from ..store.requestlog import FILTERS, LogQuery
from .common import state

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

_COMMON = {"start", "end", "tz", "format", "application"}
_SPEND_PARAMS = _COMMON | {"bucket", "group_by", "top", "latency"} | set(DIMENSIONS)
_LOG_PARAMS = _COMMON | {"failed"} | set(FILTERS)


def _filters(params: QueryParams, allowed: set[str]) -> dict[str, list[str]]:
    """Filters from the query string; an unknown parameter is an error (a typo must not widen a report)."""
    out: dict[str, list[str]] = {}
    for name in params:
        if name.startswith("property.") and "property" in allowed:
            out.setdefault(PROPERTY_PREFIX + name[len("property.") :], []).extend(params.getlist(name))
        elif name not in allowed:
            raise api_error("invalid_parameter", name=name[:64])
    for name in DIMENSIONS:
        if name in params and name in allowed and name != "property":
            out[name] = params.getlist(name)
    return out


async def scope_of(request: Request, principal: Principal) -> Scope:
    app_id = principal.app_id if principal.kind is KeyKind.APPLICATION else None
    return await load_scope(state(request).db, principal.org_id, app_id)


def spend_query(params: QueryParams, start: datetime | None, end: datetime | None, bucket: str, tz: str,
                top: int | None, latency: bool = False) -> ReportQuery:
    filters = _filters(params, _SPEND_PARAMS)
    if "application" in params:
        filters["application"] = split_list(params.getlist("application"))
    return build_query(
        start=start, end=end, bucket=bucket, tz=tz, group_by=params.getlist("group_by"), filters=filters, top=top,
        latency=latency,
    )


@router.get(
    "/spend",
    responses={200: {"content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}}},
)
async def spend(
    request: Request,
    principal: AnyKey,
    start: datetime | None = None,
    end: datetime | None = None,
    bucket: Literal["hour", "day", "month", "total"] = "day",
    tz: str = "UTC",
    top: int | None = Query(default=None, ge=1, le=10_000),
    format: Literal["json", "csv"] = "json",
    latency: bool = False,
) -> Any:
    query = spend_query(request.query_params, start, end, bucket, tz, top, latency)
    # JSON carries money as floats: the rows get them without a Decimal each (CSV keeps the exact decimals)
    report = await ReportService(state(request).db).spend(
        await scope_of(request, principal), query, exact=format == "csv"
    )
    if format == "csv":
        return Response(
            report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="payi-report.csv"'},
        )
    # Rendered here (orjson, the app's own response class, which writes a Decimal as its float): through FastAPI's
    # serialisation, and with every row copied to turn its money into floats first, a report of 144,000 rows (a
    # month by hour by user) took about half a second more.
    return ORJSONResponse(report.as_dict(decimals=True))


def log_query(params: QueryParams, start: datetime | None, end: datetime | None, tz: str, failed: bool | None) -> LogQuery:
    filters = _filters(params, _LOG_PARAMS)
    filters.pop("application", None)
    return make_log_query(start, end, tz, filters, failed)


@router.get(
    "/requests",
    responses={
        200: {
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            }
        }
    },
)
async def export_requests(
    request: Request,
    principal: AnyKey,
    start: datetime | None = None,
    end: datetime | None = None,
    tz: str = "UTC",
    failed: bool | None = None,
    format: Literal["jsonl", "csv"] = "jsonl",
) -> StreamingResponse:
    query = log_query(request.query_params, start, end, tz, failed)
    scope = await scope_of(request, principal)
    if "application" in request.query_params:
        scope = narrow(scope, split_list(request.query_params.getlist("application")))
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(
        export_stream(iter_requests(state(request).db, scope, query), format),
        media_type=media,
        headers={"content-disposition": f'attachment; filename="payi-requests.{format}"'},
    )
