"""The event: what every priced call becomes, whichever way it reached us (ingest or proxy).

A provider adapter's or the ingest API's only job is to build one; everything after that (price, cost, limits,
record, ``xproxy_result``) is the one shared path in ``metering.meter``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Units = dict[str, dict[str, int]]


def storable(text: str | None, limit: int | None = None) -> str | None:
    """Text every database stores: NUL (which PostgreSQL refuses) as U+FFFD, cut to its column's length."""
    if text is None or ("\x00" not in text and (limit is None or len(text) <= limit)):
        return text
    return text.replace("\x00", "\ufffd")[:limit]


@dataclass(slots=True)
class Usage:
    """What a provider's answer said it used (a proxy adapter reads it from the response or the stream)."""

    units: Units
    response_id: str | None = None
    model: str | None = None
    resource_scope: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Attribution:
    """Who and what a request is for: from ``xProxy-*`` headers (ingest, proxy) or bulk item fields."""

    limit_ids: list[str] = field(default_factory=list)
    use_case_name: str | None = None
    use_case_id: str | None = None
    use_case_version: int | None = None
    use_case_step: str | None = None
    use_case_properties: dict[str, str | None] | None = None
    user_id: str | None = None
    account_name: str | None = None
    resource_scope: str | None = None
    price_as_category: str | None = None
    price_as_resource: str | None = None
    properties: dict[str, str | None] | None = None
    request_tags: list[str] | None = None
    logging_disabled: bool = False
    instrumented_module: str | None = None


@dataclass(slots=True)
class Payload:
    """The prompt and response, stored only where the application allows it and the request did not opt out."""

    provider_request_json: str | None = None
    provider_request_reasoning_json: str | None = None
    provider_response_json: str | list[str] | None = None
    provider_request_headers: list[dict[str, Any]] | None = None
    provider_response_headers: list[dict[str, Any]] | None = None
    provider_response_function_calls: list[dict[str, Any]] | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in self.__slots__)  # type: ignore[attr-defined]


@dataclass(slots=True)
class Event:
    source: str  # "ingest" | "proxy"
    category: str
    resource: str
    units: Units
    event_timestamp: datetime
    attribution: Attribution
    http_status_code: int | None = 200
    end_to_end_latency_ms: int | None = None
    time_to_first_token_ms: int | None = None
    time_to_first_completion_token_ms: int | None = None
    provider_response_id: str | None = None
    provider_uri: str | None = None
    payload: Payload | None = None
    blocked: bool = False

    @property
    def failed(self) -> bool:
        status = self.http_status_code
        return status is not None and not 200 <= status < 299
