"""The stored result of an earlier request.

Example:
    >>> from payi.types import RequestResult
    >>> # client.requests.request_id.result.retrieve("5673977").xproxy_result.cost.total.base
"""

from __future__ import annotations

from .._models import BaseModel
from .shared.xproxy_result import XproxyResult

__all__ = ["RequestResult"]


class RequestResult(BaseModel):
    """A request's ``xproxy_result``. Example: ``client.requests.request_id.result.retrieve(id).xproxy_result``."""

    xproxy_result: XproxyResult
