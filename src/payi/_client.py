"""``Payi`` and ``AsyncPayi``: the clients users construct, with one attribute per REST resource.

Configuration comes from the arguments, else from the environment: ``PAYI_API_KEY`` (required),
``PAYI_BASE_URL`` (default ``https://api.pay-i.com``) and ``PAYI_CUSTOM_HEADERS`` (``Name: value`` lines; explicit
``default_headers`` win).

Example:
    >>> from payi import Payi
    >>> client = Payi(api_key="my-key", base_url="http://localhost:8080")
    >>> str(client.base_url)
    'http://localhost:8080/'
"""

from __future__ import annotations

from functools import cached_property

from ._base_client import AsyncAPIClient, SyncAPIClient
from .resources.admin import AdminResource, AsyncAdminResource
from .resources.categories import AsyncCategoriesResource, CategoriesResource
from .resources.ingest import AsyncIngestResource, IngestResource
from .resources.limits import AsyncLimitsResource, LimitsResource
from .resources.requests import AsyncRequestsResource, RequestsResource
from .resources.use_cases import AsyncUseCasesResource, UseCasesResource

__all__ = ["AsyncClient", "AsyncPayi", "Client", "Payi"]


class Payi(SyncAPIClient):
    """The synchronous Pay-i client.

    Arguments (all keyword-only): ``api_key``, ``base_url``, ``timeout`` (default 60 s, 5 s to connect),
    ``max_retries`` (default 2), ``default_headers``, ``default_query``, ``http_client`` (an ``httpx2.Client``,
    e.g. with a ``MockTransport`` in tests) and ``_strict_response_validation`` (raise
    ``APIResponseValidationError`` when a response lacks a required field).

    Example:
        >>> from payi import Payi
        >>> with Payi(api_key="my-key") as client:
        ...     pass  # client.ingest.units(category="system.openai", resource="gpt-4o", units={...})
    """

    @cached_property
    def limits(self) -> LimitsResource:
        """Spending limits. Example: ``client.limits.list()``."""
        return LimitsResource(self)

    @cached_property
    def ingest(self) -> IngestResource:
        """Usage ingestion. Example: ``client.ingest.units(category=..., units=...)``."""
        return IngestResource(self)

    @cached_property
    def categories(self) -> CategoriesResource:
        """The price catalog. Example: ``client.categories.list()``."""
        return CategoriesResource(self)

    @cached_property
    def use_cases(self) -> UseCasesResource:
        """Use cases, their definitions and KPIs. Example: ``client.use_cases.create("bot")``."""
        return UseCasesResource(self)

    @cached_property
    def requests(self) -> RequestsResource:
        """Earlier requests. Example: ``client.requests.request_id.result.retrieve("42")``."""
        return RequestsResource(self)

    @cached_property
    def admin(self) -> AdminResource:
        """Administration with an organisation key. Example: ``client.admin.applications.list()``."""
        return AdminResource(self)


class AsyncPayi(AsyncAPIClient):
    """The asynchronous Pay-i client; the same arguments as :class:`Payi` with an ``httpx2.AsyncClient``.

    Example:
        >>> from payi import AsyncPayi
        >>> async def main() -> None:
        ...     async with AsyncPayi(api_key="my-key") as client:
        ...         pass  # await client.ingest.units(category="system.openai", units={...})
    """

    @cached_property
    def limits(self) -> AsyncLimitsResource:
        """Spending limits. Example: ``await client.limits.retrieve("lim_1")``."""
        return AsyncLimitsResource(self)

    @cached_property
    def ingest(self) -> AsyncIngestResource:
        """Usage ingestion. Example: ``await client.ingest.units(category=..., units=...)``."""
        return AsyncIngestResource(self)

    @cached_property
    def categories(self) -> AsyncCategoriesResource:
        """The price catalog. Example: ``async for c in client.categories.list(): ...``."""
        return AsyncCategoriesResource(self)

    @cached_property
    def use_cases(self) -> AsyncUseCasesResource:
        """Use cases, their definitions and KPIs. Example: ``await client.use_cases.create("bot")``."""
        return AsyncUseCasesResource(self)

    @cached_property
    def requests(self) -> AsyncRequestsResource:
        """Earlier requests. Example: ``await client.requests.request_id.result.retrieve("42")``."""
        return AsyncRequestsResource(self)

    @cached_property
    def admin(self) -> AsyncAdminResource:
        """Administration with an organisation key. Example: ``async for app in client.admin.applications.list()``."""
        return AsyncAdminResource(self)


Client = Payi
"""Alias of :class:`Payi`. Example: ``from payi import Client; Client(api_key="k")``."""

AsyncClient = AsyncPayi
"""Alias of :class:`AsyncPayi`. Example: ``from payi import AsyncClient; AsyncClient(api_key="k")``."""
