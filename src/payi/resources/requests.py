"""``client.requests``: look up or annotate a request after the fact, by Pay-i request id or provider response id.

Example:
    >>> import payi
    >>> client = payi.Payi(api_key="k")
    >>> # client.requests.request_id.result.retrieve("5673977").xproxy_result.cost
    >>> # client.requests.response_id.properties.update("chatcmpl-1", category="system.openai",
    >>> #                                               properties={"rating": "good"})
"""

# ruff: noqa: ASYNC109  (`timeout` is the official SDK's per-request HTTP timeout, not a cancel scope)

from __future__ import annotations

from functools import cached_property

import httpx2

from .._base_client import make_request_options
from .._resource import AsyncAPIResource, SyncAPIResource
from .._types import Body, Headers, NotGiven, Query, not_given
from .._utils import path_template
from ..types.request_result import RequestResult
from ..types.shared.models import PropertiesResponse

__all__ = [
    "AsyncRequestIDResource",
    "AsyncRequestsResource",
    "AsyncResponseIDResource",
    "RequestIDResource",
    "RequestsResource",
    "ResponseIDResource",
]


class RequestIDResultResource(SyncAPIResource):
    """``client.requests.request_id.result``."""

    def retrieve(
        self,
        request_id: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> RequestResult:
        """The ``xproxy_result`` of a request. Example: ``client.requests.request_id.result.retrieve("42")``."""
        return self._get(
            path_template("/api/v1/requests/{request_id}/result", request_id=request_id),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=RequestResult,
        )


class RequestIDPropertiesResource(SyncAPIResource):
    """``client.requests.request_id.properties``."""

    def update(
        self,
        request_id: str,
        *,
        properties: dict[str, str | None],
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> PropertiesResponse:
        """Set (or, with ``None``, delete) properties of a request.

        Example:
            >>> # client.requests.request_id.properties.update("42", properties={"rating": "good"})
        """
        return self._put(
            path_template("/api/v1/requests/{request_id}/properties", request_id=request_id),
            body={"properties": properties},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=PropertiesResponse,
        )


class ResponseIDResultResource(SyncAPIResource):
    """``client.requests.response_id.result``."""

    def retrieve(
        self,
        provider_response_id: str,
        *,
        category: str,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> RequestResult:
        """The ``xproxy_result`` of a request, by the provider's response id.

        Example:
            >>> # client.requests.response_id.result.retrieve("msg_01", category="system.anthropic")
        """
        return self._get(
            path_template(
                "/api/v1/requests/provider/{category}/{provider_response_id}/result",
                category=category,
                provider_response_id=provider_response_id,
            ),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=RequestResult,
        )


class ResponseIDPropertiesResource(SyncAPIResource):
    """``client.requests.response_id.properties``."""

    def update(
        self,
        provider_response_id: str,
        *,
        category: str,
        properties: dict[str, str | None],
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> PropertiesResponse:
        """Set properties of a request, by the provider's response id (the category goes in the path only).

        Example:
            >>> # client.requests.response_id.properties.update("msg_01", category="system.anthropic",
            >>> #                                               properties={"rating": "good"})
        """
        return self._put(
            path_template(
                "/api/v1/requests/provider/{category}/{provider_response_id}/properties",
                category=category,
                provider_response_id=provider_response_id,
            ),
            body={"properties": properties},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=PropertiesResponse,
        )


class RequestIDResource(SyncAPIResource):
    """``client.requests.request_id``: by Pay-i request id."""

    @cached_property
    def result(self) -> RequestIDResultResource:
        """Example: ``client.requests.request_id.result.retrieve("42")``."""
        return RequestIDResultResource(self._client)

    @cached_property
    def properties(self) -> RequestIDPropertiesResource:
        """Example: ``client.requests.request_id.properties.update("42", properties={...})``."""
        return RequestIDPropertiesResource(self._client)


class ResponseIDResource(SyncAPIResource):
    """``client.requests.response_id``: by provider response id and category."""

    @cached_property
    def result(self) -> ResponseIDResultResource:
        """Example: ``client.requests.response_id.result.retrieve("msg_01", category="system.anthropic")``."""
        return ResponseIDResultResource(self._client)

    @cached_property
    def properties(self) -> ResponseIDPropertiesResource:
        """Example: ``client.requests.response_id.properties.update("msg_01", category=..., properties=...)``."""
        return ResponseIDPropertiesResource(self._client)


class RequestsResource(SyncAPIResource):
    """Requests after the fact. Example: ``client.requests.request_id.result.retrieve("42")``."""

    @cached_property
    def request_id(self) -> RequestIDResource:
        """By Pay-i request id."""
        return RequestIDResource(self._client)

    @cached_property
    def response_id(self) -> ResponseIDResource:
        """By provider response id."""
        return ResponseIDResource(self._client)


class AsyncRequestIDResultResource(AsyncAPIResource):
    """``client.requests.request_id.result``."""

    async def retrieve(
        self,
        request_id: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> RequestResult:
        """The ``xproxy_result`` of a request. Example: ``await client.requests.request_id.result.retrieve("42")``."""
        return await self._get(
            path_template("/api/v1/requests/{request_id}/result", request_id=request_id),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=RequestResult,
        )


class AsyncRequestIDPropertiesResource(AsyncAPIResource):
    """``client.requests.request_id.properties``."""

    async def update(
        self,
        request_id: str,
        *,
        properties: dict[str, str | None],
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> PropertiesResponse:
        """Set (or, with ``None``, delete) properties of a request.

        Example:
            >>> # await client.requests.request_id.properties.update("42", properties={"rating": "good"})
        """
        return await self._put(
            path_template("/api/v1/requests/{request_id}/properties", request_id=request_id),
            body={"properties": properties},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=PropertiesResponse,
        )


class AsyncResponseIDResultResource(AsyncAPIResource):
    """``client.requests.response_id.result``."""

    async def retrieve(
        self,
        provider_response_id: str,
        *,
        category: str,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> RequestResult:
        """The ``xproxy_result`` of a request, by the provider's response id.

        Example:
            >>> # await client.requests.response_id.result.retrieve("msg_01", category="system.anthropic")
        """
        return await self._get(
            path_template(
                "/api/v1/requests/provider/{category}/{provider_response_id}/result",
                category=category,
                provider_response_id=provider_response_id,
            ),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=RequestResult,
        )


class AsyncResponseIDPropertiesResource(AsyncAPIResource):
    """``client.requests.response_id.properties``."""

    async def update(
        self,
        provider_response_id: str,
        *,
        category: str,
        properties: dict[str, str | None],
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> PropertiesResponse:
        """Set properties of a request, by the provider's response id (the category goes in the path only).

        Example:
            >>> # await client.requests.response_id.properties.update("msg_01", category="system.anthropic",
            >>> #                                               properties={"rating": "good"})
        """
        return await self._put(
            path_template(
                "/api/v1/requests/provider/{category}/{provider_response_id}/properties",
                category=category,
                provider_response_id=provider_response_id,
            ),
            body={"properties": properties},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=PropertiesResponse,
        )


class AsyncRequestIDResource(AsyncAPIResource):
    """``client.requests.request_id``: by Pay-i request id."""

    @cached_property
    def result(self) -> AsyncRequestIDResultResource:
        """Example: ``client.requests.request_id.result.retrieve("42")``."""
        return AsyncRequestIDResultResource(self._client)

    @cached_property
    def properties(self) -> AsyncRequestIDPropertiesResource:
        """Example: ``client.requests.request_id.properties.update("42", properties={...})``."""
        return AsyncRequestIDPropertiesResource(self._client)


class AsyncResponseIDResource(AsyncAPIResource):
    """``client.requests.response_id``: by provider response id and category."""

    @cached_property
    def result(self) -> AsyncResponseIDResultResource:
        """Example: ``client.requests.response_id.result.retrieve("msg_01", category="system.anthropic")``."""
        return AsyncResponseIDResultResource(self._client)

    @cached_property
    def properties(self) -> AsyncResponseIDPropertiesResource:
        """Example: ``client.requests.response_id.properties.update("msg_01", category=..., properties=...)``."""
        return AsyncResponseIDPropertiesResource(self._client)


class AsyncRequestsResource(AsyncAPIResource):
    """Requests after the fact. Example: ``await client.requests.request_id.result.retrieve("42")``."""

    @cached_property
    def request_id(self) -> AsyncRequestIDResource:
        """By Pay-i request id."""
        return AsyncRequestIDResource(self._client)

    @cached_property
    def response_id(self) -> AsyncResponseIDResource:
        """By provider response id."""
        return AsyncResponseIDResource(self._client)
