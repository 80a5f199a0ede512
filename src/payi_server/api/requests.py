"""Look up or annotate a recorded request: by Pay-i ``request_id`` or by ``(category, provider_response_id)``.

Path segments are decoded from the raw path, so names containing ``/`` (sent as ``%2F``) work.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from ..auth.cache import Principal
from ..auth.dependency import AppKey
from ..errors import ApiError, api_error
from ..ids import numeric_id
from ..metering.attribution import check_properties
from ..metering.batch import move_property_rollups
from ..metering.results import build_result
from . import schemas as doc
from .common import JsonRoute, raw_segments, state
from .openapi import answers

router = APIRouter(prefix="/api/v1/requests", tags=["requests"], route_class=JsonRoute)


class PropertiesBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    properties: dict[str, Any]


def _not_found() -> ApiError:
    return api_error("request_not_found")


async def _find(request: Request, principal: Principal, *, by_provider: bool) -> dict[str, Any]:
    parts = raw_segments(request)  # ['', 'api', 'v1', 'requests', ...]
    log = state(request).db.request_log
    assert principal.app_id is not None
    row = None
    if by_provider:
        if len(parts) == 8:
            row = await log.find_by_response(principal.app_id, parts[5], parts[6])
    else:
        number = numeric_id(parts[4]) if len(parts) == 6 else None
        if number is not None:
            row = await log.find(principal.app_id, number)
    if row is None:
        raise _not_found()
    return row


async def _result(request: Request, row: dict[str, Any]) -> dict[str, Any]:
    states = await state(request).db.request_log.limit_states([row["id"]])
    return {"xproxy_result": build_result(row, states.get(row["id"], {}))}


async def _update_properties(request: Request, row: dict[str, Any], body: PropertiesBody) -> dict[str, Any]:
    changes = check_properties(body.properties, "properties")
    db = state(request).db
    async with db.write() as conn:
        before, merged = await db.request_log.update_properties(conn, row["id"], changes)
        await move_property_rollups(conn, db, row, before, merged)
    return {"request_id": str(row["id"]), "properties": merged}


@router.get("/provider/{category}/{provider_response_id:path}/result", **answers(doc.RequestResult))
async def result_by_response_id(request: Request, principal: AppKey) -> dict[str, Any]:
    return await _result(request, await _find(request, principal, by_provider=True))


@router.put("/provider/{category}/{provider_response_id:path}/properties", **answers(doc.RequestProperties))
async def properties_by_response_id(request: Request, body: PropertiesBody, principal: AppKey) -> dict[str, Any]:
    return await _update_properties(request, await _find(request, principal, by_provider=True), body)


@router.get("/{request_id}/result", **answers(doc.RequestResult))
async def result_by_request_id(request: Request, principal: AppKey) -> dict[str, Any]:
    return await _result(request, await _find(request, principal, by_provider=False))


@router.put("/{request_id}/properties", **answers(doc.RequestProperties))
async def properties_by_request_id(request: Request, body: PropertiesBody, principal: AppKey) -> dict[str, Any]:
    return await _update_properties(request, await _find(request, principal, by_provider=False), body)
