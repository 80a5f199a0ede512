"""``client.limits``: spending limits (USD) and their properties.

Example:
    >>> import payi
    >>> client = payi.Payi(api_key="k")
    >>> # limit = client.limits.create(limit_name="team-a", max=100.0, limit_type="allow").limit
    >>> # client.limits.reset(limit.limit_id, reset_date=datetime.now(UTC))
"""

# ruff: noqa: ASYNC109  (`timeout` is the official SDK's per-request HTTP timeout, not a cancel scope)

from __future__ import annotations

from datetime import datetime
from typing import Literal

import httpx2

from .._base_client import make_request_options
from .._resource import AsyncAPIResource, Endpoints, SyncAPIResource, endpoint, paged, subresource
from .._types import Body, Headers, NotGiven, Omit, Query, not_given, omit
from .._utils import path_template
from ..pagination import SyncCursorPage
from ..types.limit import DefaultResponse, Limit, LimitHistoryResponse, LimitResponse
from ..types.limits import PropertyUpdateResponse

__all__ = ["AsyncLimitPropertiesResource", "AsyncLimitsResource", "LimitPropertiesResource", "LimitsResource"]


class _LimitPropertiesEndpoints(Endpoints):
    """The endpoints of ``LimitPropertiesResource`` and ``AsyncLimitPropertiesResource``, defined once."""

    @endpoint
    def update(
        self,
        limit_id: str,
        *,
        properties: dict[str, str | None],
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> PropertyUpdateResponse:
        """Set (or, with ``None``, delete) properties of a limit.

        Example:
            >>> # client.limits.properties.update("lim_1", properties={"team": "search", "old": None})
        """
        return self._put(
            path_template("/api/v1/limits/{limit_id}/properties", limit_id=limit_id),
            body={"properties": properties},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=PropertyUpdateResponse,
        )


class LimitPropertiesResource(_LimitPropertiesEndpoints, SyncAPIResource):
    """``client.limits.properties``. Example: ``client.limits.properties.update("lim_1", properties={"a": "b"})``."""


class AsyncLimitPropertiesResource(_LimitPropertiesEndpoints, AsyncAPIResource):
    """``client.limits.properties``. Example: ``await client.limits.properties.update("lim_1", properties={...})``."""


class _LimitsEndpoints(Endpoints):
    """The endpoints of ``LimitsResource`` and ``AsyncLimitsResource``, defined once."""

    properties = subresource(
        LimitPropertiesResource,
        AsyncLimitPropertiesResource,
        "Limit properties. Example: ``client.limits.properties.update(...)``.",
    )

    @endpoint
    def create(
        self,
        *,
        limit_name: str,
        max: float,
        limit_id: str | None | Omit = omit,
        limit_type: Literal["block", "allow"] | Omit = omit,
        properties: dict[str, str | None] | None | Omit = omit,
        threshold: float | None | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> LimitResponse:
        """Create a limit (``threshold`` is a fraction of ``max``, 0.75 to 0.99).

        Example:
            >>> # client.limits.create(limit_name="team-a", max=100.0, limit_type="block", threshold=0.9)
        """
        return self._post(
            "/api/v1/limits",
            body={
                "limit_name": limit_name,
                "max": max,
                "limit_id": limit_id,
                "limit_type": limit_type,
                "properties": properties,
                "threshold": threshold,
            },
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=LimitResponse,
        )

    @endpoint
    def retrieve(
        self,
        limit_id: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> LimitResponse:
        """Get a limit. Example: ``client.limits.retrieve("lim_1").limit.max``."""
        return self._get(
            path_template("/api/v1/limits/{limit_id}", limit_id=limit_id),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=LimitResponse,
        )

    @endpoint
    def update(
        self,
        limit_id: str,
        *,
        limit_name: str | None | Omit = omit,
        max: float | None | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> LimitResponse:
        """Rename a limit or change its max. Example: ``client.limits.update("lim_1", max=200.0)``."""
        return self._put(
            path_template("/api/v1/limits/{limit_id}", limit_id=limit_id),
            body={"limit_name": limit_name, "max": max},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=LimitResponse,
        )

    @paged
    def list(
        self,
        *,
        cursor: str | Omit = omit,
        limit: int | Omit = omit,
        limit_name: str | Omit = omit,
        sort_ascending: bool | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> SyncCursorPage[Limit]:
        """List limits; iterate the result to walk every page. Example: ``[l.limit_id for l in client.limits.list()]``."""
        return self._get_api_list(
            "/api/v1/limits",
            page=SyncCursorPage[Limit],
            options=make_request_options(
                query={
                    "cursor": cursor,
                    "limit": limit,
                    "limit_name": limit_name,
                    "sort_ascending": sort_ascending,
                },
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
            ),
            model=Limit,
        )

    @endpoint
    def delete(
        self,
        limit_id: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> DefaultResponse:
        """Delete a limit. Example: ``client.limits.delete("lim_1").request_id``."""
        return self._delete(
            path_template("/api/v1/limits/{limit_id}", limit_id=limit_id),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=DefaultResponse,
        )

    @endpoint
    def reset(
        self,
        limit_id: str,
        *,
        reset_date: str | datetime | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> LimitHistoryResponse:
        """Reset a limit's spend to 0 (``reset_date`` is sent as the ``resetDate`` query parameter).

        Example:
            >>> # history = client.limits.reset("lim_1").limit_history   # the totals before the reset
        """
        return self._post(
            path_template("/api/v1/limits/{limit_id}/reset", limit_id=limit_id),
            options=make_request_options(
                query={"resetDate": reset_date},
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
            ),
            cast_to=LimitHistoryResponse,
        )


class LimitsResource(_LimitsEndpoints, SyncAPIResource):
    """Spending limits. Example: ``client.limits.retrieve("lim_1").limit.totals.cost.total.base``."""


class AsyncLimitsResource(_LimitsEndpoints, AsyncAPIResource):
    """Spending limits. Example: ``(await client.limits.retrieve("lim_1")).limit.totals.cost.total.base``."""

