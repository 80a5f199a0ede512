"""Responses of ``ingest.units`` and ``ingest.bulk``.

Example:
    >>> from payi.types import IngestResponse
    >>> # r = client.ingest.units(category="system.openai", resource="gpt-4o", units={"text": {"input": 5}})
    >>> # r.xproxy_result.cost.total.base
"""

from __future__ import annotations

from datetime import datetime

from .._models import BaseModel
from .shared.xproxy_error import APIError
from .shared.xproxy_result import XproxyResult

__all__ = ["BulkIngestError", "BulkIngestResponse", "IngestResponse"]


class IngestResponse(BaseModel):
    """The answer to ``ingest.units``: timestamps, the request id and the ``xproxy_result``.

    Example:
        >>> # client.ingest.units(...).request_id
    """

    event_timestamp: datetime
    ingest_timestamp: datetime
    request_id: str
    xproxy_result: XproxyResult


class BulkIngestError(BaseModel):
    """One rejected item of a bulk ingest (``xproxy_result`` holds an error body). Example: ``r.errors[0].item_index``."""

    item_index: int | None = None
    xproxy_result: APIError | None = None


class BulkIngestResponse(BaseModel):
    """The answer to ``ingest.bulk``.

    Example:
        >>> # client.ingest.bulk(events=[...]).ingest_count
    """

    ingest_count: int
    ingest_timestamp: datetime
    request_id: str
    error_count: int | None = None
    errors: list[BulkIngestError] | None = None
    item_error_count: int | None = None
    total_count: int | None = None
