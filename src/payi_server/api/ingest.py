"""``POST /api/v1/ingest`` and ``POST /api/v1/ingest/bulk``, exactly as the official SDK sends them.

Single ingest takes attribution from ``xProxy-*`` headers and the event from the body; bulk takes a bare JSON
array (or no body at all) whose items carry their own attribution, validates each item on its own, commits the
valid ones and reports the others per item. Both answer only after their events are committed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.types import Receive, Scope, Send

from .. import jsonio
from ..jsonio import ORJSONResponse
from ..auth.cache import Principal
from ..auth.dependency import AppKey, authenticate_request
from ..auth.keys import KeyKind
from ..errors import ApiError, api_error
from ..metering import attribution as attr_check
from ..metering.event import Attribution, Event, Payload, Units
from ..store.changes import utcnow
from . import schemas as doc
from .common import Int32, IsoDateTime, request_id, state
from .errors import describe_validation
from .openapi import answers

router = APIRouter(prefix="/api/v1", tags=["ingest"])

MAX_BULK_ITEMS = 10_000
NonNegative = Annotated[int, Field(ge=0, le=10**12)]


class UnitSides(BaseModel):
    model_config = ConfigDict(extra="ignore")
    input: NonNegative | None = None
    output: NonNegative | None = None


class NameValue(BaseModel):
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)
    name: str
    value: str | None = None


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    arguments: str | None = None


class IngestEvent(BaseModel):
    """The body of ``POST /api/v1/ingest`` (unknown keys are ignored, as old clients send extras)."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    category: str = Field(min_length=1, max_length=200)
    resource: str | None = Field(default=None, max_length=300)
    units: dict[str, UnitSides | NonNegative]
    event_timestamp: IsoDateTime | None = None
    end_to_end_latency_ms: Int32 | None = None
    time_to_first_token_ms: Int32 | None = None
    time_to_first_completion_token_ms: Int32 | None = None
    http_status_code: int | None = Field(default=None, ge=100, le=599)
    properties: dict[str, str | None] | None = None
    use_case_properties: dict[str, str | None] | None = None
    provider_request_headers: list[NameValue] | None = None
    provider_response_headers: list[NameValue] | None = None
    provider_request_json: str | None = None
    provider_request_reasoning_json: str | None = None
    provider_response_json: str | list[str] | None = None
    provider_response_id: str | None = Field(default=None, max_length=300)
    provider_response_function_calls: list[FunctionCall] | None = None
    provider_uri: str | None = Field(default=None, max_length=500)


class BulkIngestItem(IngestEvent):
    """A bulk item: the single-ingest body plus the attribution single ingest takes from headers."""

    limit_ids: list[str] | None = None
    request_tags: list[str] | None = None
    use_case_id: str | None = None
    use_case_name: str | None = None
    use_case_step: str | None = None
    use_case_version: Annotated[int, Field(ge=0, le=attr_check.MAX_VERSION)] | None = None
    user_id: str | None = None
    account_name: str | None = None
    scope: str | None = None
    resource_scope: str | None = None
    price_as_category: str | None = None
    price_as_resource: str | None = None


_single = TypeAdapter(IngestEvent)
_item = TypeAdapter(BulkIngestItem)


def _units(raw: dict[str, UnitSides | int]) -> Units:
    units: Units = {}
    for name, sides in raw.items():
        if len(name) > 100:
            raise api_error("invalid_units")
        if isinstance(sides, int):  # an SDK bug sends a bare count: it is the input side
            units[name] = {"input": sides}
        else:
            units[name] = {k: v for k, v in (("input", sides.input), ("output", sides.output)) if v is not None}
    return units


def _timestamp(value: datetime | None, now: datetime) -> datetime:
    if value is None:
        return now
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Header values never stored, whatever a client sends along with its prompt: credentials stay out of the database.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "xproxy-api-key",
        "cookie",
        "set-cookie",
        "x-amz-security-token",
        "x-goog-api-key",
    }
)


def _headers(items: list[NameValue] | None) -> list[dict[str, Any]] | None:
    if not items:
        return None
    return [
        {**item.model_dump(), "value": "[redacted]"} if item.name.strip().lower() in SECRET_HEADERS else item.model_dump()
        for item in items
    ]


def _event(body: IngestEvent, attribution: Attribution, now: datetime) -> Event:
    if body.properties is not None:
        merged = dict(attribution.properties or {})
        merged.update(attr_check.check_properties(body.properties, "properties"))
        attribution.properties = merged
    if body.use_case_properties is not None:
        merged = dict(attribution.use_case_properties or {})
        merged.update(attr_check.check_properties(body.use_case_properties, "use_case_properties"))
        attribution.use_case_properties = merged
    payload = Payload(
        provider_request_json=body.provider_request_json,
        provider_request_reasoning_json=body.provider_request_reasoning_json,
        provider_response_json=body.provider_response_json,
        provider_request_headers=_headers(body.provider_request_headers),
        provider_response_headers=_headers(body.provider_response_headers),
        provider_response_function_calls=[f.model_dump() for f in body.provider_response_function_calls]
        if body.provider_response_function_calls
        else None,
    )
    return Event(
        source="ingest",
        category=body.category,
        resource=body.resource or "system.unknown_model",
        units=_units(body.units),
        event_timestamp=_timestamp(body.event_timestamp, now),
        attribution=attribution,
        http_status_code=body.http_status_code if body.http_status_code is not None else 200,
        end_to_end_latency_ms=body.end_to_end_latency_ms,
        time_to_first_token_ms=body.time_to_first_token_ms,
        time_to_first_completion_token_ms=body.time_to_first_completion_token_ms,
        provider_response_id=body.provider_response_id,
        provider_uri=body.provider_uri,
        payload=None if payload.is_empty() else payload,
    )


def _item_attribution(item: BulkIngestItem) -> Attribution:
    return Attribution(
        limit_ids=attr_check.check_limit_ids([i.strip() for i in item.limit_ids or [] if i and i.strip()]),
        use_case_name=attr_check.check_use_case_name(item.use_case_name),
        use_case_id=attr_check.check_text(item.use_case_id, "use_case_id", 64),
        use_case_version=item.use_case_version,
        use_case_step=attr_check.check_text(item.use_case_step, "use_case_step"),
        user_id=attr_check.check_text(item.user_id, "user_id"),
        account_name=attr_check.check_text(item.account_name, "account_name"),
        resource_scope=attr_check.check_text(item.scope or item.resource_scope, "resource_scope", 100),
        price_as_category=attr_check.check_text(item.price_as_category, "price_as_category"),
        price_as_resource=attr_check.check_text(item.price_as_resource, "price_as_resource", 300),
        request_tags=attr_check.check_tags(item.request_tags),
    )


def _validation_error(exc: ValidationError) -> ApiError:
    code, message = describe_validation(exc.errors())
    return ApiError(400, code, message)


async def _json_body(request: Request, empty: Any = None) -> Any:
    """The parsed JSON body; ``empty`` when there is no body at all."""
    raw = await request.body()
    if not raw:
        return empty
    try:
        return jsonio.loads(raw)
    except orjson.JSONDecodeError:
        raise api_error("invalid_json") from None


_INGEST_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": IngestEvent.model_json_schema(ref_template="#/components/schemas/{model}")}},
    }
}


# Items are validated one by one (an invalid item is reported in ``errors``, the others are recorded), so any JSON
# value is an acceptable item; ``BulkIngestItem`` is what a valid one looks like. No body at all means no events,
# and the older ``{"events": [...]}`` wrapper is accepted too.
_BULK_ITEM = BulkIngestItem.model_json_schema(ref_template="#/components/schemas/{model}")
_BULK_EVENTS: dict[str, Any] = {
    "type": "array",
    "maxItems": MAX_BULK_ITEMS,
    "items": {"anyOf": [_BULK_ITEM, {"description": "Any other value is reported as an item error"}]},
}
_BULK_DOC: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        _BULK_EVENTS,
                        {"type": "object", "required": ["events"], "properties": {"events": _BULK_EVENTS}},
                    ]
                }
            }
        },
    }
}


@router.post("/ingest", openapi_extra=_INGEST_DOC, **answers(doc.IngestAnswer, errors=(409,)))
async def ingest(request: Request, principal: AppKey, id: str | None = None) -> ORJSONResponse:
    """Documents the route (OpenAPI); requests are served by :class:`IngestEndpoint`, placed before it."""
    return await ingest_one(request, principal, id)


class IngestEndpoint:
    """``POST /api/v1/ingest`` as a plain ASGI endpoint, first in the route table (``app.create_app``): a single
    ingest is the busiest REST call, and FastAPI's per-request dependency solving was an eighth of its time. The
    FastAPI route above only documents it; both run :func:`ingest_one`."""

    payi_access = frozenset({KeyKind.APPLICATION})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        principal = await authenticate_request(request, self.payi_access)
        response = await ingest_one(request, principal, request.query_params.get("id"))
        await response(scope, receive, send)


async def ingest_one(request: Request, principal: Principal, id: str | None) -> ORJSONResponse:
    data = await _json_body(request)
    if data is None:
        raise api_error("required_field_missing")
    try:
        body = _single.validate_python(data)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    now = utcnow()
    attribution = attr_check.from_headers(attr_check.xproxy_headers(request.headers.raw))
    event = _event(body, attribution, now)
    if event.provider_response_id is None and id:
        event.provider_response_id = id[:300]
    pending, result = await state(request).meter.record(principal, event)
    # A response, not a dict: FastAPI would walk the dict (``jsonable_encoder``) before encoding it, 5% of a
    # worker's time in single ingests. Timestamps as that walk wrote them (``isoformat``).
    return ORJSONResponse({
        "event_timestamp": event.event_timestamp.isoformat(),
        "ingest_timestamp": pending.ingest_timestamp.isoformat(),
        "request_id": result["request_id"],
        "xproxy_result": result,
    })


@router.post(
    "/ingest/bulk",
    openapi_extra=_BULK_DOC,
    **answers(doc.BulkIngestAnswer),
)
async def ingest_bulk(request: Request, principal: AppKey) -> ORJSONResponse:
    data = await _json_body(request, empty=[])  # no body: no events (a JSON null is not an array)
    if isinstance(data, dict) and isinstance(data.get("events"), list):
        data = data["events"]  # tolerated: an older wrapped form
    if not isinstance(data, list):
        raise api_error("invalid_json", "bulk")
    if len(data) > MAX_BULK_ITEMS:
        raise api_error("too_many_events", max_bulk_items=MAX_BULK_ITEMS)
    meter = state(request).meter
    now = utcnow()
    errors: list[dict[str, Any]] = []
    prepared = []
    for index, raw in enumerate(data):
        try:
            item = _item.validate_python(raw)
            pending = meter.prepare(principal, _event(item, _item_attribution(item), now), now=now)
            pending.want_result = False
            prepared.append((index, pending))
        except ValidationError as exc:
            errors.append({"item_index": index, "xproxy_result": _validation_error(exc).body()})
        except ApiError as exc:
            errors.append({"item_index": index, "xproxy_result": exc.body()})
    outcomes = await meter.recorder.submit_many([pending for _, pending in prepared])
    ingested = 0
    for (index, _pending), outcome in zip(prepared, outcomes, strict=True):
        if isinstance(outcome, ApiError):
            errors.append({"item_index": index, "xproxy_result": outcome.body()})
        elif isinstance(outcome, BaseException):
            errors.append(
                {"item_index": index, "xproxy_result": api_error("unexpected_error", "ingest").body()}
            )
        else:
            ingested += 1
    errors.sort(key=lambda e: e["item_index"])
    return ORJSONResponse({
        "ingest_count": ingested,
        "error_count": len(errors),
        "item_error_count": len(errors),
        "total_count": len(data),
        "ingest_timestamp": now.isoformat(),
        "request_id": request_id(request),
        "errors": errors,
    })
