"""``client.use_cases.definitions.kpis``: the KPIs defined on a use-case definition.

Example:
    >>> import payi
    >>> client = payi.Payi(api_key="k")
    >>> # client.use_cases.definitions.kpis.create("support-bot", name="resolved", description="Ticket resolved",
    >>> #                                          goal=0.8, kpi_type="boolean")
"""

# ruff: noqa: ASYNC109  (`timeout` is the official SDK's per-request HTTP timeout, not a cancel scope)

from __future__ import annotations

import httpx2

from ..._base_client import make_request_options
from ..._resource import AsyncAPIResource, SyncAPIResource
from ..._types import Body, Headers, NotGiven, Omit, Query, not_given, omit
from ..._utils import path_template
from ...pagination import AsyncCursorPage, AsyncPaginator, SyncCursorPage
from ...types.use_cases import KpiType
from ...types.use_cases.definitions import KpiResponse

__all__ = ["AsyncDefinitionKpisResource", "DefinitionKpisResource"]


class DefinitionKpisResource(SyncAPIResource):
    """KPIs of a use-case definition. Example: ``client.use_cases.definitions.kpis.list("support-bot")``."""

    def create(
        self,
        use_case_name: str,
        *,
        description: str,
        goal: float,
        kpi_type: KpiType,
        name: str,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KpiResponse:
        """Define a KPI. Example: ``kpis.create("bot", name="csat", description="d", goal=4, kpi_type="likert5")``."""
        return self._post(
            path_template("/api/v1/use_cases/definitions/{use_case_name}/kpis", use_case_name=use_case_name),
            body={"description": description, "goal": goal, "kpi_type": kpi_type, "name": name},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KpiResponse,
        )

    def retrieve(
        self,
        kpi_name: str,
        *,
        use_case_name: str,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KpiResponse:
        """Get a KPI definition. Example: ``kpis.retrieve("csat", use_case_name="bot").goal``."""
        return self._get(
            path_template(
                "/api/v1/use_cases/definitions/{use_case_name}/kpis/{kpi_name}",
                use_case_name=use_case_name,
                kpi_name=kpi_name,
            ),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KpiResponse,
        )

    def update(
        self,
        kpi_name: str,
        *,
        use_case_name: str,
        description: str | None | Omit = omit,
        goal: float | None | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KpiResponse:
        """Change a KPI's description or goal. Example: ``kpis.update("csat", use_case_name="bot", goal=4.5)``."""
        return self._put(
            path_template(
                "/api/v1/use_cases/definitions/{use_case_name}/kpis/{kpi_name}",
                use_case_name=use_case_name,
                kpi_name=kpi_name,
            ),
            body={"description": description, "goal": goal},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KpiResponse,
        )

    def list(
        self,
        use_case_name: str,
        *,
        cursor: str | Omit = omit,
        kpi_name: str | Omit = omit,
        limit: int | Omit = omit,
        sort_ascending: bool | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> SyncCursorPage[KpiResponse]:
        """List the KPIs of a definition. Example: ``[k.name for k in kpis.list("bot")]``."""
        return self._get_api_list(
            path_template("/api/v1/use_cases/definitions/{use_case_name}/kpis", use_case_name=use_case_name),
            page=SyncCursorPage[KpiResponse],
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
            model=KpiResponse,
        )

    def delete(
        self,
        kpi_name: str,
        *,
        use_case_name: str,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KpiResponse:
        """Delete a KPI definition. Example: ``kpis.delete("csat", use_case_name="bot")``."""
        return self._delete(
            path_template(
                "/api/v1/use_cases/definitions/{use_case_name}/kpis/{kpi_name}",
                use_case_name=use_case_name,
                kpi_name=kpi_name,
            ),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KpiResponse,
        )


class AsyncDefinitionKpisResource(AsyncAPIResource):
    """KPIs of a use-case definition. Example: ``await client.use_cases.definitions.kpis.list("support-bot")``."""

    async def create(
        self,
        use_case_name: str,
        *,
        description: str,
        goal: float,
        kpi_type: KpiType,
        name: str,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KpiResponse:
        """Define a KPI. Example: ``await kpis.create("bot", name="csat", description="d", goal=4, kpi_type="likert5")``."""
        return await self._post(
            path_template("/api/v1/use_cases/definitions/{use_case_name}/kpis", use_case_name=use_case_name),
            body={"description": description, "goal": goal, "kpi_type": kpi_type, "name": name},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KpiResponse,
        )

    async def retrieve(
        self,
        kpi_name: str,
        *,
        use_case_name: str,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KpiResponse:
        """Get a KPI definition. Example: ``(await kpis.retrieve("csat", use_case_name="bot")).goal``."""
        return await self._get(
            path_template(
                "/api/v1/use_cases/definitions/{use_case_name}/kpis/{kpi_name}",
                use_case_name=use_case_name,
                kpi_name=kpi_name,
            ),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KpiResponse,
        )

    async def update(
        self,
        kpi_name: str,
        *,
        use_case_name: str,
        description: str | None | Omit = omit,
        goal: float | None | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KpiResponse:
        """Change a KPI's description or goal. Example: ``await kpis.update("csat", use_case_name="bot", goal=4.5)``."""
        return await self._put(
            path_template(
                "/api/v1/use_cases/definitions/{use_case_name}/kpis/{kpi_name}",
                use_case_name=use_case_name,
                kpi_name=kpi_name,
            ),
            body={"description": description, "goal": goal},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KpiResponse,
        )

    def list(
        self,
        use_case_name: str,
        *,
        cursor: str | Omit = omit,
        kpi_name: str | Omit = omit,
        limit: int | Omit = omit,
        sort_ascending: bool | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> AsyncPaginator[KpiResponse, AsyncCursorPage[KpiResponse]]:
        """List the KPIs of a definition. Example: ``[k.name async for k in kpis.list("bot")]``."""
        return self._get_api_list(
            path_template("/api/v1/use_cases/definitions/{use_case_name}/kpis", use_case_name=use_case_name),
            page=AsyncCursorPage[KpiResponse],
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
            model=KpiResponse,
        )

    async def delete(
        self,
        kpi_name: str,
        *,
        use_case_name: str,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> KpiResponse:
        """Delete a KPI definition. Example: ``await kpis.delete("csat", use_case_name="bot")``."""
        return await self._delete(
            path_template(
                "/api/v1/use_cases/definitions/{use_case_name}/kpis/{kpi_name}",
                use_case_name=use_case_name,
                kpi_name=kpi_name,
            ),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=KpiResponse,
        )
