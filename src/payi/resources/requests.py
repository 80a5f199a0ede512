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


import httpx2

from .._base_client import make_request_options
from .._resource import AsyncAPIResource, Endpoints, SyncAPIResource, endpoint, subresource
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


class _RequestIDResultEndpoints(Endpoints):
    """The endpoints of ``RequestIDResultResource`` and ``AsyncRequestIDResultResource``, defined once."""

    @endpoint
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


class RequestIDResultResource(_RequestIDResultEndpoints, SyncAPIResource):
    """``client.requests.request_id.result``."""


class AsyncRequestIDResultResource(_RequestIDResultEndpoints, AsyncAPIResource):
    """``client.requests.request_id.result``."""


class _RequestIDPropertiesEndpoints(Endpoints):
    """The endpoints of ``RequestIDPropertiesResource`` and ``AsyncRequestIDPropertiesResource``, defined once."""

    @endpoint
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


class RequestIDPropertiesResource(_RequestIDPropertiesEndpoints, SyncAPIResource):
    """``client.requests.request_id.properties``."""


class AsyncRequestIDPropertiesResource(_RequestIDPropertiesEndpoints, AsyncAPIResource):
    """``client.requests.request_id.properties``."""


class _ResponseIDResultEndpoints(Endpoints):
    """The endpoints of ``ResponseIDResultResource`` and ``AsyncResponseIDResultResource``, defined once."""

    @endpoint
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


class ResponseIDResultResource(_ResponseIDResultEndpoints, SyncAPIResource):
    """``client.requests.response_id.result``."""


class AsyncResponseIDResultResource(_ResponseIDResultEndpoints, AsyncAPIResource):
    """``client.requests.response_id.result``."""


class _ResponseIDPropertiesEndpoints(Endpoints):
    """The endpoints of ``ResponseIDPropertiesResource`` and ``AsyncResponseIDPropertiesResource``, defined once."""

    @endpoint
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


class ResponseIDPropertiesResource(_ResponseIDPropertiesEndpoints, SyncAPIResource):
    """``client.requests.response_id.properties``."""


class AsyncResponseIDPropertiesResource(_ResponseIDPropertiesEndpoints, AsyncAPIResource):
    """``client.requests.response_id.properties``."""


class _RequestIDEndpoints(Endpoints):
    """The endpoints of ``RequestIDResource`` and ``AsyncRequestIDResource``, defined once."""

    result = subresource(
        RequestIDResultResource,
        AsyncRequestIDResultResource,
        'Example: ``client.requests.request_id.result.retrieve("42")``.',
    )

    properties = subresource(
        RequestIDPropertiesResource,
        AsyncRequestIDPropertiesResource,
        'Example: ``client.requests.request_id.properties.update("42", properties={...})``.',
    )


class RequestIDResource(_RequestIDEndpoints, SyncAPIResource):
    """``client.requests.request_id``: by Pay-i request id."""


class AsyncRequestIDResource(_RequestIDEndpoints, AsyncAPIResource):
    """``client.requests.request_id``: by Pay-i request id."""


class _ResponseIDEndpoints(Endpoints):
    """The endpoints of ``ResponseIDResource`` and ``AsyncResponseIDResource``, defined once."""

    result = subresource(
        ResponseIDResultResource,
        AsyncResponseIDResultResource,
        'Example: ``client.requests.response_id.result.retrieve("msg_01", category="system.anthropic")``.',
    )

    properties = subresource(
        ResponseIDPropertiesResource,
        AsyncResponseIDPropertiesResource,
        'Example: ``client.requests.response_id.properties.update("msg_01", category=..., properties=...)``.',
    )


class ResponseIDResource(_ResponseIDEndpoints, SyncAPIResource):
    """``client.requests.response_id``: by provider response id and category."""


class AsyncResponseIDResource(_ResponseIDEndpoints, AsyncAPIResource):
    """``client.requests.response_id``: by provider response id and category."""


class _RequestsEndpoints(Endpoints):
    """The endpoints of ``RequestsResource`` and ``AsyncRequestsResource``, defined once."""

    request_id = subresource(
        RequestIDResource,
        AsyncRequestIDResource,
        "By Pay-i request id.",
    )

    response_id = subresource(
        ResponseIDResource,
        AsyncResponseIDResource,
        "By provider response id.",
    )


class RequestsResource(_RequestsEndpoints, SyncAPIResource):
    """Requests after the fact. Example: ``client.requests.request_id.result.retrieve("42")``."""


class AsyncRequestsResource(_RequestsEndpoints, AsyncAPIResource):
    """Requests after the fact. Example: ``await client.requests.request_id.result.retrieve("42")``."""

