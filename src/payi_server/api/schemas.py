"""What the REST endpoints answer, for the OpenAPI document only.

Handlers build their answers as plain dicts (fast, and exactly the wire shapes of ``payi_server.limits.model``,
``usecases``, ``pricing.admin``, ``metering.results`` and ``auth.manage``). These models describe those dicts so
the document says what a client gets; routes attach them with ``answers(...)`` (``api.openapi``), which does
not validate or filter anything at run time. The fuzz test (``tests/hostile``) checks every answer against
them. Objects are closed (``extra="forbid"``): a field the document does not name is a failure, so nothing
(a key hash, say) can slip into an answer unnoticed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors --------------------------------------------------------------------------------------------------
class XproxyError(_Closed):
    code: str
    message: str


class ErrorBody(_Closed):
    """Every 4xx/5xx answer of the service."""

    statusCode: int = Field(ge=400, le=599)  # noqa: N815 - the wire name
    message: str = Field(description="The HTTP reason phrase")
    xproxy_error: XproxyError | None = None
    xproxy_result: dict[str, Any] | None = Field(default=None, description="Limit errors: the named limits' states")


# --- shared --------------------------------------------------------------------------------------------------
class Base(_Closed):
    base: float


class Cost(_Closed):
    currency: Literal["usd"]
    input: Base
    output: Base
    total: Base


class LimitState(_Closed):
    state: str


class XproxyResult(_Closed):
    """``xproxy_result``: the priced request."""

    request_id: str
    resource_id: str | None = None
    use_case_id: str | None = None
    use_case_name: str | None = None
    use_case_step: str | None = None
    use_case_version: int | None = None
    user_id: str | None = None
    account_name: str | None = None
    request_tags: list[str] | None = None
    limits: dict[str, LimitState]
    blocked_limit_ids: list[str] | None = None
    cost: Cost | None = None
    unknown_units: dict[str, dict[str, int]] | None = None
    duplicate_request: bool
    warnings: list[str] | None = None


class Deleted(_Closed):
    request_id: str
    message: str


# --- admin and keys ------------------------------------------------------------------------------------------
class Application(_Closed):
    app_id: str
    name: str
    description: str
    store_prompts: bool
    created_at: datetime


class Key(_Closed):
    """An API key as the admin API shows it: never its hash; its plaintext (``key``) only when just issued."""

    key_id: str
    kind: Literal["application", "organization"]
    app_id: str | None
    slot: int | None
    prefix: str
    lookup_id: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    active: bool
    key: str | None = None


class ApplicationCreated(_Closed):
    application: Application
    keys: list[Key]
    request_id: str
    message: str


class Deployment(_Closed):
    application_id: str
    category: str
    deployment: str
    model: str
    updated_at: datetime


class DeploymentAnswer(_Closed):
    deployment: Deployment
    request_id: str


class DeploymentPage(_Closed):
    items: list[Deployment]
    cursor: str | None


class ApplicationAnswer(_Closed):
    application: Application
    request_id: str
    message: str | None = None


class ApplicationPage(_Closed):
    items: list[Application]
    cursor: str | None


class KeyAnswer(_Closed):
    key: Key
    request_id: str
    message: str | None = None


class KeyPage(_Closed):
    items: list[Key]
    cursor: str | None


class WhoAmI(_Closed):
    key_id: str
    kind: Literal["application", "organization"]
    app_id: str | None
    app_name: str | None
    request_id: str


# --- ingest and requests -------------------------------------------------------------------------------------
class IngestAnswer(_Closed):
    event_timestamp: datetime
    ingest_timestamp: datetime
    request_id: str
    xproxy_result: XproxyResult


class BulkItemError(_Closed):
    item_index: int
    xproxy_result: ErrorBody = Field(description="The item's error (the SDK names it xproxy_result)")


class BulkIngestAnswer(_Closed):
    ingest_count: int
    error_count: int
    item_error_count: int
    total_count: int
    ingest_timestamp: datetime
    request_id: str
    errors: list[BulkItemError]


class RequestResult(_Closed):
    xproxy_result: XproxyResult


class RequestProperties(_Closed):
    request_id: str
    properties: dict[str, str]


# --- categories ----------------------------------------------------------------------------------------------
class Category(_Closed):
    category: str
    category_type: Literal["system", "custom"]
    category_description: str
    active: bool


class CategoryPage(_Closed):
    items: list[Category]
    cursor: str | None


class UnitPrice(_Closed):
    input_price: float | None
    output_price: float | None


class Resource(_Closed):
    """One price version of a resource."""

    active: bool
    category: str
    resource: str
    resource_id: str
    start_timestamp: datetime
    end_timestamp: datetime | None = None
    deprecated_timestamp: datetime | None = None
    aliased_resource: str | None = None
    proxy_allowed: bool
    units: dict[str, UnitPrice]
    character_billing: bool
    max_input_units: int | None = None
    max_output_units: int | None = None
    max_total_units: int | None = None
    large_context_threshold: int | None = None
    description: str | None = None
    mapped_resource: dict[str, Any] | None = None
    azure_resource: dict[str, Any] | None = None
    aws_bedrock_resource: dict[str, Any] | None = None
    google_vertex_resource: dict[str, Any] | None = None
    cost_per_hour: float | None = None
    reservation_id: str | None = None


class ResourcePage(_Closed):
    items: list[Resource]
    cursor: str | None


# --- limits --------------------------------------------------------------------------------------------------
class TotalBase(_Closed):
    base: float
    overrun_base: float


class LimitCost(_Closed):
    input: Base
    output: Base
    total: TotalBase


class RequestCounts(_Closed):
    ok: int
    exceeded: int
    overrun: int
    blocked: int
    blocked_external: int
    failed: int
    total: int


class Totals(_Closed):
    cost: LimitCost
    requests: RequestCounts


class Limit(_Closed):
    limit_id: str
    limit_name: str
    limit_type: Literal["block", "allow"]
    max: float
    threshold: float | None
    limit_creation_timestamp: datetime
    limit_update_timestamp: datetime
    totals: Totals
    properties: dict[str, str]
    limit_tags: list[str]
    enforcement: Literal["default", "strict"]
    reserved: float
    period: Literal["day", "week", "month"] | None = None
    timezone: str | None = None
    window_start: datetime | None = None


class LimitAnswer(_Closed):
    limit: Limit
    request_id: str
    message: str | None = None


class LimitPage(_Closed):
    items: list[Limit]
    cursor: str | None


class LimitHistory(_Closed):
    limit_id: str
    limit_name: str
    limit_type: Literal["block", "allow"]
    max: float
    limit_reset_timestamp: datetime
    window_start: datetime | None
    limit_tags: list[str]
    totals: Totals


class LimitResetAnswer(_Closed):
    limit_history: LimitHistory
    request_id: str
    message: str


class LimitHistoryPage(_Closed):
    items: list[LimitHistory]
    cursor: str | None


# --- use cases -----------------------------------------------------------------------------------------------
class UseCaseDefinition(_Closed):
    name: str
    description: str
    limit_config: dict[str, Any] | None
    logging_enabled: bool | None
    type_version: int
    implicit: bool
    created_timestamp: datetime
    updated_timestamp: datetime
    request_id: str


class UseCaseDefinitionPage(_Closed):
    items: list[UseCaseDefinition]
    cursor: str | None


class Kpi(_Closed):
    name: str
    description: str
    goal: float | None
    kpi_type: str
    created_timestamp: datetime
    updated_timestamp: datetime
    request_id: str


class KpiPage(_Closed):
    items: list[Kpi]
    cursor: str | None


class UseCaseInstance(_Closed):
    use_case_id: str
    use_case_name: str
    limit_id: str | None
    type_version: int
    properties: dict[str, str]
    created_timestamp: datetime
    request_id: str


class KpiScore(_Closed):
    kpi_name: str
    kpi_type: str
    score: float | None
    create_timestamp: datetime
    update_timestamp: datetime


class KpiScorePage(_Closed):
    items: list[KpiScore]
    cursor: str | None
