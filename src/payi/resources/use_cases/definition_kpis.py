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
from ..._resource import AsyncAPIResource, Endpoints, SyncAPIResource, endpoint, paged
from ..._types import Body, Headers, NotGiven, Omit, Query, not_given, omit
from ..._utils import path_template
from ...pagination import SyncCursorPage
from ...types.use_cases import KpiType
from ...types.use_cases.definitions import KpiResponse

__all__ = ["AsyncDefinitionKpisResource", "DefinitionKpisResource"]


class _DefinitionKpisEndpoints(Endpoints):
    """The endpoints of ``DefinitionKpisResource`` and ``AsyncDefinitionKpisResource``, defined once."""

    @endpoint
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

    @endpoint
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

    @endpoint
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

    @paged
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

    @endpoint
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


class DefinitionKpisResource(_DefinitionKpisEndpoints, SyncAPIResource):
    """KPIs of a use-case definition. Example: ``client.use_cases.definitions.kpis.list("support-bot")``."""


class AsyncDefinitionKpisResource(_DefinitionKpisEndpoints, AsyncAPIResource):
    """KPIs of a use-case definition. Example: ``await client.use_cases.definitions.kpis.list("support-bot")``."""

