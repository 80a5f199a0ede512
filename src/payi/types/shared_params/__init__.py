"""Request-parameter shapes shared by several resources.

Example:
    >>> from payi.types.shared_params import IngestUnits, PayICommonModelsBudgetManagementCreateLimitBase
"""

from __future__ import annotations

from typing import Literal, Required

from typing_extensions import TypedDict

from .ingest_units import IngestUnits as IngestUnits

__all__ = ["IngestUnits", "PayICommonModelsBudgetManagementCreateLimitBase"]


class PayICommonModelsBudgetManagementCreateLimitBase(TypedDict, total=False):
    """A use-case definition's limit configuration. Example: ``{"max": 10.0, "limit_type": "allow"}``."""

    max: Required[float]
    limit_type: Literal["block", "allow"]
    properties: dict[str, str | None] | None
    threshold: float | None
