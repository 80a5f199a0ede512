"""``xproxy_result``: what Pay-i reports about one priced request (cost, limit states, ids).

Example:
    >>> from payi.types.shared import XproxyResult
    >>> r = XproxyResult.model_validate({"cost": {"currency": "usd", "total": {"base": 0.0001}}})
    >>> r.cost.total.base
    0.0001
"""

from __future__ import annotations

from typing import Literal

from ..._models import BaseModel

__all__ = [
    "Cost",
    "CostDetails",
    "Limits",
    "PayICommonModelsBudgetManagementCostDetailsBase",
    "UnknownUnits",
    "XproxyResult",
]

LimitState = Literal["ok", "blocked", "blocked_external", "exceeded", "overrun", "failed"]


class PayICommonModelsBudgetManagementCostDetailsBase(BaseModel):
    """A cost in USD. Example: ``{"base": 2.75e-06}``."""

    base: float


class CostDetails(BaseModel):
    """A total cost in USD, with the part above a limit's max. Example: ``{"base": 1.2, "overrun_base": 0.2}``."""

    base: float
    overrun_base: float | None = None


class Cost(BaseModel):
    """Input, output and total cost of a request. Example: ``XproxyResult(...).cost.total.base``."""

    currency: Literal["usd"] | None = None
    input: PayICommonModelsBudgetManagementCostDetailsBase | None = None
    output: PayICommonModelsBudgetManagementCostDetailsBase | None = None
    total: CostDetails | None = None


class Limits(BaseModel):
    """A limit's state after a request. Example: ``result.limits["lim_1"].state == "ok"``."""

    state: LimitState | None = None


class UnknownUnits(BaseModel):
    """Units that had no price on the resource. Example: ``result.unknown_units["vision"].input``."""

    input: int | None = None
    output: int | None = None


class XproxyResult(BaseModel):
    """The ``xproxy_result`` of an ingest or proxied call; every field is optional.

    Example:
        >>> from payi.types import XproxyResult
        >>> XproxyResult.model_validate({"request_id": "42", "limits": {"l1": {"state": "ok"}}}).limits["l1"].state
        'ok'
    """

    account_name: str | None = None
    actions: list[str] | None = None
    blocked_limit_ids: list[str] | None = None
    cost: Cost | None = None
    duplicate_request: bool | None = None
    limits: dict[str, Limits] | None = None
    request_id: str | None = None
    request_tags: list[str] | None = None
    resource_id: str | None = None
    unknown_units: dict[str, UnknownUnits] | None = None
    use_case_id: str | None = None
    use_case_name: str | None = None
    use_case_step: str | None = None
    user_id: str | None = None
    warnings: list[str] | None = None
