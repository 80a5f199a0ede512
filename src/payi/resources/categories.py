"""``client.categories``: the price catalog (categories, resources and their versions).

Example:
    >>> import payi
    >>> client = payi.Payi(api_key="k")
    >>> # client.categories.resources.create("my-model", category="acme",
    >>> #                                    units={"text": {"input_price": 1e-6, "output_price": 2e-6}})
    >>> # [c.category for c in client.categories.list(active=True)]
"""

# ruff: noqa: ASYNC109  (`timeout` is the official SDK's per-request HTTP timeout, not a cancel scope)

from __future__ import annotations

from datetime import datetime

import httpx2

from .._base_client import make_request_options
from .._resource import AsyncAPIResource, Endpoints, SyncAPIResource, endpoint, paged, subresource
from .._types import Body, Headers, NotGiven, Omit, Query, not_given, omit
from .._utils import path_template
from ..pagination import SyncCursorPage
from ..types.category import (
    CategoryDeleteResourceResponse,
    CategoryDeleteResponse,
    CategoryResourcePriceUnitsParam,
    CategoryResourceResponse,
    CategoryResponse,
)

__all__ = ["AsyncCategoriesResource", "AsyncResourcesResource", "CategoriesResource", "ResourcesResource"]


class _ResourcesEndpoints(Endpoints):
    """The endpoints of ``ResourcesResource`` and ``AsyncResourcesResource``, defined once."""

    @endpoint
    def create(
        self,
        resource: str,
        *,
        category: str,
        units: dict[str, CategoryResourcePriceUnitsParam],
        max_input_units: int | None | Omit = omit,
        max_output_units: int | None | Omit = omit,
        max_total_units: int | None | Omit = omit,
        start_timestamp: str | datetime | None | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> CategoryResourceResponse:
        """Create a resource, or a new version of it when it exists (prices in USD per unit).

        Example:
            >>> # client.categories.resources.create("gpt-4o", category="acme.openai",
            >>> #                                    units={"text": {"input_price": 2.5e-6, "output_price": 1e-5}})
        """
        return self._post(
            path_template(
                "/api/v1/categories/{category}/resources/{resource}", category=category, resource=resource
            ),
            body={
                "units": units,
                "max_input_units": max_input_units,
                "max_output_units": max_output_units,
                "max_total_units": max_total_units,
                "start_timestamp": start_timestamp,
            },
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=CategoryResourceResponse,
        )

    @endpoint
    def retrieve(
        self,
        resource_id: str,
        *,
        category: str,
        resource: str,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> CategoryResourceResponse:
        """Get one version of a resource. Example: ``resources.retrieve("42", category="c", resource="r")``."""
        return self._get(
            path_template(
                "/api/v1/categories/{category}/resources/{resource}/{resource_id}",
                category=category,
                resource=resource,
                resource_id=resource_id,
            ),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=CategoryResourceResponse,
        )

    @paged
    def list(
        self,
        resource: str,
        *,
        category: str,
        active: bool | Omit = omit,
        cursor: str | Omit = omit,
        limit: int | Omit = omit,
        sort_ascending: bool | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> SyncCursorPage[CategoryResourceResponse]:
        """List the versions of a resource. Example: ``list(client.categories.resources.list("r", category="c"))``."""
        return self._get_api_list(
            path_template(
                "/api/v1/categories/{category}/resources/{resource}", category=category, resource=resource
            ),
            page=SyncCursorPage[CategoryResourceResponse],
            options=make_request_options(
                query={"Active": active, "cursor": cursor, "limit": limit, "sort_ascending": sort_ascending},
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
            ),
            model=CategoryResourceResponse,
        )

    @endpoint
    def delete(
        self,
        resource_id: str,
        *,
        category: str,
        resource: str,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> CategoryResourceResponse:
        """Delete one version of a resource. Example: ``resources.delete("42", category="c", resource="r")``."""
        return self._delete(
            path_template(
                "/api/v1/categories/{category}/resources/{resource}/{resource_id}",
                category=category,
                resource=resource,
                resource_id=resource_id,
            ),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=CategoryResourceResponse,
        )


class ResourcesResource(_ResourcesEndpoints, SyncAPIResource):
    """``client.categories.resources``: priced resources and their versions."""


class AsyncResourcesResource(_ResourcesEndpoints, AsyncAPIResource):
    """``client.categories.resources``: priced resources and their versions."""


class _CategoriesEndpoints(Endpoints):
    """The endpoints of ``CategoriesResource`` and ``AsyncCategoriesResource``, defined once."""

    resources = subresource(
        ResourcesResource,
        AsyncResourcesResource,
        "Resources of a category. Example: ``client.categories.resources.create(...)``.",
    )

    @paged
    def list(
        self,
        *,
        active: bool | Omit = omit,
        cursor: str | Omit = omit,
        limit: int | Omit = omit,
        sort_ascending: bool | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> SyncCursorPage[CategoryResponse]:
        """List categories (``active`` is sent as ``Active``). Example: ``list(client.categories.list())``."""
        return self._get_api_list(
            "/api/v1/categories",
            page=SyncCursorPage[CategoryResponse],
            options=make_request_options(
                query={"Active": active, "cursor": cursor, "limit": limit, "sort_ascending": sort_ascending},
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
            ),
            model=CategoryResponse,
        )

    @endpoint
    def delete(
        self,
        category: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> CategoryDeleteResponse:
        """Delete a custom category and all its resources. Example: ``client.categories.delete("acme")``."""
        return self._delete(
            path_template("/api/v1/categories/{category}", category=category),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=CategoryDeleteResponse,
        )

    @endpoint
    def delete_resource(
        self,
        resource: str,
        *,
        category: str,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> CategoryDeleteResourceResponse:
        """Delete every version of a resource. Example: ``client.categories.delete_resource("m", category="acme")``."""
        return self._delete(
            path_template(
                "/api/v1/categories/{category}/resources/{resource}", category=category, resource=resource
            ),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=CategoryDeleteResourceResponse,
        )

    @paged
    def list_resources(
        self,
        category: str,
        *,
        active: bool | Omit = omit,
        cursor: str | Omit = omit,
        limit: int | Omit = omit,
        sort_ascending: bool | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> SyncCursorPage[CategoryResourceResponse]:
        """List the resources of a category. Example: ``list(client.categories.list_resources("system.openai"))``."""
        return self._get_api_list(
            path_template("/api/v1/categories/{category}/resources", category=category),
            page=SyncCursorPage[CategoryResourceResponse],
            options=make_request_options(
                query={"Active": active, "cursor": cursor, "limit": limit, "sort_ascending": sort_ascending},
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
            ),
            model=CategoryResourceResponse,
        )


class CategoriesResource(_CategoriesEndpoints, SyncAPIResource):
    """System and custom categories. Example: ``client.categories.list_resources("system.openai")``."""


class AsyncCategoriesResource(_CategoriesEndpoints, AsyncAPIResource):
    """System and custom categories. Example: ``await client.categories.list_resources("system.openai")``."""

