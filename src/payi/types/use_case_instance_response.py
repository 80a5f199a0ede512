"""A use-case instance.

Example:
    >>> from payi.types import UseCaseInstanceResponse
    >>> # instance = client.use_cases.create("support-bot")
    >>> # instance.use_case_id, instance.limit_id
"""

from __future__ import annotations

from .._models import BaseModel

__all__ = ["UseCaseInstanceResponse"]


class UseCaseInstanceResponse(BaseModel):
    """One instance of a use case (its ``limit_id`` is set when the definition has a limit configuration).

    Example:
        >>> # client.use_cases.retrieve(use_case_id, use_case_name="support-bot").type_version
    """

    use_case_id: str
    use_case_name: str
    limit_id: str | None = None
    type_version: int | None = None
