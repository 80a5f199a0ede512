"""The sync and async twins that only send, and ``Payi`` / ``AsyncPayi`` with one attribute per REST resource.

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

import asyncio
import itertools
import logging
import time
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import httpx2

from ._base_client import (
    BaseClient,
    DefaultAsyncHttpxClient,
    DefaultHttpxClient,
    FinalRequestOptions,
)
from ._resource import ResponseForms, subresource
from ._response import AsyncAPIResponse
from ._types import RequestOptions, Timeout, not_given
from .pagination import AsyncCursorPage, AsyncPaginator, SyncCursorPage
from .resources.admin import AdminResource, AsyncAdminResource
from .resources.categories import AsyncCategoriesResource, CategoriesResource
from .resources.ingest import AsyncIngestResource, IngestResource
from .resources.limits import AsyncLimitsResource, LimitsResource
from .resources.requests import AsyncRequestsResource, RequestsResource
from .resources.use_cases import AsyncUseCasesResource, UseCasesResource

__all__ = ["AsyncAPIClient", "AsyncClient", "AsyncPayi", "Client", "Payi", "SyncAPIClient"]

log = logging.getLogger("payi")

_T = TypeVar("_T")
_SyncPageT = TypeVar("_SyncPageT", bound=SyncCursorPage[Any])
_AsyncPageT = TypeVar("_AsyncPageT", bound=AsyncCursorPage[Any])


class SyncAPIClient(BaseClient[httpx2.Client], ResponseForms):
    """The synchronous twin: sends with an ``httpx2.Client`` and sleeps between retries."""

    @classmethod
    def _http_client_class(cls) -> type[httpx2.Client]:
        return httpx2.Client

    @classmethod
    def _default_http_client(cls, base_url: httpx2.URL, timeout: float | Timeout | None) -> httpx2.Client:
        return DefaultHttpxClient(base_url=base_url, timeout=timeout)

    def is_closed(self) -> bool:
        return self._client.is_closed

    def close(self) -> None:
        """Close the connection pool (shared with copies made by ``with_options``)."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def _send(self, options: FinalRequestOptions, *, stream: bool = False) -> tuple[httpx2.Response, int]:
        """The first successful response (unread when ``stream``) and how many retries it took."""
        for retries_taken in itertools.count():
            request = self._build_request(options, retries_taken=retries_taken)
            log.debug("Sending HTTP Request: %s %s", request.method, request.url)
            try:
                response = self._client.send(
                    request, stream=stream, follow_redirects=self._follow_redirects(options)
                )
            except self._transport_errors() as exc:
                self._sleep(self._retry_delay_or_raise(request, options, retries_taken, error=exc))
                continue
            if response.is_success:
                return response, retries_taken
            response.read()  # the error's body; also releases a streamed response's connection
            self._sleep(self._retry_delay_or_raise(request, options, retries_taken, response=response))
        raise AssertionError("unreachable")

    def request(self, cast_to: type[_T], options: FinalRequestOptions) -> _T:
        """Send ``options`` (with retries); parse the response as ``cast_to`` or hand out the raw response."""
        mode, options = options.split_response_mode()
        response, retries_taken = self._send(options, stream=mode == "stream")
        return cast(_T, self._finish(response, retries_taken, mode, cast_to))

    def _request_page(self, page: type[_SyncPageT], model: Any, options: FinalRequestOptions) -> _SyncPageT:
        mode, options = options.split_response_mode()
        response, retries_taken = self._send(options, stream=mode == "stream")
        parser = self._page_parser(page, model, options)
        return cast(_SyncPageT, self._finish(response, retries_taken, mode, page, parser))

    def get(self, path: str, *, cast_to: type[_T], options: RequestOptions | None = None) -> _T:
        """Low-level GET. Example: ``client.get("/api/v1/limits", cast_to=object)``."""
        return self.request(cast_to, FinalRequestOptions.build("get", path, options=options))

    def post(
        self,
        path: str,
        *,
        cast_to: type[_T],
        body: object = not_given,
        content: object = None,
        options: RequestOptions | None = None,
    ) -> _T:
        """Low-level POST (``content``: a binary body). Example: ``client.post("/x", body={}, cast_to=object)``."""
        return self.request(
            cast_to, FinalRequestOptions.build("post", path, body=body, content=content, options=options)
        )

    def put(
        self,
        path: str,
        *,
        cast_to: type[_T],
        body: object = not_given,
        content: object = None,
        options: RequestOptions | None = None,
    ) -> _T:
        """Low-level PUT."""
        return self.request(
            cast_to, FinalRequestOptions.build("put", path, body=body, content=content, options=options)
        )

    def patch(
        self,
        path: str,
        *,
        cast_to: type[_T],
        body: object = not_given,
        content: object = None,
        options: RequestOptions | None = None,
    ) -> _T:
        """Low-level PATCH."""
        return self.request(
            cast_to, FinalRequestOptions.build("patch", path, body=body, content=content, options=options)
        )

    def delete(
        self,
        path: str,
        *,
        cast_to: type[_T],
        body: object = not_given,
        content: object = None,
        options: RequestOptions | None = None,
    ) -> _T:
        """Low-level DELETE."""
        return self.request(
            cast_to, FinalRequestOptions.build("delete", path, body=body, content=content, options=options)
        )

    def get_api_list(
        self,
        path: str,
        *,
        model: type[_T],
        page: type[_SyncPageT],
        body: object = not_given,
        options: RequestOptions | None = None,
        method: str = "get",
    ) -> _SyncPageT:
        """Low-level list call returning the first page; iterate it to walk every page."""
        return self._request_page(
            page, model, FinalRequestOptions.build(method, path, body=body, options=options)
        )


class AsyncAPIClient(BaseClient[httpx2.AsyncClient], ResponseForms):
    """The asynchronous twin: sends with an ``httpx2.AsyncClient`` and sleeps between retries."""

    _api_response_class = AsyncAPIResponse

    @classmethod
    def _http_client_class(cls) -> type[httpx2.AsyncClient]:
        return httpx2.AsyncClient

    @classmethod
    def _default_http_client(
        cls, base_url: httpx2.URL, timeout: float | Timeout | None
    ) -> httpx2.AsyncClient:
        return DefaultAsyncHttpxClient(base_url=base_url, timeout=timeout)

    def is_closed(self) -> bool:
        return self._client.is_closed

    async def close(self) -> None:
        """Close the connection pool (shared with copies made by ``with_options``)."""
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _send(
        self, options: FinalRequestOptions, *, stream: bool = False
    ) -> tuple[httpx2.Response, int]:
        """The first successful response (unread when ``stream``) and how many retries it took."""
        for retries_taken in itertools.count():
            request = self._build_request(options, retries_taken=retries_taken)
            log.debug("Sending HTTP Request: %s %s", request.method, request.url)
            try:
                response = await self._client.send(
                    request, stream=stream, follow_redirects=self._follow_redirects(options)
                )
            except self._transport_errors() as exc:
                await self._sleep(self._retry_delay_or_raise(request, options, retries_taken, error=exc))
                continue
            if response.is_success:
                return response, retries_taken
            await response.aread()  # the error's body; also releases a streamed response's connection
            await self._sleep(self._retry_delay_or_raise(request, options, retries_taken, response=response))
        raise AssertionError("unreachable")

    async def request(self, cast_to: type[_T], options: FinalRequestOptions) -> _T:
        """Send ``options`` (with retries); parse the response as ``cast_to`` or hand out the raw response."""
        mode, options = options.split_response_mode()
        response, retries_taken = await self._send(options, stream=mode == "stream")
        return cast(_T, self._finish(response, retries_taken, mode, cast_to))

    async def _request_page(
        self, page: type[_AsyncPageT], model: Any, options: FinalRequestOptions
    ) -> _AsyncPageT:
        mode, options = options.split_response_mode()
        response, retries_taken = await self._send(options, stream=mode == "stream")
        parser = self._page_parser(page, model, options)
        return cast(_AsyncPageT, self._finish(response, retries_taken, mode, page, parser))

    async def get(self, path: str, *, cast_to: type[_T], options: RequestOptions | None = None) -> _T:
        """Low-level GET. Example: ``await client.get("/api/v1/limits", cast_to=object)``."""
        return await self.request(cast_to, FinalRequestOptions.build("get", path, options=options))

    async def post(
        self,
        path: str,
        *,
        cast_to: type[_T],
        body: object = not_given,
        content: object = None,
        options: RequestOptions | None = None,
    ) -> _T:
        """Low-level POST (``content``: a binary body)."""
        return await self.request(
            cast_to, FinalRequestOptions.build("post", path, body=body, content=content, options=options)
        )

    async def put(
        self,
        path: str,
        *,
        cast_to: type[_T],
        body: object = not_given,
        content: object = None,
        options: RequestOptions | None = None,
    ) -> _T:
        """Low-level PUT."""
        return await self.request(
            cast_to, FinalRequestOptions.build("put", path, body=body, content=content, options=options)
        )

    async def patch(
        self,
        path: str,
        *,
        cast_to: type[_T],
        body: object = not_given,
        content: object = None,
        options: RequestOptions | None = None,
    ) -> _T:
        """Low-level PATCH."""
        return await self.request(
            cast_to, FinalRequestOptions.build("patch", path, body=body, content=content, options=options)
        )

    async def delete(
        self,
        path: str,
        *,
        cast_to: type[_T],
        body: object = not_given,
        content: object = None,
        options: RequestOptions | None = None,
    ) -> _T:
        """Low-level DELETE."""
        return await self.request(
            cast_to, FinalRequestOptions.build("delete", path, body=body, content=content, options=options)
        )

    def get_api_list(
        self,
        path: str,
        *,
        model: type[_T],
        page: type[AsyncCursorPage[_T]],
        body: object = not_given,
        options: RequestOptions | None = None,
        method: str = "get",
    ) -> AsyncPaginator[_T, AsyncCursorPage[_T]]:
        """Low-level list call: await it for the first page, or ``async for`` over every item."""
        return AsyncPaginator(
            self, FinalRequestOptions.build(method, path, body=body, options=options), page, model
        )


class _Resources:
    """The REST resources of both clients, defined once (sync on ``Payi``, async on ``AsyncPayi``)."""

    limits = subresource(
        LimitsResource,
        AsyncLimitsResource,
        "Spending limits. Example: ``client.limits.list()``.",
    )

    ingest = subresource(
        IngestResource,
        AsyncIngestResource,
        "Usage ingestion. Example: ``client.ingest.units(category=..., units=...)``.",
    )

    categories = subresource(
        CategoriesResource,
        AsyncCategoriesResource,
        "The price catalog. Example: ``client.categories.list()``.",
    )

    use_cases = subresource(
        UseCasesResource,
        AsyncUseCasesResource,
        'Use cases, their definitions and KPIs. Example: ``client.use_cases.create("bot")``.',
    )

    requests = subresource(
        RequestsResource,
        AsyncRequestsResource,
        'Earlier requests. Example: ``client.requests.request_id.result.retrieve("42")``.',
    )

    admin = subresource(
        AdminResource,
        AsyncAdminResource,
        "Administration with an organisation key. Example: ``client.admin.applications.list()``.",
    )


class Payi(_Resources, SyncAPIClient):
    """The synchronous Pay-i client.

    Arguments (all keyword-only): ``api_key``, ``base_url``, ``timeout`` (default 60 s, 5 s to connect),
    ``max_retries`` (default 2), ``default_headers``, ``default_query``, ``http_client`` (an ``httpx2.Client`` or ``httpx.Client``,
    e.g. with a ``MockTransport`` in tests) and ``_strict_response_validation`` (raise
    ``APIResponseValidationError`` when a response lacks a required field).

    Example:
        >>> from payi import Payi
        >>> with Payi(api_key="my-key") as client:
        ...     pass  # client.ingest.units(category="system.openai", resource="gpt-4o", units={...})
    """


class AsyncPayi(_Resources, AsyncAPIClient):
    """The asynchronous Pay-i client; the same arguments as :class:`Payi` with an ``httpx2.AsyncClient``.

    Example:
        >>> from payi import AsyncPayi
        >>> async def main() -> None:
        ...     async with AsyncPayi(api_key="my-key") as client:
        ...         pass  # await client.ingest.units(category="system.openai", units={...})
    """


Client = Payi
"""Alias of :class:`Payi`. Example: ``from payi import Client; Client(api_key="k")``."""

AsyncClient = AsyncPayi
"""Alias of :class:`AsyncPayi`. Example: ``from payi import AsyncClient; AsyncClient(api_key="k")``."""
