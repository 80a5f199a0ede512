"""Our own admin API (organisation keys only): applications, their two key slots, organisation keys."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ..auth.dependency import OrgKey
from ..auth.manage import key_view
from . import schemas as doc
from .common import Flag, IsoDateTime, JsonRoute, page, parse_id, request_id, state
from .openapi import answers

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], route_class=JsonRoute)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApplicationCreate(_Body):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    store_prompts: Flag = False


class ApplicationUpdate(_Body):
    description: str | None = Field(default=None, max_length=2000)
    store_prompts: Flag | None = None


class KeyExpiry(_Body):
    expires_at: IsoDateTime | None = None


class OrgKeyCreate(_Body):
    label: str = Field(default="", max_length=200)
    expires_at: IsoDateTime | None = None


async def _seen_here(request: Request) -> None:
    """Apply a key or application change to this process's cache now; tell the others (through Redis, when
    configured; otherwise their next poll, within a second, sees it)."""
    changes = state(request).changes
    await changes.poll_once()
    await changes.poke()


def _app_id(value: str) -> int:
    return parse_id(value, "application_not_found", "Application")


def _key_id(value: str) -> int:
    return parse_id(value, "key_not_found", "Key")


@router.post("/applications", status_code=201, **answers(doc.ApplicationCreated, status=201, errors=(409,)))
async def create_application(body: ApplicationCreate, principal: OrgKey, request: Request) -> dict[str, Any]:
    app, keys = await state(request).tenancy.create_application(
        principal.org_id, body.name, description=body.description, store_prompts=body.store_prompts
    )
    return {
        "application": app,
        "keys": [key_view(k.row, k.plaintext) for k in keys],
        "request_id": request_id(request),
        "message": "Store these keys now: they will not be shown again.",
    }


@router.get("/applications", **answers(doc.ApplicationPage))
async def list_applications(principal: OrgKey, request: Request) -> dict[str, Any]:
    return page(await state(request).tenancy.list_applications(principal.org_id))


@router.get("/applications/{app_id}", **answers(doc.ApplicationAnswer))
async def get_application(app_id: str, principal: OrgKey, request: Request) -> dict[str, Any]:
    app = await state(request).tenancy.get_application(principal.org_id, _app_id(app_id))
    return {"application": app, "request_id": request_id(request)}


@router.patch("/applications/{app_id}", **answers(doc.ApplicationAnswer))
async def update_application(
    app_id: str, body: ApplicationUpdate, principal: OrgKey, request: Request
) -> dict[str, Any]:
    app = await state(request).tenancy.update_application(
        principal.org_id, _app_id(app_id), store_prompts=body.store_prompts, description=body.description
    )
    await _seen_here(request)
    return {"application": app, "request_id": request_id(request)}


@router.delete("/applications/{app_id}", **answers(doc.ApplicationAnswer))
async def delete_application(app_id: str, principal: OrgKey, request: Request) -> dict[str, Any]:
    app = await state(request).tenancy.delete_application(principal.org_id, _app_id(app_id))
    await _seen_here(request)
    return {"application": app, "request_id": request_id(request), "message": "Application deleted; its keys are revoked."}


@router.post("/applications/{app_id}/keys/{slot}/regenerate", **answers(doc.KeyAnswer))
async def regenerate_key(
    app_id: str, slot: Literal["1", "2"], principal: OrgKey, request: Request, body: KeyExpiry | None = None
) -> dict[str, Any]:
    issued = await state(request).tenancy.regenerate(
        principal.org_id, _app_id(app_id), int(slot), body.expires_at if body else None
    )
    await _seen_here(request)
    return {
        "key": key_view(issued.row, issued.plaintext),
        "request_id": request_id(request),
        "message": "Store this key now: it will not be shown again. The key it replaces no longer works.",
    }


@router.get("/keys", **answers(doc.KeyPage, errors=(404,)))
async def list_keys(
    principal: OrgKey, request: Request, app_id: str | None = None, include_revoked: bool = False
) -> dict[str, Any]:
    app = _app_id(app_id) if app_id else None
    return page(await state(request).tenancy.list_keys(principal.org_id, app, include_revoked))


@router.post("/keys/{key_id}/revoke", **answers(doc.KeyAnswer))
async def revoke_key(key_id: str, principal: OrgKey, request: Request) -> dict[str, Any]:
    key = await state(request).tenancy.revoke_key(principal.org_id, _key_id(key_id))
    await _seen_here(request)
    return {"key": key, "request_id": request_id(request)}


@router.put("/keys/{key_id}/expiry", **answers(doc.KeyAnswer))
async def set_key_expiry(key_id: str, body: KeyExpiry, principal: OrgKey, request: Request) -> dict[str, Any]:
    key = await state(request).tenancy.set_expiry(principal.org_id, _key_id(key_id), body.expires_at)
    await _seen_here(request)
    return {"key": key, "request_id": request_id(request)}


@router.post("/org-keys", status_code=201, **answers(doc.KeyAnswer, status=201))
async def create_org_key(body: OrgKeyCreate, principal: OrgKey, request: Request) -> dict[str, Any]:
    issued = await state(request).tenancy.create_org_key(principal.org_id, label=body.label, expires_at=body.expires_at)
    return {
        "key": key_view(issued.row, issued.plaintext),
        "request_id": request_id(request),
        "message": "Store this key now: it will not be shown again.",
    }
