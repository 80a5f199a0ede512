"""Shapes of ``client.use_cases.definitions``: KPI definitions and the limit configuration.

Example:
    >>> from payi.types.use_cases.definitions import KpiCreateResponse
    >>> # k = client.use_cases.definitions.kpis.create("bot", name="resolved", description="d", goal=0.8,
    >>> #                                              kpi_type="boolean")
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Required

from typing_extensions import TypedDict

from ...._models import BaseModel
from .. import KpiType

__all__ = [
    "KpiCreateParams",
    "KpiCreateResponse",
    "KpiDeleteResponse",
    "KpiListParams",
    "KpiListResponse",
    "KpiResponse",
    "KpiRetrieveResponse",
    "KpiUpdateParams",
    "KpiUpdateResponse",
    "LimitConfigCreateParams",
]


class KpiResponse(BaseModel):
    """A KPI defined on a use-case definition (every KPI call answers with this shape).

    Example:
        >>> # client.use_cases.definitions.kpis.retrieve("resolved", use_case_name="bot").goal
    """

    description: str
    name: str
    request_id: str
    created_timestamp: datetime | None = None
    goal: float | None = None
    kpi_type: KpiType | None = None
    updated_timestamp: datetime | None = None


# The official SDK has one identical class per call; here they are one class under each name.
KpiCreateResponse = KpiResponse
KpiRetrieveResponse = KpiResponse
KpiUpdateResponse = KpiResponse
KpiListResponse = KpiResponse
KpiDeleteResponse = KpiResponse


class KpiCreateParams(TypedDict, total=False):
    """Arguments of ``use_cases.definitions.kpis.create``."""

    description: Required[str]
    goal: Required[float]
    kpi_type: Required[KpiType]
    name: Required[str]


class KpiUpdateParams(TypedDict, total=False):
    """Arguments of ``use_cases.definitions.kpis.update``."""

    use_case_name: Required[str]
    description: str | None
    goal: float | None


class KpiListParams(TypedDict, total=False):
    """Query of ``use_cases.definitions.kpis.list``."""

    cursor: str
    kpi_name: str
    limit: int
    sort_ascending: bool


class LimitConfigCreateParams(TypedDict, total=False):
    """Arguments of ``use_cases.definitions.limit_config.create`` (flat, not nested)."""

    max: Required[float]
    limit_type: Literal["block", "allow"]
    properties: dict[str, str | None] | None
    threshold: float | None
