"""An ``httpx2`` transport that sends with ``aiohttp``: what ``DefaultAioHttpClient`` uses (``aiohttp`` optional).

httpx2 keeps doing everything above the wire (URLs, headers, redirects, decoding the body); aiohttp opens the
connections and moves the bytes. aiohttp's own decompression is off, so a compressed body is decoded once, by
httpx2. aiohttp's errors become httpx2's (timeouts, connect and read errors), which the client retries as usual.

Example:
    >>> import payi
    >>> # async with payi.AsyncPayi(http_client=payi.DefaultAioHttpClient()) as client: ...
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx2

__all__ = ["AioHttpTransport"]

try:
    import aiohttp
except ImportError:  # pragma: no cover - depends on the environment
    aiohttp = None  # type: ignore[assignment]


def _timeout(request: httpx2.Request) -> Any:
    """aiohttp's timeout for the request's httpx2 timeout (connect, and read between bytes)."""
    timeout = request.extensions.get("timeout") or {}
    return aiohttp.ClientTimeout(total=None, sock_connect=timeout.get("connect"), sock_read=timeout.get("read"))


class _Body(httpx2.AsyncByteStream):
    """The response body, read from aiohttp as the caller reads it; closing releases the connection."""

    def __init__(self, response: Any, request: httpx2.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(64 * 1024):
                yield chunk
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx2.ReadTimeout(str(exc) or "read timed out", request=self._request) from exc
        except aiohttp.ClientError as exc:
            raise httpx2.ReadError(str(exc), request=self._request) from exc

    async def aclose(self) -> None:
        self._response.release()


class AioHttpTransport(httpx2.AsyncBaseTransport):
    """Sends httpx2 requests with one ``aiohttp.ClientSession`` (made on first use, closed with the client).

    Example:
        >>> import httpx2
        >>> # httpx2.AsyncClient(transport=AioHttpTransport())
    """

    def __init__(self, **session_options: Any) -> None:
        if aiohttp is None:
            raise RuntimeError(
                "To use the aiohttp client you must install aiohttp (`pip install aiohttp`); "
                "or use payi.DefaultAsyncHttpxClient()."
            )
        self._options = session_options
        self._session: Any = None

    def _open(self) -> Any:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(auto_decompress=False, **self._options)
        return self._session

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        timeout = _timeout(request)
        body = await request.aread()
        try:
            response = await self._open().request(
                request.method,
                str(request.url),
                headers=list(request.headers.multi_items()),
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
                skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
            )
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx2.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx2.ReadTimeout(str(exc) or "timed out", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx2.ConnectError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx2.NetworkError(str(exc), request=request) from exc
        version = response.version
        http_version = f"HTTP/{version.major}.{version.minor}" if version else "HTTP/1.1"
        return httpx2.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            request=request,
            extensions={"http_version": http_version.encode()},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
