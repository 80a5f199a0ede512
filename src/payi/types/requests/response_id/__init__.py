"""Shapes of ``client.requests.response_id.properties``.

Example:
    >>> from payi.types.requests.response_id import PropertyUpdateParams
    >>> params: PropertyUpdateParams = {"properties": {"team": "a"}}
"""

from __future__ import annotations

from typing import Required

from typing_extensions import TypedDict

__all__ = ["PropertyUpdateParams"]


class PropertyUpdateParams(TypedDict, total=False):
    """Arguments of ``requests.response_id.properties.update``; a ``None`` value deletes the property."""

    category: Required[str]
    properties: Required[dict[str, str | None]]
