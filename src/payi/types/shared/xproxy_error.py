"""Error shapes: ``xproxy_error`` and the whole error body (``APIError``).

Example:
    >>> from payi.types.shared import APIError
    >>> APIError.model_validate({"statusCode": 400, "message": "Bad Request"}).status_code
    400
"""

from __future__ import annotations

from pydantic import Field

from ..._models import BaseModel

__all__ = ["APIError", "XproxyError"]


class XproxyError(BaseModel):
    """A Pay-i error code and message.

    Example:
        >>> XproxyError(code="limit_reached", message="Insufficient limit for the requested operation").code
        'limit_reached'
    """

    code: str | None = None
    message: str | None = None


class APIError(BaseModel):
    """The body of every Pay-i error response (``statusCode`` on the wire).

    Example:
        >>> APIError.model_validate({"statusCode": 401, "message": "Unauthorized"}).message
        'Unauthorized'
    """

    message: str
    status_code: int = Field(alias="statusCode")
    xproxy_error: XproxyError | None = None
