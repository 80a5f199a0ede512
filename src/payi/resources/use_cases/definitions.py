"""``client.use_cases.definitions``: use-case types, their version, limit configuration and KPIs.

Example:
    >>> import payi
    >>> client = payi.Payi(api_key="k")
    >>> # client.use_cases.definitions.create(name="support-bot", description="Answers tickets",
    >>> #                                     limit_config={"max": 5.0, "limit_type": "allow"})
"""

# ruff: noqa: ASYNC109  (`timeout` is the official SDK's per-request HTTP timeout, not a cancel scope)

from __future__ import annotations

from typing import Literal

import httpx2

from ..._base_client import make_request_options
from ..._resource import AsyncAPIResource, Endpoints, SyncAPIResource, endpoint, paged, subresource
from ..._types import Body, Headers, NotGiven, Omit, Query, not_given, omit
from ..._utils import path_template
from ...pagination import SyncCursorPage
from ...types.shared_params import PayICommonModelsBudgetManagementCreateLimitBase
from ...types.use_cases import UseCaseDefinitionResponse
from .definition_kpis import AsyncDefinitionKpisResource, DefinitionKpisResource

__all__ = [
    "AsyncDefinitionsResource",
    "AsyncLimitConfigResource",
    "AsyncVersionResource",
    "DefinitionsResource",
    "LimitConfigResource",
    "VersionResource",
]


class _VersionEndpoints(Endpoints):
    """The endpoints of ``VersionResource`` and ``AsyncVersionResource``, defined once."""

    @endpoint
    def increment(
        self,
        use_case_name: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> UseCaseDefinitionResponse:
        """Start a new version of a definition. Example: ``version.increment("bot").type_version``."""
        return self._post(
            path_template(
                "/api/v1/use_cases/definitions/{use_case_name}/increment_version", use_case_name=use_case_name
            ),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=UseCaseDefinitionResponse,
        )


class VersionResource(_VersionEndpoints, SyncAPIResource):
    """``client.use_cases.definitions.version``."""


class AsyncVersionResource(_VersionEndpoints, AsyncAPIResource):
    """``client.use_cases.definitions.version``."""


class _LimitConfigEndpoints(Endpoints):
    """The endpoints of ``LimitConfigResource`` and ``AsyncLimitConfigResource``, defined once."""

    @endpoint
    def create(
        self,
        use_case_name: str,
        *,
        max: float,
        limit_type: Literal["block", "allow"] | Omit = omit,
        properties: dict[str, str | None] | None | Omit = omit,
        threshold: float | None | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> UseCaseDefinitionResponse:
        """Set (overwrite) the limit configuration. Example: ``limit_config.create("bot", max=5.0)``."""
        return self._post(
            path_template(
                "/api/v1/use_cases/definitions/{use_case_name}/limit_config", use_case_name=use_case_name
            ),
            body={"max": max, "limit_type": limit_type, "properties": properties, "threshold": threshold},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=UseCaseDefinitionResponse,
        )

    @endpoint
    def delete(
        self,
        use_case_name: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> UseCaseDefinitionResponse:
        """Remove the limit configuration. Example: ``limit_config.delete("bot")``."""
        return self._delete(
            path_template(
                "/api/v1/use_cases/definitions/{use_case_name}/limit_config", use_case_name=use_case_name
            ),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=UseCaseDefinitionResponse,
        )


class LimitConfigResource(_LimitConfigEndpoints, SyncAPIResource):
    """``client.use_cases.definitions.limit_config``: the limit every new instance gets."""


class AsyncLimitConfigResource(_LimitConfigEndpoints, AsyncAPIResource):
    """``client.use_cases.definitions.limit_config``: the limit every new instance gets."""


class _DefinitionsEndpoints(Endpoints):
    """The endpoints of ``DefinitionsResource`` and ``AsyncDefinitionsResource``, defined once."""

    kpis = subresource(
        DefinitionKpisResource,
        AsyncDefinitionKpisResource,
        "KPIs of a definition.",
    )

    limit_config = subresource(
        LimitConfigResource,
        AsyncLimitConfigResource,
        "The limit configuration of a definition.",
    )

    version = subresource(
        VersionResource,
        AsyncVersionResource,
        "The version of a definition.",
    )

    @endpoint
    def create(
        self,
        *,
        description: str,
        name: str,
        limit_config: PayICommonModelsBudgetManagementCreateLimitBase | Omit = omit,
        logging_enabled: bool | None | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> UseCaseDefinitionResponse:
        """Create a definition. Example: ``definitions.create(name="bot", description="Answers tickets")``."""
        return self._post(
            "/api/v1/use_cases/definitions",
            body={
                "description": description,
                "name": name,
                "limit_config": limit_config,
                "logging_enabled": logging_enabled,
            },
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=UseCaseDefinitionResponse,
        )

    @endpoint
    def retrieve(
        self,
        use_case_name: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> UseCaseDefinitionResponse:
        """Get a definition. Example: ``definitions.retrieve("bot").description``."""
        return self._get(
            path_template("/api/v1/use_cases/definitions/{use_case_name}", use_case_name=use_case_name),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=UseCaseDefinitionResponse,
        )

    @endpoint
    def update(
        self,
        use_case_name: str,
        *,
        description: str | None | Omit = omit,
        logging_enabled: bool | None | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> UseCaseDefinitionResponse:
        """Change a definition. Example: ``definitions.update("bot", logging_enabled=False)``."""
        return self._put(
            path_template("/api/v1/use_cases/definitions/{use_case_name}", use_case_name=use_case_name),
            body={"description": description, "logging_enabled": logging_enabled},
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=UseCaseDefinitionResponse,
        )

    @paged
    def list(
        self,
        *,
        cursor: str | Omit = omit,
        limit: int | Omit = omit,
        sort_ascending: bool | Omit = omit,
        use_case_name: str | Omit = omit,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> SyncCursorPage[UseCaseDefinitionResponse]:
        """List definitions. Example: ``[d.name for d in client.use_cases.definitions.list()]``."""
        return self._get_api_list(
            "/api/v1/use_cases/definitions",
            page=SyncCursorPage[UseCaseDefinitionResponse],
            options=make_request_options(
                query={
                    "cursor": cursor,
                    "limit": limit,
                    "sort_ascending": sort_ascending,
                    "use_case_name": use_case_name,
                },
                extra_headers=extra_headers,
                extra_query=extra_query,
                extra_body=extra_body,
                timeout=timeout,
            ),
            model=UseCaseDefinitionResponse,
        )

    @endpoint
    def delete(
        self,
        use_case_name: str,
        *,
        extra_headers: Headers | None = None,
        extra_query: Query | None = None,
        extra_body: Body | None = None,
        timeout: float | httpx2.Timeout | None | NotGiven = not_given,
    ) -> UseCaseDefinitionResponse:
        """Delete a definition. Example: ``client.use_cases.definitions.delete("bot")``."""
        return self._delete(
            path_template("/api/v1/use_cases/definitions/{use_case_name}", use_case_name=use_case_name),
            options=make_request_options(
                extra_headers=extra_headers, extra_query=extra_query, extra_body=extra_body, timeout=timeout
            ),
            cast_to=UseCaseDefinitionResponse,
        )


class DefinitionsResource(_DefinitionsEndpoints, SyncAPIResource):
    """Use-case definitions. Example: ``client.use_cases.definitions.retrieve("support-bot")``."""


class AsyncDefinitionsResource(_DefinitionsEndpoints, AsyncAPIResource):
    """Use-case definitions. Example: ``await client.use_cases.definitions.retrieve("support-bot")``."""

