"""Deployments (organisation keys): which model an application's named deployment runs, so that a call naming only
the deployment (Azure OpenAI) can be estimated, and a strict limit can admit it. See ``pricing.deployments``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ..auth.dependency import OrgKey
from ..errors import api_error
from ..pricing.deployments import AZURE_CATEGORY, MODEL_MAX, NAME_MAX
from ..store.changes import utcnow
from . import schemas as doc
from .admin import _app_id
from .common import JsonRoute, page, request_id, state
from .openapi import answers

router = APIRouter(prefix="/api/v1/admin/applications/{app_id}/deployments", tags=["admin"], route_class=JsonRoute)


class DeploymentSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=MODEL_MAX)
    category: str = Field(default=AZURE_CATEGORY, min_length=1, max_length=200)


def _name(deployment: str) -> str:
    if not deployment or len(deployment) > NAME_MAX or not deployment.isprintable():
        raise api_error("invalid_deployment", name_max=NAME_MAX)
    return deployment


@router.get("", **answers(doc.DeploymentPage))
async def list_deployments(app_id: str, principal: OrgKey, request: Request) -> dict[str, Any]:
    return page(await state(request).deployments.list(principal.org_id, _app_id(app_id)))


@router.put("/{deployment}", **answers(doc.DeploymentAnswer))
async def set_deployment(
    app_id: str, deployment: str, body: DeploymentSet, principal: OrgKey, request: Request
) -> dict[str, Any]:
    s = state(request)
    name = _name(deployment)
    if not s.book.category_exists(principal.org_id, body.category):
        raise api_error("category_not_found", category=body.category[:200], status=400)
    if s.book.resolve(principal.org_id, body.category, body.model, utcnow()) is None:
        raise api_error("resource_not_found", "deployment", model=body.model[:MODEL_MAX], category=body.category)
    row = await s.deployments.set(principal.org_id, _app_id(app_id), body.category, name, body.model)
    await s.changes.poke()
    return {"deployment": row, "request_id": request_id(request)}


@router.delete("/{deployment}", **answers(doc.DeploymentAnswer))
async def remove_deployment(
    app_id: str,
    deployment: str,
    principal: OrgKey,
    request: Request,
    category: str = Query(default=AZURE_CATEGORY, max_length=200),
) -> dict[str, Any]:
    s = state(request)
    row = await s.deployments.remove(principal.org_id, _app_id(app_id), category, _name(deployment))
    await s.changes.poke()
    return {"deployment": row, "request_id": request_id(request)}
