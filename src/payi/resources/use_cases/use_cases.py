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

from functools import cached_property

import httpx2

from ..._base_client import make_request_options
from ..._resource import AsyncAPIResource, SyncAPIResource
from ..._types import Body, Headers, NoneType, NotGiven, Omit, Query, not_given, omit
from ..._utils import path_template
from ...pagination import AsyncCursorPage, AsyncPaginator, SyncCursorPage
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


class InstanceKpisResource(SyncAPIResource):
    """``client.use_cases.kpis``: KPI scores of one use-case instance."""

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


class InstancePropertiesResource(SyncAPIResource):
    """``client.use_cases.properties``: properties of one use-case instance."""

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


class UseCasesResource(SyncAPIResource):
    """Use cases. Example: ``client.use_cases.create("support-bot").use_case_id``."""

    @cached_property
    def kpis(self) -> InstanceKpisResource:
        """KPI scores of instances."""
        return InstanceKpisResource(self._client)

    @cached_property
    def definitions(self) -> DefinitionsResource:
        """Use-case definitions."""
        return DefinitionsResource(self._client)

    @cached_property
    def properties(self) -> InstancePropertiesResource:
        """Instance properties."""
        return InstancePropertiesResource(self._client)

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


class AsyncInstanceKpisResource(AsyncAPIResource):
    """``client.use_cases.kpis``: KPI scores of one use-case instance."""

    async def update(
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
            >>> # await client.use_cases.kpis.update("csat", use_case_name="bot", use_case_id=uid, score=4.0)
        """
        return await self._put(
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
    ) -> AsyncPaginator[KpiListResponse, AsyncCursorPage[KpiListResponse]]:
        """List the KPI scores of an instance. Example: ``[x async for x in client.use_cases.kpis.list(uid, use_case_name="bot")]``."""
        return self._get_api_list(
            path_template(
                "/api/v1/use_cases/instances/{use_case_name}/{use_case_id}/kpis",
                use_case_name=use_case_name,
                use_case_id=use_case_id,
            ),
            page=AsyncCursorPage[KpiListResponse],
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


class AsyncInstancePropertiesResource(AsyncAPIResource):
    """``client.use_cases.properties``: properties of one use-case instance."""

    async def update(
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
            >>> # await client.use_cases.properties.update(uid, use_case_name="bot", properties={"tier": "gold"})
        """
        return await self._put(
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


class AsyncUseCasesResource(AsyncAPIResource):
    """Use cases. Example: ``(await client.use_cases.create("support-bot")).use_case_id``."""

    @cached_property
    def kpis(self) -> AsyncInstanceKpisResource:
        """KPI scores of instances."""
        return AsyncInstanceKpisResource(self._client)

    @cached_property
    def definitions(self) -> AsyncDefinitionsResource:
        """Use-case definitions."""
        return AsyncDefinitionsResource(self._client)

    @cached_property
    def properties(self) -> AsyncInstancePropertiesResource:
        """Instance properties."""
        return AsyncInstancePropertiesResource(self._client)

    async def create(
        self,
        use_case_name: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> UseCaseInstanceResponse:
        """Create an instance of a use case. Example: ``(await client.use_cases.create("bot")).use_case_id``."""
        return await self._post(
            path_template("/api/v1/use_cases/instances/{use_case_name}", use_case_name=use_case_name),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=UseCaseInstanceResponse,
        )

    async def retrieve(
        self,
        use_case_id: str,
        *,
        use_case_name: str,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> UseCaseInstanceResponse:
        """Get an instance. Example: ``(await client.use_cases.retrieve(uid, use_case_name="bot")).limit_id``."""
        return await self._get(
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

    async def delete(
        self,
        use_case_id: str,
        *,
        use_case_name: str,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> UseCaseInstanceResponse:
        """Delete an instance. Example: ``await client.use_cases.delete(uid, use_case_name="bot")``."""
        return await self._delete(
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
