"""Request shapes of ``ingest.units`` and ``ingest.bulk``.

Example:
    >>> from payi.types import IngestUnitsParams
    >>> event: IngestUnitsParams = {"category": "system.openai", "resource": "gpt-4o", "units": {"text": {"input": 5}}}
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Required

from typing_extensions import TypedDict

from .._types import SequenceNotStr
from .shared_params.ingest_units import IngestUnits

__all__ = [
    "BulkIngestRequestParam",
    "FunctionCallInfoParam",
    "IngestBulkParams",
    "IngestUnits",
    "IngestUnitsParams",
    "PayICommonModelsAPIRouterHeaderInfoParam",
    "ProviderResponseFunctionCall",
]


class PayICommonModelsAPIRouterHeaderInfoParam(TypedDict, total=False):
    """One provider request or response header. Example: ``{"name": "x-request-id", "value": "abc"}``."""

    name: Required[str]
    value: str | None


class FunctionCallInfoParam(TypedDict, total=False):
    """One tool or function call. Example: ``{"name": "get_weather", "arguments": '{"city":"Oslo"}'}``."""

    name: Required[str]
    arguments: str | None


ProviderResponseFunctionCall = FunctionCallInfoParam


class IngestUnitsParams(TypedDict, total=False):
    """The keyword arguments of ``ingest.units`` (the instrumentor builds one per provider call).

    Example:
        >>> params: IngestUnitsParams = {"category": "system.anthropic", "units": {"text": {"input": 1}}}
        >>> # client.ingest.units(**params)
    """

    category: Required[str]
    units: Required[dict[str, IngestUnits]]
    end_to_end_latency_ms: int | None
    event_timestamp: str | datetime | None
    http_status_code: int | None
    properties: dict[str, str | None] | None
    provider_request_headers: Iterable[PayICommonModelsAPIRouterHeaderInfoParam] | None
    provider_request_json: str | None
    provider_request_reasoning_json: str | None
    provider_response_function_calls: Iterable[FunctionCallInfoParam] | None
    provider_response_headers: Iterable[PayICommonModelsAPIRouterHeaderInfoParam] | None
    provider_response_id: str | None
    provider_response_json: str | SequenceNotStr[str] | None
    provider_uri: str | None
    resource: str | None
    time_to_first_completion_token_ms: int | None
    time_to_first_token_ms: int | None
    use_case_properties: dict[str, str | None] | None
    limit_ids: list[str] | None
    request_tags: list[str] | None
    use_case_name: str | None
    use_case_id: str | None
    use_case_version: int | None
    resource_scope: str | None
    use_case_step: str | None
    user_id: str | None
    account_name: str | None
    disable_logging: bool | None


class BulkIngestRequestParam(TypedDict, total=False):
    """One event of ``ingest.bulk``: the ingest body plus the attribution that ``units`` sends as headers.

    Example:
        >>> item: BulkIngestRequestParam = {"category": "system.openai", "units": {}, "limit_ids": ["l1"]}
    """

    category: Required[str]
    units: Required[dict[str, IngestUnits]]
    account_name: str | None
    end_to_end_latency_ms: int | None
    event_timestamp: str | datetime | None
    http_status_code: int | None
    limit_ids: SequenceNotStr[str] | None
    properties: dict[str, str | None] | None
    provider_request_headers: Iterable[PayICommonModelsAPIRouterHeaderInfoParam] | None
    provider_request_json: str | None
    provider_request_reasoning_json: str | None
    provider_response_function_calls: Iterable[FunctionCallInfoParam] | None
    provider_response_headers: Iterable[PayICommonModelsAPIRouterHeaderInfoParam] | None
    provider_response_id: str | None
    provider_response_json: str | SequenceNotStr[str] | None
    provider_uri: str | None
    request_tags: SequenceNotStr[str] | None
    resource: str | None
    scope: str | None
    time_to_first_completion_token_ms: int | None
    time_to_first_token_ms: int | None
    use_case_id: str | None
    use_case_name: str | None
    use_case_properties: dict[str, str | None] | None
    use_case_step: str | None
    use_case_version: int | None
    user_id: str | None


class IngestBulkParams(TypedDict, total=False):
    """The arguments of ``ingest.bulk``. Example: ``{"events": [event1, event2]}``."""

    events: Iterable[BulkIngestRequestParam]
