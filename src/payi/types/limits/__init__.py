"""Shapes of ``client.limits.properties``.

Example:
    >>> from payi.types.limits import PropertyUpdateResponse
    >>> # responses: PropertyUpdateResponse = client.limits.properties.update("lim_1", properties={"team": "a"})
"""

from __future__ import annotations

from typing import Required, TypeAlias

from typing_extensions import TypedDict

from ..limit import LimitResponse

__all__ = ["PropertyUpdateParams", "PropertyUpdateResponse"]

PropertyUpdateResponse: TypeAlias = list[LimitResponse]


class PropertyUpdateParams(TypedDict, total=False):
    """Arguments of ``limits.properties.update``. Example: ``{"properties": {"team": "a"}}``."""

    properties: Required[dict[str, str | None]]
