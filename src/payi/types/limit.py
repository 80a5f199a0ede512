"""Limits: the limit object, its totals, and the request and response shapes of ``client.limits``.

Example:
    >>> from payi.types import LimitResponse
    >>> # r = client.limits.create(limit_name="team-a", max=100.0, limit_type="allow")
    >>> # r.limit.limit_id, r.limit.totals.cost.total.base
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Required

from typing_extensions import TypedDict

from .._models import BaseModel
from .shared.xproxy_result import CostDetails, PayICommonModelsBudgetManagementCostDetailsBase

__all__ = [
    "CostData",
    "DefaultResponse",
    "Limit",
    "LimitCreateParams",
    "LimitHistory",
    "LimitHistoryResponse",
    "LimitListParams",
    "LimitResetParams",
    "LimitResponse",
    "LimitUpdateParams",
    "RequestsData",
    "TotalCostData",
]

LimitType = Literal["block", "allow"]


class CostData(BaseModel):
    """Spend of a limit: input, output, total (USD). Example: ``limit.totals.cost.total.base``."""

    input: PayICommonModelsBudgetManagementCostDetailsBase
    output: PayICommonModelsBudgetManagementCostDetailsBase
    total: CostDetails


class RequestsData(BaseModel):
    """Request counts of a limit, per state. Example: ``limit.totals.requests.blocked``."""

    blocked: int
    blocked_external: int
    exceeded: int
    failed: int
    ok: int
    overrun: int
    total: int


class TotalCostData(BaseModel):
    """A limit's totals: cost and request counts. Example: ``limit.totals.requests.total``."""

    cost: CostData
    requests: RequestsData


class Limit(BaseModel):
    """A spending limit (USD).

    Example:
        >>> # for limit in client.limits.list(): print(limit.limit_name, limit.max, limit.totals.cost.total.base)
    """

    limit_creation_timestamp: datetime
    limit_id: str
    limit_name: str
    limit_type: LimitType
    limit_update_timestamp: datetime
    max: float
    totals: TotalCostData
    threshold: float | None = None


class LimitResponse(BaseModel):
    """A limit with the request id. Example: ``client.limits.retrieve("lim_1").limit.max``."""

    limit: Limit
    request_id: str
    message: str | None = None


class LimitHistory(BaseModel):
    """A limit's state before a reset. Example: ``client.limits.reset("lim_1").limit_history.totals``."""

    limit_id: str | None = None
    limit_name: str | None = None
    totals: TotalCostData
    limit_reset_timestamp: datetime | None = None
    limit_tags: list[str] | None = None
    limit_type: LimitType | None = None
    max: float | None = None


class LimitHistoryResponse(BaseModel):
    """The answer to ``limits.reset``. Example: ``client.limits.reset("lim_1").message``."""

    limit_history: LimitHistory
    request_id: str
    message: str | None = None


class DefaultResponse(BaseModel):
    """A request id and an optional message. Example: ``client.limits.delete("lim_1").request_id``."""

    request_id: str
    message: str | None = None


class LimitCreateParams(TypedDict, total=False):
    """Arguments of ``limits.create``. Example: ``{"limit_name": "a", "max": 10.0, "limit_type": "allow"}``."""

    limit_name: Required[str]
    max: Required[float]
    limit_id: str | None
    limit_type: LimitType
    properties: dict[str, str | None] | None
    threshold: float | None


class LimitUpdateParams(TypedDict, total=False):
    """Arguments of ``limits.update``. Example: ``{"max": 20.0}``."""

    limit_name: str | None
    max: float | None


class LimitListParams(TypedDict, total=False):
    """Query of ``limits.list``. Example: ``{"limit_name": "team-a", "limit": 50}``."""

    cursor: str
    limit: int
    limit_name: str
    sort_ascending: bool


class LimitResetParams(TypedDict, total=False):
    """Query of ``limits.reset`` (sent as ``resetDate``). Example: ``{"reset_date": datetime.now(UTC)}``."""

    reset_date: str | datetime
