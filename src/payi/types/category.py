"""Categories and resources (the price catalog).

Example:
    >>> from payi.types import CategoryResourceResponse
    >>> # r = client.categories.resources.create("my-model", category="acme", units={"text": {"input_price": 1e-6}})
    >>> # r.resource_id, r.units["text"].input_price
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypeAlias

from pydantic import Field
from typing_extensions import TypedDict

from .._models import BaseModel

__all__ = [
    "AwsBedrockResource",
    "AzureResource",
    "CategoryDeleteResourceResponse",
    "CategoryDeleteResponse",
    "CategoryListParams",
    "CategoryListResourcesParams",
    "CategoryResourceMappedResource",
    "CategoryResourcePriceUnits",
    "CategoryResourcePriceUnitsParam",
    "CategoryResourceResponse",
    "CategoryResponse",
    "GoogleVertexResource",
]


class CategoryResponse(BaseModel):
    """A category name. Example: ``[c.category for c in client.categories.list()]``."""

    category: str


class CategoryResourcePriceUnits(BaseModel):
    """Prices of one unit type, in USD per unit. Example: ``resource.units["text"].output_price``."""

    input_price: float | None = None
    output_price: float | None = None


class CategoryResourceMappedResource(BaseModel):
    """The scoped price entry a resource points to. Example: ``resource.mapped_resource.scope``."""

    category: str | None = None
    resource: str | None = None
    scope: Literal["global", "datazone", "region"] | None = None
    sub_scope: str | None = None


class AwsBedrockResource(BaseModel):
    """Provisioned Bedrock capacity (``model_units`` on the wire). Example: ``resource.aws_bedrock_resource``."""

    aws_model_units: int = Field(alias="model_units")


class AzureResource(BaseModel):
    """Provisioned Azure capacity. Example: ``resource.azure_resource.ptus``."""

    ptus: int


class GoogleVertexResource(BaseModel):
    """Provisioned Vertex capacity. Example: ``resource.google_vertex_resource.gsus``."""

    gsus: int


class CategoryResourceResponse(BaseModel):
    """One version of a priced resource.

    Example:
        >>> # r = client.categories.resources.retrieve("42", category="system.openai", resource="gpt-4o")
        >>> # r.start_timestamp, r.units["text"].input_price
    """

    active: bool
    category: str
    proxy_allowed: bool
    resource: str
    resource_id: str
    start_timestamp: datetime
    units: dict[str, CategoryResourcePriceUnits]
    aliased_resource: str | None = None
    aws_bedrock_resource: AwsBedrockResource | None = None
    azure_resource: AzureResource | None = None
    character_billing: bool | None = None
    cost_per_hour: float | None = None
    deprecated_timestamp: datetime | None = None
    description: str | None = None
    end_timestamp: datetime | None = None
    google_vertex_resource: GoogleVertexResource | None = None
    large_context_threshold: int | None = None
    mapped_resource: CategoryResourceMappedResource | None = None
    max_input_units: int | None = None
    max_output_units: int | None = None
    max_total_units: int | None = None
    reservation_id: str | None = None


CategoryDeleteResponse: TypeAlias = list[CategoryResourceResponse]
"""The resources removed by ``categories.delete``."""

CategoryDeleteResourceResponse: TypeAlias = list[CategoryResourceResponse]
"""The versions removed by ``categories.delete_resource``."""


class CategoryResourcePriceUnitsParam(TypedDict, total=False):
    """Prices of one unit type when creating a resource. Example: ``{"input_price": 3e-6, "output_price": 1.5e-5}``."""

    input_price: float
    output_price: float


class CategoryListParams(TypedDict, total=False):
    """Query of ``categories.list`` (``active`` is sent as ``Active``). Example: ``{"active": True}``."""

    active: bool
    cursor: str
    limit: int
    sort_ascending: bool


CategoryListResourcesParams = CategoryListParams
