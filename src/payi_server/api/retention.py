"""An application's recorded data (organisation keys): how long it is kept (``store.retention``), and erasing a
user or an account from it (``store.erasure``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..auth.dependency import OrgKey
from ..errors import api_error
from ..store.erasure import describe, erase
from ..store.retention import MAX_DAYS, Retention
from .admin import _app_id
from .common import Flag, JsonRoute, request_id, state
from .openapi import answers

router = APIRouter(prefix="/api/v1/admin/applications/{app_id}", tags=["admin"], route_class=JsonRoute)

Days = int | None


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RetentionSet(_Closed):
    """Days kept (0: forever; null: the server's default). A field left out is unchanged."""

    request_days: Days = Field(default=None, ge=0, le=MAX_DAYS)
    payload_days: Days = Field(default=None, ge=0, le=MAX_DAYS)


class RetentionView(_Closed):
    application_id: str
    request_days: int | None = Field(description="The application's own setting (null: the server's default)")
    payload_days: int | None
    effective_request_days: int | None = Field(description="What applies (null: kept forever)")
    effective_payload_days: int | None


class RetentionAnswer(_Closed):
    retention: RetentionView
    request_id: str


class ErasureAsk(_Closed):
    """One of ``user_id`` or ``account_name``."""

    user_id: str | None = Field(default=None, min_length=1, max_length=200)
    account_name: str | None = Field(default=None, min_length=1, max_length=200)
    delete_requests: Flag = False

    @model_validator(mode="after")
    def _one(self) -> ErasureAsk:
        if (self.user_id is None) == (self.account_name is None):
            raise ValueError("give one of user_id or account_name")
        return self


class ErasureCounts(_Closed):
    requests_anonymised: int | None = None
    requests_deleted: int | None = None
    payloads_deleted: int
    rollup_rows_merged: int


class ErasureAnswer(_Closed):
    erased: ErasureCounts
    request_id: str


async def _app(request: Request, principal: Any, app_id: str) -> int:
    number = _app_id(app_id)
    await state(request).tenancy.get_application(principal.org_id, number)  # 404 unless the organisation's
    return number


def _retention(request: Request) -> Retention:
    retention = state(request).retention
    if retention is None:  # pragma: no cover - every started server has one
        raise api_error("unavailable")
    return retention


@router.get("/retention", **answers(RetentionAnswer))
async def get_retention(app_id: str, principal: OrgKey, request: Request) -> dict[str, Any]:
    policy = await _retention(request).get(await _app(request, principal, app_id))
    return {"retention": policy.view(), "request_id": request_id(request)}


@router.put("/retention", **answers(RetentionAnswer))
async def set_retention(app_id: str, body: RetentionSet, principal: OrgKey, request: Request) -> dict[str, Any]:
    number = await _app(request, principal, app_id)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    policy = await _retention(request).set(number, changes)
    return {"retention": policy.view(), "request_id": request_id(request)}


@router.post("/erasure", **answers(ErasureAnswer))
async def erase_identity(app_id: str, body: ErasureAsk, principal: OrgKey, request: Request) -> dict[str, Any]:
    number = await _app(request, principal, app_id)
    identity, value = ("user_id", body.user_id) if body.user_id is not None else ("account_name", body.account_name)
    assert value is not None
    counts = await erase(state(request).db, number, identity, value, delete_requests=body.delete_requests)  # type: ignore[arg-type]
    return {"erased": describe(counts, body.delete_requests), "request_id": request_id(request)}
