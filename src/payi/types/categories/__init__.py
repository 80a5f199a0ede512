"""Shapes of ``client.categories.resources``.

Example:
    >>> from payi.types.categories import ResourceCreateParams
    >>> params: ResourceCreateParams = {"category": "acme", "units": {"text": {"input_price": 1e-6}}}
"""

from __future__ import annotations

from datetime import datetime
from typing import Required

from typing_extensions import TypedDict

from ..category import CategoryResourcePriceUnitsParam

__all__ = ["ResourceCreateParams", "ResourceListParams"]


class ResourceCreateParams(TypedDict, total=False):
    """Arguments of ``categories.resources.create``."""

    category: Required[str]
    units: Required[dict[str, CategoryResourcePriceUnitsParam]]
    max_input_units: int | None
    max_output_units: int | None
    max_total_units: int | None
    start_timestamp: str | datetime | None


class ResourceListParams(TypedDict, total=False):
    """Arguments of ``categories.resources.list`` (``active`` is sent as ``Active``)."""

    category: Required[str]
    active: bool
    cursor: str
    limit: int
    sort_ascending: bool
