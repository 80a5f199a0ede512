"""Raw and streamed responses: ``.with_raw_response`` and ``.with_streaming_response`` of every resource.

A raw response is returned after the body is read; ``parse()`` turns it into what the plain call returns. A
streamed response is returned before the body is read, inside a context manager that closes it.

Example:
    >>> import httpx2, payi
    >>> transport = httpx2.MockTransport(
    ...     lambda request: httpx2.Response(200, json={"request_id": "1"}, headers={"x-trace": "t"}))
    >>> client = payi.Payi(api_key="k", http_client=httpx2.Client(transport=transport))
    >>> raw = client.limits.with_raw_response.delete("lim_1")
    >>> raw.headers["x-trace"], raw.parse().request_id, raw.retries_taken
    ('t', '1', 0)
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar, cast, overload

import httpx2

from ._exceptions import PayiError

__all__ = [
    "APIResponse",
    "AsyncAPIResponse",
    "AsyncResponseContextManager",
    "BaseAPIResponse",
    "ResponseContextManager",
    "StreamAlreadyConsumed",
]

R = TypeVar("R")
_T = TypeVar("_T")
_ResponseT = TypeVar("_ResponseT", bound="APIResponse[Any]")
_AsyncResponseT = TypeVar("_AsyncResponseT", bound="AsyncAPIResponse[Any]")

Parser = Callable[[Any, Any], Any]
"""``(http_response, cast_to) -> parsed``: the client's own parsing of a response it sent."""


class StreamAlreadyConsumed(PayiError):
    """The body of a streamed response was iterated already, so it cannot be read or parsed again.

    Example:
        >>> str(StreamAlreadyConsumed()).startswith("Attempted to read or stream")
        True
    """

    def __init__(self) -> None:
        super().__init__(
            "Attempted to read or stream content, but the content has already been streamed. Read the body "
            "once: either parse()/read() it or iterate it, not both."
        )


class BaseAPIResponse(Generic[R]):
    """What both raw-response flavours share: the HTTP response, its metadata and cached parsing."""

    http_response: Any
    """The HTTP library's response (``httpx2.Response``, or ``httpx.Response`` with an ``httpx`` client)."""

    retries_taken: int
    """How many retries were made before this response (0 when the first attempt answered)."""

    def __init__(self, *, raw: Any, cast_to: Any, parser: Parser, retries_taken: int = 0) -> None:
        self.http_response = raw
        self.retries_taken = retries_taken
        self._cast_to = cast_to
        self._parser = parser
        self._parsed: dict[Any, Any] = {}

    @property
    def headers(self) -> httpx2.Headers:
        return cast(httpx2.Headers, self.http_response.headers)

    @property
    def http_request(self) -> httpx2.Request:
        return cast(httpx2.Request, self.http_response.request)

    @property
    def status_code(self) -> int:
        return cast(int, self.http_response.status_code)

    @property
    def url(self) -> httpx2.URL:
        return cast(httpx2.URL, self.http_response.url)

    @property
    def method(self) -> str:
        return str(self.http_request.method)

    @property
    def http_version(self) -> str:
        return cast(str, self.http_response.http_version)

    @property
    def elapsed(self) -> datetime.timedelta:
        """Time from sending the request to reading the whole body (known once the body is read)."""
        return cast(datetime.timedelta, self.http_response.elapsed)

    @property
    def is_closed(self) -> bool:
        """Whether the body was read completely or the response was closed."""
        return bool(getattr(self.http_response, "is_closed", False))

    def __repr__(self) -> str:
        status = f"{self.status_code} {self.http_response.reason_phrase}"
        return f"<{type(self).__name__} [{status}] type={self._cast_to}>"

    def _parse_read(self, to: Any) -> Any:
        key = self._cast_to if to is None else to
        if key not in self._parsed:
            self._parsed[key] = self._parser(self.http_response, key)
        return self._parsed[key]

    @staticmethod
    def _consumed(exc: Exception) -> bool:
        return type(exc).__name__ == "StreamConsumed"


class APIResponse(BaseAPIResponse[R]):
    """The raw response of a synchronous call: headers and body, with ``parse()`` for the usual result.

    Example:
        >>> # raw = client.limits.with_raw_response.retrieve("lim_1")
        >>> # raw.status_code, raw.headers.get("x-request-id"), raw.parse().limit.limit_name
    """

    @overload
    def parse(self, *, to: type[_T]) -> _T: ...
    @overload
    def parse(self) -> R: ...
    def parse(self, *, to: type[_T] | None = None) -> R | _T:
        """The body as the call's usual return type, or as ``to`` (a model, ``dict``, ``str``, ``httpx2.Response``...)."""
        self.read()
        return cast("R | _T", self._parse_read(to))

    def read(self) -> bytes:
        """The whole body (read once, then kept)."""
        try:
            return cast(bytes, self.http_response.read())
        except Exception as exc:
            if self._consumed(exc):
                raise StreamAlreadyConsumed() from exc
            raise

    def text(self) -> str:
        self.read()
        return cast(str, self.http_response.text)

    def json(self) -> object:
        self.read()
        return self.http_response.json()

    def close(self) -> None:
        """Release the connection (done for you when the body is read to the end or the context exits)."""
        self.http_response.close()

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """The decoded body, chunk by chunk."""
        yield from self.http_response.iter_bytes(chunk_size)

    def iter_text(self, chunk_size: int | None = None) -> Iterator[str]:
        yield from self.http_response.iter_text(chunk_size)

    def iter_lines(self) -> Iterator[str]:
        yield from self.http_response.iter_lines()


class AsyncAPIResponse(BaseAPIResponse[R]):
    """The raw response of an asynchronous call; the same methods as :class:`APIResponse`, awaited.

    Example:
        >>> # raw = await client.limits.with_raw_response.retrieve("lim_1")
        >>> # (await raw.parse()).limit.limit_name
    """

    @overload
    async def parse(self, *, to: type[_T]) -> _T: ...
    @overload
    async def parse(self) -> R: ...
    async def parse(self, *, to: type[_T] | None = None) -> R | _T:
        """The body as the call's usual return type, or as ``to``."""
        await self.read()
        return cast("R | _T", self._parse_read(to))

    async def read(self) -> bytes:
        try:
            return cast(bytes, await self.http_response.aread())
        except Exception as exc:
            if self._consumed(exc):
                raise StreamAlreadyConsumed() from exc
            raise

    async def text(self) -> str:
        await self.read()
        return cast(str, self.http_response.text)

    async def json(self) -> object:
        await self.read()
        return self.http_response.json()

    async def close(self) -> None:
        await self.http_response.aclose()

    async def iter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        async for chunk in self.http_response.aiter_bytes(chunk_size):
            yield chunk

    async def iter_text(self, chunk_size: int | None = None) -> AsyncIterator[str]:
        async for chunk in self.http_response.aiter_text(chunk_size):
            yield chunk

    async def iter_lines(self) -> AsyncIterator[str]:
        async for line in self.http_response.aiter_lines():
            yield line


class ResponseContextManager(Generic[_ResponseT]):
    """Sends the request on ``with`` and always closes the response on exit.

    Example:
        >>> # with client.limits.with_streaming_response.list() as response:
        >>> #     for line in response.iter_lines(): ...
    """

    def __init__(self, request: Callable[[], _ResponseT]) -> None:
        self._request = request
        self._response: _ResponseT | None = None

    def __enter__(self) -> _ResponseT:
        self._response = self._request()
        return self._response

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._response is not None:
            self._response.close()


class AsyncResponseContextManager(Generic[_AsyncResponseT]):
    """The asynchronous :class:`ResponseContextManager` (``async with``)."""

    def __init__(self, request: Awaitable[_AsyncResponseT]) -> None:
        self._request = request
        self._response: _AsyncResponseT | None = None

    async def __aenter__(self) -> _AsyncResponseT:
        self._response = await self._request
        return self._response

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._response is not None:
            await self._response.close()
