"""Small shared response shapes: properties, units, limit configuration.

Example:
    >>> from payi.types.shared import PropertiesResponse
    >>> PropertiesResponse.model_validate({"request_id": "9"}).request_id
    '9'
"""

from __future__ import annotations

from typing import Literal

from ..._models import BaseModel

__all__ = [
    "EvaluationResponse",
    "IngestUnits",
    "PayICommonModelsBudgetManagementCreateLimitBase",
    "PropertiesRequest",
    "PropertiesResponse",
]


class IngestUnits(BaseModel):
    """Input and output units of one unit type. Example: ``IngestUnits(input=50, output=100)``."""

    input: int | None = None
    output: int | None = None


class PropertiesRequest(BaseModel):
    """A properties update. Example: ``PropertiesRequest(properties={"team": "search", "old": None})``."""

    properties: dict[str, str | None]


class PropertiesResponse(BaseModel):
    """The answer to a properties update. Example: ``client.requests.request_id.properties.update(...).request_id``."""

    request_id: str | None = None


class PayICommonModelsBudgetManagementCreateLimitBase(BaseModel):
    """A use-case definition's limit configuration. Example: ``definition.limit_config.max``."""

    max: float
    limit_type: Literal["block", "allow"] | None = None
    properties: dict[str, str | None] | None = None
    threshold: float | None = None


class EvaluationResponse(BaseModel):
    """Kept for compatibility with the official SDK. Example: ``EvaluationResponse(request_id="1")``."""

    request_id: str
