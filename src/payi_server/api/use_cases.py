"""The ``/api/v1/use_cases`` endpoints (application keys): definitions, their KPIs and limit config, instances,
instance properties and KPI scores.

| endpoint | success | errors |
|---|---|---|
| ``POST /definitions`` | 201 definition (an implicit one of that name becomes explicit) | 400 ``invalid_use_case_name``, ``invalid_use_case_description``, limit-config codes; 409 ``use_case_already_exists`` |
| ``GET/PUT/DELETE /definitions/{name}``, ``POST .../increment_version``, ``POST/DELETE .../limit_config`` | 200 definition | 400 ``invalid_use_case_name``; 404 ``use_case_not_found`` |
| ``GET /definitions`` | 200 ``{items, cursor}`` | 400 ``invalid_cursor`` |
| ``POST /definitions/{name}/kpis`` | 201 KPI | 400 ``invalid_kpi_name``, ``invalid_kpi_type``; 404; 409 ``kpi_already_exists`` |
| ``GET/PUT/DELETE /definitions/{name}/kpis/{kpi}``, ``GET .../kpis`` | 200 | 404 ``use_case_not_found``, ``kpi_not_found`` |
| ``POST /instances/{name}`` | 201 instance (with ``limit_id`` when the definition has a limit config) | 404 ``use_case_not_found`` |
| ``GET/DELETE /instances/{name}/{id}``, ``PUT .../properties`` | 200 instance | 404 ``use_case_instance_not_found`` |
| ``PUT /instances/{name}/{id}/kpis/{kpi}`` | 200, empty body | 400 ``invalid_kpi_score``; 404 ``kpi_not_found`` |
| ``GET /instances/{name}/{id}/kpis`` | 200 ``{items, cursor}`` of scores | 404 |

Every definition and KPI object carries ``request_id`` (list items too: the SDK's item types require it).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ..auth.dependency import AppKey
from ..limits.config import parse_config
from ..limits.service import make_instance_limit
from ..usecases.instances import InstanceService
from ..usecases.service import UNSET, UseCaseService
from . import schemas as doc
from .common import (
    Flag,
    JsonRoute,
    Number,
    decode_cursor,
    encode_cursor,
    request_id,
    state,
    tag_validation_codes,
)
from .limits import DEFAULT_PAGE, CursorQuery, PageSizeQuery
from .openapi import answers

router = APIRouter(prefix="/api/v1/use_cases", tags=["use cases"], route_class=JsonRoute)

NameFilter = Annotated[str | None, Query(max_length=64)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class LimitConfigIn(_Body):
    """A use case's ``limit_config`` (the limit every new instance gets); our extras as on limits."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    max: Number = Field(allow_inf_nan=False)
    limit_type: str | None = Field(default=None, max_length=20)
    properties: dict[str, str | None] | None = None
    threshold: Number | None = Field(default=None, allow_inf_nan=False)
    enforcement: str | None = Field(default=None, max_length=20)
    period: str | None = Field(default=None, max_length=20)
    timezone: str | None = Field(default=None, max_length=64)


class DefinitionCreate(_Body):
    """``POST /definitions``."""
    name: str = Field(max_length=200)
    description: str | None = Field(max_length=10_000)
    limit_config: LimitConfigIn | None = None
    logging_enabled: Flag | None = None


class DefinitionUpdate(_Body):
    """``PUT /definitions/{name}``: a ``null`` description is left as it is."""
    description: str | None = Field(default=None, max_length=10_000)
    logging_enabled: Flag | None = None


class KpiCreate(_Body):
    """``POST /definitions/{name}/kpis``."""
    name: str = Field(max_length=200)
    description: str | None = Field(max_length=10_000)
    goal: Number | None = Field(allow_inf_nan=False)
    kpi_type: str = Field(max_length=20)


class KpiUpdate(_Body):
    """``PUT /definitions/{name}/kpis/{kpi}``: a ``null`` goal clears it."""
    description: str | None = Field(default=None, max_length=10_000)
    goal: Number | None = Field(default=None, allow_inf_nan=False)


class PropertiesUpdate(_Body):
    """``PUT /instances/{name}/{id}/properties``: a ``null`` value deletes the property."""
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    properties: dict[str, str | None]


class ScoreUpdate(_Body):
    """``PUT /instances/{name}/{id}/kpis/{kpi}``: a boolean or a number; ``null`` clears the score."""
    score: bool | float | None = Field(default=None, allow_inf_nan=False)


def _config(body: LimitConfigIn | None) -> dict[str, Any] | None:
    """Validate a limit config with the limits rules; store it normalised (properties kept)."""
    if body is None:
        return None
    config = parse_config(
        max=body.max, limit_type=body.limit_type, threshold=body.threshold, enforcement=body.enforcement,
        period=body.period, timezone=body.timezone, properties=body.properties,
    ).as_json()
    if body.properties:
        config["properties"] = {k: v for k, v in body.properties.items() if v is not None}
    return config


def _app_id(principal: Any) -> int:
    assert principal.app_id is not None  # AppKey guarantees an application
    return int(principal.app_id)


def _definitions(request: Request) -> UseCaseService:
    return UseCaseService(state(request).db)


def _instances(request: Request) -> InstanceService:
    return InstanceService(state(request).db, make_limit=make_instance_limit)


async def _forgotten_here(request: Request) -> None:
    """Deleted instances: this process's recorder forgets them now (the next call naming one creates it again);
    the others within their change-feed poll, at once with Redis."""
    changes = state(request).changes
    await changes.poll_once()
    await changes.poke()


def _with_id(view: dict[str, Any], request: Request) -> dict[str, Any]:
    return {**view, "request_id": request_id(request)}


def _page(items: list[dict[str, Any]], request: Request, scope: str, last: int | str | None) -> dict[str, Any]:
    return {
        "items": [_with_id(item, request) for item in items],
        "cursor": encode_cursor(scope, last) if last is not None else None,
    }


# --- definitions ----------------------------------------------------------------------------------------------
@router.post("/definitions", status_code=201, **answers(doc.UseCaseDefinition, status=201, errors=(409,)))
async def create_definition(body: DefinitionCreate, principal: AppKey, request: Request) -> dict[str, Any]:
    """Create a use-case definition (an implicit one of the same name becomes explicit)."""
    view, _created = await _definitions(request).create_definition(
        _app_id(principal),
        name=body.name,
        description=body.description,
        limit_config=_config(body.limit_config),
        logging_enabled=body.logging_enabled,
    )
    return _with_id(view, request)


@router.get("/definitions", **answers(doc.UseCaseDefinitionPage))
async def list_definitions(
    principal: AppKey,
    request: Request,
    cursor: CursorQuery = None,
    limit: PageSizeQuery = None,
    sort_ascending: bool | None = None,
    use_case_name: NameFilter = None,
) -> dict[str, Any]:
    """The application's definitions in creation order, implicit ones included, cursor-paged."""
    items, last = await _definitions(request).list_definitions(
        _app_id(principal),
        name=use_case_name,
        after=decode_cursor("use_cases", cursor),
        size=limit or DEFAULT_PAGE,
        ascending=sort_ascending is not False,
    )
    return _page(items, request, "use_cases", last)


@router.get("/definitions/{use_case_name}", **answers(doc.UseCaseDefinition))
async def retrieve_definition(use_case_name: str, principal: AppKey, request: Request) -> dict[str, Any]:
    """One definition."""
    return _with_id(await _definitions(request).get_definition(_app_id(principal), use_case_name), request)


@router.put("/definitions/{use_case_name}", **answers(doc.UseCaseDefinition))
async def update_definition(
    use_case_name: str, body: DefinitionUpdate, principal: AppKey, request: Request
) -> dict[str, Any]:
    """Change a definition's description and/or ``logging_enabled``."""
    view = await _definitions(request).update_definition(
        _app_id(principal),
        use_case_name,
        description=body.description,
        logging_enabled=body.logging_enabled if "logging_enabled" in body.model_fields_set else UNSET,
    )
    return _with_id(view, request)


@router.delete("/definitions/{use_case_name}", **answers(doc.UseCaseDefinition))
async def delete_definition(use_case_name: str, principal: AppKey, request: Request) -> dict[str, Any]:
    """Delete a definition with its KPIs, instances, scores and instance limits."""
    view = await _definitions(request).delete_definition(_app_id(principal), use_case_name)
    await _forgotten_here(request)
    return _with_id(view, request)


@router.post("/definitions/{use_case_name}/increment_version", **answers(doc.UseCaseDefinition))
async def increment_version(use_case_name: str, principal: AppKey, request: Request) -> dict[str, Any]:
    """Bump a definition's ``type_version``."""
    return _with_id(await _definitions(request).increment_version(_app_id(principal), use_case_name), request)


@router.post("/definitions/{use_case_name}/limit_config", **answers(doc.UseCaseDefinition))
async def create_limit_config(
    use_case_name: str, body: LimitConfigIn, principal: AppKey, request: Request
) -> dict[str, Any]:
    """Set the limit configuration every new instance gets (replaces any earlier one)."""
    view = await _definitions(request).set_limit_config(_app_id(principal), use_case_name, _config(body))
    return _with_id(view, request)


@router.delete("/definitions/{use_case_name}/limit_config", **answers(doc.UseCaseDefinition))
async def delete_limit_config(use_case_name: str, principal: AppKey, request: Request) -> dict[str, Any]:
    """Remove the limit configuration (succeeds when there is none)."""
    view = await _definitions(request).set_limit_config(_app_id(principal), use_case_name, None)
    return _with_id(view, request)


# --- KPI definitions ------------------------------------------------------------------------------------------
@router.post("/definitions/{use_case_name}/kpis", status_code=201, **answers(doc.Kpi, status=201, errors=(409,)))
async def create_kpi(use_case_name: str, body: KpiCreate, principal: AppKey, request: Request) -> dict[str, Any]:
    """Define a KPI on a use case."""
    view = await _definitions(request).create_kpi(
        _app_id(principal),
        use_case_name,
        kpi_name=body.name,
        description=body.description,
        goal=body.goal,
        kpi_type=body.kpi_type,
    )
    return _with_id(view, request)


@router.get("/definitions/{use_case_name}/kpis", **answers(doc.KpiPage))
async def list_kpis(
    use_case_name: str,
    principal: AppKey,
    request: Request,
    cursor: CursorQuery = None,
    kpi_name: NameFilter = None,
    limit: PageSizeQuery = None,
    sort_ascending: bool | None = None,
) -> dict[str, Any]:
    """A use case's KPI definitions, cursor-paged; ``kpi_name`` filters by exact name."""
    items, last = await _definitions(request).list_kpis(
        _app_id(principal),
        use_case_name,
        kpi_name=kpi_name,
        after=decode_cursor("kpis", cursor),
        size=limit or DEFAULT_PAGE,
        ascending=sort_ascending is not False,
    )
    return _page(items, request, "kpis", last)


@router.get("/definitions/{use_case_name}/kpis/{kpi_name}", **answers(doc.Kpi))
async def retrieve_kpi(use_case_name: str, kpi_name: str, principal: AppKey, request: Request) -> dict[str, Any]:
    """One KPI definition."""
    return _with_id(await _definitions(request).get_kpi(_app_id(principal), use_case_name, kpi_name), request)


@router.put("/definitions/{use_case_name}/kpis/{kpi_name}", **answers(doc.Kpi))
async def update_kpi(
    use_case_name: str, kpi_name: str, body: KpiUpdate, principal: AppKey, request: Request
) -> dict[str, Any]:
    """Change a KPI's description and/or goal."""
    view = await _definitions(request).update_kpi(
        _app_id(principal),
        use_case_name,
        kpi_name,
        description=body.description,
        goal=body.goal if "goal" in body.model_fields_set else UNSET,
    )
    return _with_id(view, request)


@router.delete("/definitions/{use_case_name}/kpis/{kpi_name}", **answers(doc.Kpi))
async def delete_kpi(use_case_name: str, kpi_name: str, principal: AppKey, request: Request) -> dict[str, Any]:
    """Delete a KPI definition and its scores."""
    return _with_id(await _definitions(request).delete_kpi(_app_id(principal), use_case_name, kpi_name), request)


# --- instances ------------------------------------------------------------------------------------------------
@router.post("/instances/{use_case_name}", status_code=201, **answers(doc.UseCaseInstance, status=201))
async def create_instance(use_case_name: str, principal: AppKey, request: Request) -> dict[str, Any]:
    """A new instance (server-generated id), with its own limit if the definition has a limit config."""
    return _with_id(await _instances(request).create_instance(_app_id(principal), use_case_name), request)


@router.get("/instances/{use_case_name}/{use_case_id}", **answers(doc.UseCaseInstance))
async def retrieve_instance(use_case_name: str, use_case_id: str, principal: AppKey, request: Request) -> dict[str, Any]:
    """One instance."""
    view = await _instances(request).get_instance(_app_id(principal), use_case_name, use_case_id)
    return _with_id(view, request)


@router.delete("/instances/{use_case_name}/{use_case_id}", **answers(doc.UseCaseInstance))
async def delete_instance(use_case_name: str, use_case_id: str, principal: AppKey, request: Request) -> dict[str, Any]:
    """Delete an instance, its scores and its own limit."""
    view = await _instances(request).delete_instance(_app_id(principal), use_case_name, use_case_id)
    await _forgotten_here(request)
    return _with_id(view, request)


@router.put("/instances/{use_case_name}/{use_case_id}/properties", **answers(doc.UseCaseInstance))
async def update_instance_properties(
    use_case_name: str, use_case_id: str, body: PropertiesUpdate, principal: AppKey, request: Request
) -> dict[str, Any]:
    """Merge properties into an instance."""
    view = await _instances(request).update_properties(_app_id(principal), use_case_name, use_case_id, body.properties)
    return _with_id(view, request)


@router.put("/instances/{use_case_name}/{use_case_id}/kpis/{kpi_name}", response_class=Response)
async def update_instance_kpi(
    use_case_name: str,
    use_case_id: str,
    kpi_name: str,
    principal: AppKey,
    request: Request,
    body: ScoreUpdate | None = None,
) -> Response:
    """Set an instance's score for a KPI; the answer has no body."""
    score = body.score if body is not None else None
    await _instances(request).set_score(_app_id(principal), use_case_name, use_case_id, kpi_name, score)
    return Response(status_code=200)  # the SDK expects no body (it sends Accept: */*)


@router.get("/instances/{use_case_name}/{use_case_id}/kpis", **answers(doc.KpiScorePage))
async def list_instance_kpis(
    use_case_name: str,
    use_case_id: str,
    principal: AppKey,
    request: Request,
    cursor: CursorQuery = None,
    kpi_name: NameFilter = None,
    limit: PageSizeQuery = None,
    sort_ascending: bool | None = None,
) -> dict[str, Any]:
    """An instance's KPI scores by KPI name, cursor-paged."""
    items, last = await _instances(request).list_scores(
        _app_id(principal),
        use_case_name,
        use_case_id,
        kpi_name=kpi_name,
        after=decode_cursor("kpi_scores", cursor, str),
        size=limit or DEFAULT_PAGE,
        ascending=sort_ascending is not False,
    )
    return {"items": items, "cursor": encode_cursor("kpi_scores", last) if last is not None else None}


tag_validation_codes(
    router,
    {
        create_limit_config: "create_limit_validation_failed",
        update_instance_kpi: "invalid_kpi_score",
    },
)
