"""Look up or annotate a recorded request: by Pay-i ``request_id`` or by ``(category, provider_response_id)``.

Path segments are decoded from the raw path, so names containing ``/`` (sent as ``%2F``) work.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update

from ..auth.cache import Principal
from ..auth.dependency import AppKey
from ..errors import ApiError, api_error
from ..ids import numeric_id
from ..metering.attribution import check_properties
from ..metering.batch import load_limit_states, move_property_rollups
from ..metering.results import build_result
from ..store.requestkeys import recorded_ids
from ..store.tables import requests
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
    db = state(request).db
    query = select(requests).where(requests.c.app_id == principal.app_id)
    async with db.read() as conn:
        if by_provider:
            if len(parts) != 8:
                raise _not_found()
            if db.is_sqlite:
                query = query.where(requests.c.category == parts[5], requests.c.provider_response_id == parts[6])
            else:  # the log is partitioned by id: its keys say which (store/requestkeys.py)
                assert principal.app_id is not None
                key = (principal.app_id, parts[5], parts[6])
                query = query.where(requests.c.id == (await recorded_ids(conn, [key])).get(key))
        else:
            number = numeric_id(parts[4]) if len(parts) == 6 else None
            if number is None:
                raise _not_found()
            query = query.where(requests.c.id == number)
        row = (await conn.execute(query)).first()
    if row is None:
        raise _not_found()
    return dict(row._mapping)


async def _result(request: Request, row: dict[str, Any]) -> dict[str, Any]:
    async with state(request).db.read() as conn:
        states = await load_limit_states(conn, [row["id"]])
    return {"xproxy_result": build_result(row, states.get(row["id"], {}))}


async def _update_properties(request: Request, row: dict[str, Any], body: PropertiesBody) -> dict[str, Any]:
    changes = check_properties(body.properties, "properties")
    async with state(request).db.write() as conn:
        current = (await conn.execute(select(requests.c.properties).where(requests.c.id == row["id"]))).scalar()
        merged = dict(current or {})
        for name, value in changes.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        await conn.execute(update(requests).where(requests.c.id == row["id"]).values(properties=merged or None))
        await move_property_rollups(conn, state(request).db, row, dict(current or {}), merged)
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
