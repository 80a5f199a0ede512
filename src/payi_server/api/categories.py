"""The eight ``/api/v1/categories`` endpoints: the price catalog. Reads take any key; changes take an
organisation key (custom categories and prices are organisation-wide)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ..auth.dependency import AnyKey, OrgKey
from ..errors import api_error
from ..pricing.admin import CatalogAdmin
from ..store.types import MAX_AMOUNT
from . import schemas as doc
from .common import Flag, Int64, IsoDateTime, JsonRoute, Number, paginate, raw_segments, state
from .openapi import answers

router = APIRouter(prefix="/api/v1/categories", tags=["categories"], route_class=JsonRoute)

ActiveQuery = Annotated[bool | None, Query(alias="Active")]
CursorQuery = Annotated[str | None, Query(max_length=200)]
LimitQuery = Annotated[int | None, Query(ge=1, le=1000)]


class UnitPriceIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    input_price: Number | None = Field(default=None, ge=0)  # at most MAX_UNIT_PRICE: pricing.admin.parse_units
    output_price: Number | None = Field(default=None, ge=0)


class ResourceCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    units: dict[str, UnitPriceIn]
    max_input_units: Int64 | None = None
    max_output_units: Int64 | None = None
    max_total_units: Int64 | None = None
    start_timestamp: IsoDateTime | None = None
    large_context_threshold: Int64 | None = None
    character_billing: Flag = False
    proxy_allowed: Flag = True
    description: str | None = Field(default=None, max_length=2000)
    mapped_resource: dict[str, Any] | None = None
    azure_resource: dict[str, Any] | None = None
    aws_bedrock_resource: dict[str, Any] | None = None
    google_vertex_resource: dict[str, Any] | None = None
    cost_per_hour: Number | None = Field(default=None, ge=0, le=float(MAX_AMOUNT))
    reservation_id: str | None = None


def _admin(request: Request) -> CatalogAdmin:
    s = state(request)
    return CatalogAdmin(s.db, s.book)


def _parts(request: Request, count: tuple[int, ...]) -> list[str]:
    """Segments after /api/v1/categories: [category, 'resources', resource?, resource_id?]."""
    parts = raw_segments(request)[4:]
    if len(parts) not in count or (len(parts) > 1 and parts[1] != "resources") or any(p == "" for p in parts):
        raise api_error("not_found")
    return parts


@router.get("", **answers(doc.CategoryPage))
async def list_categories(
    request: Request,
    principal: AnyKey,
    active: ActiveQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = None,
    sort_ascending: bool | None = None,
) -> dict[str, Any]:
    items = await _admin(request).categories(principal.org_id, active)
    return paginate(items, cursor, limit, sort_ascending)


@router.get("/{category}/resources", **answers(doc.ResourcePage))
async def list_resources(
    request: Request,
    principal: AnyKey,
    active: ActiveQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = None,
    sort_ascending: bool | None = None,
) -> dict[str, Any]:
    category = _parts(request, (2,))[0]
    return paginate(await _admin(request).list_resources(principal.org_id, category, active), cursor, limit, sort_ascending)


# The documented paths are the SDK's; the hidden ``{tail:path}`` route behind them catches resource names that hold
# several "/" (sent as %2F, decoded before routing). All of them read the raw path, so they answer alike.
_RESOURCE = "/{category}/resources/{resource}"
_VERSION = "/{category}/resources/{resource}/{resource_id}"
_TAIL = "/{category}/resources/{tail:path}"


@router.get(_TAIL, include_in_schema=False)
@router.get(_RESOURCE, **answers(doc.ResourcePage))
@router.get(_VERSION, **answers(doc.Resource))
async def get_resource(
    request: Request,
    principal: AnyKey,
    active: ActiveQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = None,
    sort_ascending: bool | None = None,
) -> Any:
    parts = _parts(request, (3, 4))
    admin = _admin(request)
    if len(parts) == 4:
        return await admin.version(principal.org_id, parts[0], parts[2], parts[3])
    versions = await admin.versions(principal.org_id, parts[0], parts[2], active)
    return paginate(versions, cursor, limit, sort_ascending)


@router.post(_TAIL, status_code=200, include_in_schema=False)
@router.post(_RESOURCE, status_code=200, **answers(doc.Resource, errors=(409,)))  # 409: same start_timestamp
async def create_resource(request: Request, body: ResourceCreate, principal: OrgKey) -> dict[str, Any]:
    parts = _parts(request, (3,))
    data = body.model_dump(exclude_none=True)
    data["units"] = {name: prices.model_dump() for name, prices in body.units.items()}
    return await _admin(request).create(principal.org_id, parts[0], parts[2], data)


@router.delete("/{category}", **answers(list[doc.Resource]))
async def delete_category(request: Request, principal: OrgKey) -> list[dict[str, Any]]:
    parts = _parts(request, (1,))
    return await _admin(request).delete(principal.org_id, parts[0])


@router.delete(_TAIL, include_in_schema=False)
@router.delete(_RESOURCE, **answers(list[doc.Resource]))
@router.delete(_VERSION, **answers(doc.Resource))
async def delete_resource(request: Request, principal: OrgKey) -> list[dict[str, Any]] | dict[str, Any]:
    parts = _parts(request, (3, 4))
    admin = _admin(request)
    if len(parts) == 4:
        return (await admin.delete(principal.org_id, parts[0], parts[2], parts[3]))[0]
    return await admin.delete(principal.org_id, parts[0], parts[2])
