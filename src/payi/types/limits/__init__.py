"""Shapes of ``client.limits.properties``.

Example:
    >>> from payi.types.limits import PropertyUpdateResponse
    >>> # responses: PropertyUpdateResponse = client.limits.properties.update("lim_1", properties={"team": "a"})
"""

from __future__ import annotations

from typing import List

from typing_extensions import Required, TypeAlias, TypedDict

from ..limit import LimitResponse

__all__ = ["PropertyUpdateParams", "PropertyUpdateResponse"]

PropertyUpdateResponse: TypeAlias = List[LimitResponse]  # noqa: UP006 (a runtime alias)


class PropertyUpdateParams(TypedDict, total=False):
    """Arguments of ``limits.properties.update``. Example: ``{"properties": {"team": "a"}}``."""

    properties: Required[dict[str, str | None]]
