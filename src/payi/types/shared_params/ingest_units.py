"""``IngestUnits`` as a request parameter.

Example:
    >>> from payi.types.shared_params import IngestUnits
    >>> units: dict[str, IngestUnits] = {"text": {"input": 50, "output": 100}}
"""

from __future__ import annotations

from typing_extensions import TypedDict

__all__ = ["IngestUnits"]


class IngestUnits(TypedDict, total=False):
    """Input and output units of one unit type. Example: ``{"input": 50, "output": 100}``."""

    input: int
    output: int
