"""``client.ingest``: report the usage of a provider call you made yourself, and get it priced.

Attribution (limits, use case, user, account, resource scope) travels as ``xProxy-*`` headers; the usage and the
provider details travel in the JSON body.

Example:
    >>> import payi
    >>> client = payi.Payi(api_key="k")
    >>> # r = client.ingest.units(category="system.openai", resource="gpt-4o",
    >>> #                         units={"text": {"input": 50, "output": 100}}, limit_ids=["lim_1"])
    >>> # r.xproxy_result.cost.total.base
"""

# ruff: noqa: ASYNC109  (`timeout` is the official SDK's per-request HTTP timeout, not a cancel scope)

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import httpx2

from .._base_client import make_request_options
from .._resource import AsyncAPIResource, Endpoints, SyncAPIResource, endpoint
from .._types import Body, Headers, NotGiven, Omit, Query, SequenceNotStr, not_given, omit
from .._utils import is_given
from ..types.ingest_response import BulkIngestResponse, IngestResponse
from ..types.ingest_units_params import (
    BulkIngestRequestParam,
    FunctionCallInfoParam,
    PayICommonModelsAPIRouterHeaderInfoParam,
)
from ..types.shared_params.ingest_units import IngestUnits

__all__ = ["AsyncIngestResource", "IngestResource"]


def _stringify_properties(properties: object) -> object:
    """Property values are sent as strings (``None`` is kept: it deletes a property)."""
    if not is_given(properties) or not isinstance(properties, Mapping) or not properties:
        return properties
    return {key: None if value is None else str(value) for key, value in properties.items()}


def _attribution_headers(
    *,
    limit_ids: list[str] | None | Omit,
    disable_logging: bool | None | Omit,
    use_case_id: str | None | Omit,
    use_case_name: str | None | Omit,
    use_case_step: str | None | Omit,
    use_case_version: int | None | Omit,
    user_id: str | None | Omit,
    resource_scope: str | None | Omit,
    account_name: str | None | Omit,
    extra_headers: Headers | None,
) -> dict[str, str | Omit]:
    """The ``xProxy-*`` headers of one ingest call; ``None`` and omitted values send nothing."""
    headers: dict[str, str | Omit] = {}
    if limit_ids is not None and is_given(limit_ids):
        if not isinstance(limit_ids, list):
            raise TypeError("limit_ids must be a list")
        valid = [limit_id.strip() for limit_id in limit_ids if limit_id.strip()]
        if valid:
            headers["xProxy-Limit-IDs"] = ",".join(valid)
    for name, value in (
        ("xProxy-UseCase-ID", use_case_id),
        ("xProxy-UseCase-Name", use_case_name),
        ("xProxy-UseCase-Step", use_case_step),
        ("xProxy-UseCase-Version", use_case_version),
        ("xProxy-User-ID", user_id),
        ("xProxy-Resource-Scope", resource_scope),
        ("xProxy-Account-Name", account_name),
    ):
        if value is not None and is_given(value):
            headers[name] = str(value)
    if isinstance(disable_logging, bool):
        headers["xProxy-Logging-Disable"] = str(disable_logging)
    return {**headers, **(extra_headers or {})}


def _listed(value: object) -> object:
    """Materialise iterables (generators included) so they can be encoded as JSON arrays."""
    if is_given(value) and value is not None and not isinstance(value, (str, bytes, Mapping, list)):
        if isinstance(value, Iterable):
            return list(value)
    return value


def _bulk_body(events: Iterable[BulkIngestRequestParam] | None | Omit) -> object:
    """A bare JSON array of events, or no body at all when there are none."""
    if events is None or isinstance(events, Omit):
        return not_given
    items = list(events)
    return items if items else not_given


class _IngestEndpoints(Endpoints):
    """The endpoints of ``IngestResource`` and ``AsyncIngestResource``, defined once."""

    @endpoint
    def bulk(
        self,
        *,
        events: Iterable[BulkIngestRequestParam] | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> BulkIngestResponse:
        """Ingest many events in one call (the body is a bare JSON array; no body when there are no events).

        Example:
            >>> # client.ingest.bulk(events=[{"category": "system.openai", "resource": "gpt-4o",
            >>> #                             "units": {"text": {"input": 5}}, "limit_ids": ["lim_1"]}])
        """
        return self._post(
            "/api/v1/ingest/bulk",
            body=_bulk_body(events),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=BulkIngestResponse,
        )

    @endpoint
    def units(
        self,
        *,
        category: str,
        units: dict[str, IngestUnits],
        end_to_end_latency_ms: int | None | Omit = omit,
        event_timestamp: str | datetime | None | Omit = omit,
        http_status_code: int | None | Omit = omit,
        properties: dict[str, str | None] | None | Omit = omit,
        provider_request_headers: Iterable[PayICommonModelsAPIRouterHeaderInfoParam] | None | Omit = omit,
        provider_request_json: str | None | Omit = omit,
        provider_request_reasoning_json: str | None | Omit = omit,
        provider_response_function_calls: Iterable[FunctionCallInfoParam] | None | Omit = omit,
        provider_response_headers: Iterable[PayICommonModelsAPIRouterHeaderInfoParam] | None | Omit = omit,
        provider_response_id: str | None | Omit = omit,
        provider_response_json: str | SequenceNotStr[str] | None | Omit = omit,
        provider_uri: str | None | Omit = omit,
        resource: str | None | Omit = omit,
        time_to_first_completion_token_ms: int | None | Omit = omit,
        time_to_first_token_ms: int | None | Omit = omit,
        use_case_properties: dict[str, str | None] | None | Omit = omit,
        limit_ids: list[str] | None | Omit = omit,
        disable_logging: bool | None | Omit = omit,
        request_tags: list[str] | None | Omit = omit,
        use_case_id: str | None | Omit = omit,
        use_case_name: str | None | Omit = omit,
        use_case_step: str | None | Omit = omit,
        use_case_version: int | None | Omit = omit,
        user_id: str | None | Omit = omit,
        resource_scope: str | None | Omit = omit,
        account_name: str | None | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> IngestResponse:
        """Ingest one event and get its cost and limit states back in ``xproxy_result``.

        ``units`` values are sent as given. ``request_tags`` is accepted and ignored (as in the official SDK).
        Pass the provider response id as ``extra_query={"id": ...}`` to let the server de-duplicate retries.

        Example:
            >>> # client.ingest.units(category="system.anthropic", resource="claude-3-haiku-20240307",
            >>> #                     units={"text": {"input": 11, "output": 21}}, user_id="u1",
            >>> #                     extra_query={"id": "msg_123"})
        """
        return self._post(
            "/api/v1/ingest",
            body=_units_body(locals()),
            options=make_request_options(
                extra_headers=_attribution_headers(
                    limit_ids=limit_ids,
                    disable_logging=disable_logging,
                    use_case_id=use_case_id,
                    use_case_name=use_case_name,
                    use_case_step=use_case_step,
                    use_case_version=use_case_version,
                    user_id=user_id,
                    resource_scope=resource_scope,
                    account_name=account_name,
                    extra_headers=extra_headers,
                ),
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
            ),
            cast_to=IngestResponse,
        )


class IngestResource(_IngestEndpoints, SyncAPIResource):
    """Ingest usage events. Example: ``client.ingest.units(category=..., resource=..., units=...)``."""


class AsyncIngestResource(_IngestEndpoints, AsyncAPIResource):
    """Ingest usage events. Example: ``await client.ingest.units(category=..., resource=..., units=...)``."""


_BODY_FIELDS = (
    "category",
    "units",
    "end_to_end_latency_ms",
    "event_timestamp",
    "http_status_code",
    "properties",
    "provider_request_headers",
    "provider_request_json",
    "provider_request_reasoning_json",
    "provider_response_function_calls",
    "provider_response_headers",
    "provider_response_id",
    "provider_response_json",
    "provider_uri",
    "resource",
    "time_to_first_completion_token_ms",
    "time_to_first_token_ms",
    "use_case_properties",
)


def _units_body(arguments: Mapping[str, object]) -> dict[str, object]:
    """The JSON body of ``units``: the body fields that were given (``None`` is sent as ``null``)."""
    body = {name: _listed(arguments[name]) for name in _BODY_FIELDS if is_given(arguments[name])}
    for name in ("properties", "use_case_properties"):
        if name in body:
            body[name] = _stringify_properties(body[name])
    return body
