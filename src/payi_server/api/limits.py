"""The ``/api/v1/limits`` endpoints (application keys): the seven of Pay-i, plus ``GET .../history``.

| endpoint | success | errors |
|---|---|---|
| ``POST /limits`` | 201 ``LimitResponse`` (200 for an idempotent repeat) | 400 ``create_limit_validation_failed``, ``invalid_max_limit``, ``invalid_tags``; 409 ``limit_name_already_exist``, ``duplicate_limit_id`` |
| ``GET /limits/{id}`` | 200 ``LimitResponse`` | 404 ``limit_not_found`` |
| ``PUT /limits/{id}`` | 200 ``LimitResponse`` | 400 ``update_limit_validation_failed``, ``invalid_max_limit``, ``invalid_max_limit_update``; 404; 409 ``limit_name_already_exist`` |
| ``GET /limits`` | 200 ``{items, cursor}`` | 400 ``invalid_cursor`` |
| ``DELETE /limits/{id}`` | 200 ``DefaultResponse`` | 404 |
| ``POST /limits/{id}/reset?resetDate=`` | 200 ``LimitHistoryResponse`` | 400 ``invalid_reset_date``; 404 |
| ``PUT /limits/{id}/properties`` | 200 JSON array of ``LimitResponse`` | 400 ``update_limit_validation_failed``; 404 |
| ``GET /limits/{id}/history`` | 200 ``{items, cursor}`` of ``LimitHistory`` | 404 |

409 answers carry ``x-should-retry: false``: the SDK would otherwise retry a conflict that cannot go away.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ..auth.dependency import AppKey
from ..limits.config import LIMIT_ID
from ..limits.service import LimitService, not_found
from . import schemas as doc
from .common import (
    IsoDateTime,
    JsonRoute,
    Number,
    decode_cursor,
    encode_cursor,
    request_id,
    state,
    tag_validation_codes,
)
from .openapi import answers

router = APIRouter(prefix="/api/v1/limits", tags=["limits"], route_class=JsonRoute)

CursorQuery = Annotated[str | None, Query(max_length=500)]
PageSizeQuery = Annotated[int | None, Query(ge=1, le=1000)]
DEFAULT_PAGE = 100


# --- bodies --------------------------------------------------------------------------------------------------
class LimitCreate(BaseModel):
    """``POST /api/v1/limits`` (unknown keys ignored; ``enforcement``/``period``/``timezone`` are our extras)."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    limit_name: str = Field(max_length=200)
    max: Number = Field(allow_inf_nan=False)
    limit_id: str | None = Field(default=None, max_length=100)
    limit_type: str | None = Field(default=None, max_length=20)
    properties: dict[str, str | None] | None = None
    threshold: Number | None = Field(default=None, allow_inf_nan=False)
    limit_tags: list[str] | None = None
    enforcement: str | None = Field(default=None, max_length=20)
    period: str | None = Field(default=None, max_length=20)
    timezone: str | None = Field(default=None, max_length=64)


class LimitUpdate(BaseModel):
    """``PUT /api/v1/limits/{id}``: a new name and/or max."""
    model_config = ConfigDict(extra="ignore")
    limit_name: str | None = Field(default=None, max_length=200)
    max: Number | None = Field(default=None, allow_inf_nan=False)


class PropertiesUpdate(BaseModel):
    """``PUT /api/v1/limits/{id}/properties``: a ``null`` value deletes the property."""
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    properties: dict[str, str | None]


def _service(request: Request) -> LimitService:
    return LimitService(state(request).db)


def _app_id(principal: Any) -> int:
    assert principal.app_id is not None  # AppKey guarantees an application
    return int(principal.app_id)


def _limit_id(value: str) -> str:
    """A path id that cannot exist (too long, odd characters) is simply not found."""
    if not LIMIT_ID.match(value):
        raise not_found(value)
    return value


def _answer(limit: dict[str, Any], request: Request, message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"limit": limit, "request_id": request_id(request)}
    if message:
        body["message"] = message
    return body


# --- endpoints -----------------------------------------------------------------------------------------------
@router.post(
    "", status_code=201, **answers(doc.LimitAnswer, status=201, also={200: "The same limit exists already"}, errors=(409,))
)
async def create_limit(body: LimitCreate, principal: AppKey, request: Request, response: Response) -> dict[str, Any]:
    """Create a limit (201), or return the existing one of the same name and configuration (200)."""
    limit, created = await _service(request).create(
        _app_id(principal),
        name=body.limit_name,
        max=body.max,
        limit_id=body.limit_id,
        limit_type=body.limit_type,
        threshold=body.threshold,
        properties=body.properties,
        limit_tags=body.limit_tags,
        enforcement=body.enforcement,
        period=body.period,
        timezone=body.timezone,
    )
    if not created:
        response.status_code = 200
        return _answer(limit, request, "A limit with this name and configuration already exists.")
    return _answer(limit, request)


@router.get("", **answers(doc.LimitPage))
async def list_limits(
    principal: AppKey,
    request: Request,
    cursor: CursorQuery = None,
    limit: PageSizeQuery = None,
    limit_name: Annotated[str | None, Query(max_length=200)] = None,
    sort_ascending: bool | None = None,
) -> dict[str, Any]:
    """The application's limits in creation order, cursor-paged; ``limit_name`` filters by exact name."""
    items, last = await _service(request).list_limits(
        _app_id(principal),
        name=limit_name,
        after=decode_cursor("limits", cursor),
        size=limit or DEFAULT_PAGE,
        ascending=sort_ascending is not False,
    )
    return {"items": items, "cursor": encode_cursor("limits", last) if last is not None else None}


@router.get("/{limit_id}", **answers(doc.LimitAnswer))
async def retrieve_limit(limit_id: str, principal: AppKey, request: Request) -> dict[str, Any]:
    """One limit with its totals (a periodic limit: its current window)."""
    return _answer(await _service(request).get(_app_id(principal), _limit_id(limit_id)), request)


@router.put("/{limit_id}", **answers(doc.LimitAnswer, errors=(409,)))
async def update_limit(limit_id: str, body: LimitUpdate, principal: AppKey, request: Request) -> dict[str, Any]:
    """Rename a limit and/or change its max (never below what it has spent)."""
    limit = await _service(request).update(
        _app_id(principal), _limit_id(limit_id), name=body.limit_name, max=body.max
    )
    return _answer(limit, request)


@router.delete("/{limit_id}", **answers(doc.Deleted))
async def delete_limit(limit_id: str, principal: AppKey, request: Request) -> dict[str, Any]:
    """Delete a limit: its id is unknown from now on."""
    await _service(request).delete(_app_id(principal), _limit_id(limit_id))
    return {"request_id": request_id(request), "message": "Limit has been successfully deleted."}


@router.post("/{limit_id}/reset", **answers(doc.LimitResetAnswer))
async def reset_limit(
    limit_id: str,
    principal: AppKey,
    request: Request,
    reset_date: Annotated[IsoDateTime | None, Query(alias="resetDate")] = None,
) -> dict[str, Any]:
    """Zero a limit's spend and counters; returns the totals before the reset."""
    history = await _service(request).reset(_app_id(principal), _limit_id(limit_id), reset_date)
    return {"limit_history": history, "request_id": request_id(request), "message": "Limit has been successfully reset."}


@router.put("/{limit_id}/properties", **answers(list[doc.LimitAnswer]))
async def update_limit_properties(
    limit_id: str, body: PropertiesUpdate, principal: AppKey, request: Request
) -> list[dict[str, Any]]:
    """Merge properties into a limit; answers a JSON array holding one ``LimitResponse``."""
    limit = await _service(request).update_properties(_app_id(principal), _limit_id(limit_id), body.properties)
    return [_answer(limit, request)]


@router.get("/{limit_id}/history", **answers(doc.LimitHistoryPage))
async def limit_history(
    limit_id: str,
    principal: AppKey,
    request: Request,
    cursor: CursorQuery = None,
    limit: PageSizeQuery = None,
    sort_ascending: bool | None = None,
) -> dict[str, Any]:
    """Resets and finished periodic windows of a limit, newest first unless ``sort_ascending``."""
    items, last = await _service(request).history(
        _app_id(principal),
        _limit_id(limit_id),
        after=decode_cursor("limit_history", cursor),
        size=limit or DEFAULT_PAGE,
        ascending=sort_ascending is True,
    )
    return {"items": items, "cursor": encode_cursor("limit_history", last) if last is not None else None}


tag_validation_codes(
    router,
    {
        create_limit: "create_limit_validation_failed",
        update_limit: "update_limit_validation_failed",
        update_limit_properties: "update_limit_validation_failed",
    },
)
