"""Shapes of ``client.use_cases``: definitions, instance KPI scores and their parameters.

Example:
    >>> from payi.types.use_cases import UseCaseDefinitionResponse, KpiListResponse
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Required

from typing_extensions import TypedDict

from ..._models import BaseModel
from ..shared.models import PayICommonModelsBudgetManagementCreateLimitBase
from ..shared_params import PayICommonModelsBudgetManagementCreateLimitBase as CreateLimitBaseParam

__all__ = [
    "DefinitionCreateParams",
    "DefinitionListParams",
    "DefinitionUpdateParams",
    "KpiListParams",
    "KpiListResponse",
    "KpiType",
    "KpiUpdateParams",
    "PropertyUpdateParams",
    "UseCaseDefinitionResponse",
]

KpiType = Literal["boolean", "number", "percentage", "likert5", "likert7", "likert10"]


class UseCaseDefinitionResponse(BaseModel):
    """A use-case definition (a type of use case, identified by its name).

    Example:
        >>> # d = client.use_cases.definitions.create(name="support-bot", description="Answers tickets")
        >>> # d.type_version, d.limit_config
    """

    description: str
    name: str
    request_id: str
    limit_config: PayICommonModelsBudgetManagementCreateLimitBase | None = None
    logging_enabled: bool | None = None
    type_version: int | None = None


class KpiListResponse(BaseModel):
    """The score of one KPI on one use-case instance.

    Example:
        >>> # for score in client.use_cases.kpis.list(use_case_id, use_case_name="bot"): print(score.kpi_name, score.score)
    """

    kpi_name: str | None = None
    create_timestamp: datetime | None = None
    kpi_type: KpiType | None = None
    score: float | None = None
    update_timestamp: datetime | None = None


class DefinitionCreateParams(TypedDict, total=False):
    """Arguments of ``use_cases.definitions.create``."""

    description: Required[str]
    name: Required[str]
    limit_config: CreateLimitBaseParam
    logging_enabled: bool | None


class DefinitionUpdateParams(TypedDict, total=False):
    """Arguments of ``use_cases.definitions.update``."""

    description: str | None
    logging_enabled: bool | None


class DefinitionListParams(TypedDict, total=False):
    """Query of ``use_cases.definitions.list``."""

    cursor: str
    limit: int
    sort_ascending: bool
    use_case_name: str


class KpiListParams(TypedDict, total=False):
    """Query of ``use_cases.kpis.list``."""

    use_case_name: Required[str]
    cursor: str
    kpi_name: str
    limit: int
    sort_ascending: bool


class KpiUpdateParams(TypedDict, total=False):
    """Arguments of ``use_cases.kpis.update``."""

    use_case_name: Required[str]
    use_case_id: Required[str]
    score: bool | float | None


class PropertyUpdateParams(TypedDict, total=False):
    """Arguments of ``use_cases.properties.update``."""

    use_case_name: Required[str]
    properties: Required[dict[str, str | None]]
