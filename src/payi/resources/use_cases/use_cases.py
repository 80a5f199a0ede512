"""``client.use_cases``: use-case instances, their properties and KPI scores (definitions live below).

Example:
    >>> import payi
    >>> client = payi.Payi(api_key="k")
    >>> # instance = client.use_cases.create("support-bot")
    >>> # client.use_cases.kpis.update("resolved", use_case_name="support-bot",
    >>> #                              use_case_id=instance.use_case_id, score=True)
"""

# ruff: noqa: ASYNC109  (`timeout` is the official SDK's per-request HTTP timeout, not a cancel scope)

from __future__ import annotations


import httpx2

from ..._base_client import make_request_options
from ..._resource import AsyncAPIResource, Endpoints, SyncAPIResource, endpoint, paged, subresource
from ..._types import Body, Headers, NoneType, NotGiven, Omit, Query, not_given, omit
from ..._utils import path_template
from ...pagination import SyncCursorPage
from ...types.use_case_instance_response import UseCaseInstanceResponse
from ...types.use_cases import KpiListResponse
from .definitions import AsyncDefinitionsResource, DefinitionsResource

__all__ = [
    "AsyncInstanceKpisResource",
    "AsyncInstancePropertiesResource",
    "AsyncUseCasesResource",
    "InstanceKpisResource",
    "InstancePropertiesResource",
    "UseCasesResource",
]


class _InstanceKpisEndpoints(Endpoints):
    """The endpoints of ``InstanceKpisResource`` and ``AsyncInstanceKpisResource``, defined once."""

    @endpoint
    def update(
        self,
        kpi_name: str,
        *,
        use_case_name: str,
        use_case_id: str,
        score: bool | float | None | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> None:
        """Set a KPI score on an instance (the server answers with an empty body).

        Example:
            >>> # client.use_cases.kpis.update("csat", use_case_name="bot", use_case_id=uid, score=4.0)
        """
        return self._put(
            path_template(
                "/api/v1/use_cases/instances/{use_case_name}/{use_case_id}/kpis/{kpi_name}",
                use_case_name=use_case_name,
                use_case_id=use_case_id,
                kpi_name=kpi_name,
            ),
            body={"score": score},
            options=make_request_options(
                extra_headers={"Accept": "*/*", **(extra_headers or {})},
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
            ),
            cast_to=NoneType,
        )

    @paged
    def list(
        self,
        use_case_id: str,
        *,
        use_case_name: str,
        cursor: str | Omit = omit,
        kpi_name: str | Omit = omit,
        limit: int | Omit = omit,
        sort_ascending: bool | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> SyncCursorPage[KpiListResponse]:
        """List the KPI scores of an instance. Example: ``list(client.use_cases.kpis.list(uid, use_case_name="bot"))``."""
        return self._get_api_list(
            path_template(
                "/api/v1/use_cases/instances/{use_case_name}/{use_case_id}/kpis",
                use_case_name=use_case_name,
                use_case_id=use_case_id,
            ),
            page=SyncCursorPage[KpiListResponse],
            options=make_request_options(
                query={
                    "cursor": cursor,
                    "kpi_name": kpi_name,
                    "limit": limit,
                    "sort_ascending": sort_ascending,
                },
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
            ),
            model=KpiListResponse,
        )


class InstanceKpisResource(_InstanceKpisEndpoints, SyncAPIResource):
    """``client.use_cases.kpis``: KPI scores of one use-case instance."""


class AsyncInstanceKpisResource(_InstanceKpisEndpoints, AsyncAPIResource):
    """``client.use_cases.kpis``: KPI scores of one use-case instance."""


class _InstancePropertiesEndpoints(Endpoints):
    """The endpoints of ``InstancePropertiesResource`` and ``AsyncInstancePropertiesResource``, defined once."""

    @endpoint
    def update(
        self,
        use_case_id: str,
        *,
        use_case_name: str,
        properties: dict[str, str | None],
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> UseCaseInstanceResponse:
        """Set (or, with ``None``, delete) instance properties.

        Example:
            >>> # client.use_cases.properties.update(uid, use_case_name="bot", properties={"tier": "gold"})
        """
        return self._put(
            path_template(
                "/api/v1/use_cases/instances/{use_case_name}/{use_case_id}/properties",
                use_case_name=use_case_name,
                use_case_id=use_case_id,
            ),
            body={"properties": properties},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=UseCaseInstanceResponse,
        )


class InstancePropertiesResource(_InstancePropertiesEndpoints, SyncAPIResource):
    """``client.use_cases.properties``: properties of one use-case instance."""


class AsyncInstancePropertiesResource(_InstancePropertiesEndpoints, AsyncAPIResource):
    """``client.use_cases.properties``: properties of one use-case instance."""


class _UseCasesEndpoints(Endpoints):
    """The endpoints of ``UseCasesResource`` and ``AsyncUseCasesResource``, defined once."""

    kpis = subresource(
        InstanceKpisResource,
        AsyncInstanceKpisResource,
        "KPI scores of instances.",
    )

    definitions = subresource(
        DefinitionsResource,
        AsyncDefinitionsResource,
        "Use-case definitions.",
    )

    properties = subresource(
        InstancePropertiesResource,
        AsyncInstancePropertiesResource,
        "Instance properties.",
    )

    @endpoint
    def create(
        self,
        use_case_name: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> UseCaseInstanceResponse:
        """Create an instance of a use case. Example: ``client.use_cases.create("bot").use_case_id``."""
        return self._post(
            path_template("/api/v1/use_cases/instances/{use_case_name}", use_case_name=use_case_name),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=UseCaseInstanceResponse,
        )

    @endpoint
    def retrieve(
        self,
        use_case_id: str,
        *,
        use_case_name: str,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> UseCaseInstanceResponse:
        """Get an instance. Example: ``client.use_cases.retrieve(uid, use_case_name="bot").limit_id``."""
        return self._get(
            path_template(
                "/api/v1/use_cases/instances/{use_case_name}/{use_case_id}",
                use_case_name=use_case_name,
                use_case_id=use_case_id,
            ),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=UseCaseInstanceResponse,
        )

    @endpoint
    def delete(
        self,
        use_case_id: str,
        *,
        use_case_name: str,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> UseCaseInstanceResponse:
        """Delete an instance. Example: ``client.use_cases.delete(uid, use_case_name="bot")``."""
        return self._delete(
            path_template(
                "/api/v1/use_cases/instances/{use_case_name}/{use_case_id}",
                use_case_name=use_case_name,
                use_case_id=use_case_id,
            ),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=UseCaseInstanceResponse,
        )


class UseCasesResource(_UseCasesEndpoints, SyncAPIResource):
    """Use cases. Example: ``client.use_cases.create("support-bot").use_case_id``."""


class AsyncUseCasesResource(_UseCasesEndpoints, AsyncAPIResource):
    """Use cases. Example: ``(await client.use_cases.create("support-bot")).use_case_id``."""

