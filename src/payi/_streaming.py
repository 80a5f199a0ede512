"""Server-sent-event streams (kept for API compatibility; no Pay-i REST endpoint streams today).

Example:
    >>> import httpx2
    >>> from payi import Stream
    >>> body = b'data: {"n": 1}\\n\\ndata: [DONE]\\n\\n'
    >>> response = httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body,
    ...                            request=httpx2.Request("GET", "http://x"))
    >>> list(Stream(response=response))
    [{'n': 1}]
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, TypeVar

import httpx2

__all__ = ["AsyncStream", "Stream"]

_T = TypeVar("_T")


def _identity(value: object) -> Any:
    return value


class Stream(Generic[_T]):
    """Iterate the JSON ``data`` of each event of a ``text/event-stream`` response, up to ``[DONE]``.

    Example:
        >>> # for event in Stream(response=http_response): print(event)
    """

    def __init__(self, *, response: httpx2.Response, parse: Callable[[object], _T] = _identity) -> None:
        self.response = response
        self._parse = parse

    def __iter__(self) -> Iterator[_T]:
        try:
            for event in httpx2.EventSource(self.response):
                if event.data.startswith("[DONE]"):
                    break
                yield self._parse(event.json())
        finally:
            self.response.close()

    def close(self) -> None:
        """Close the underlying response."""
        self.response.close()


class AsyncStream(Generic[_T]):
    """The asynchronous :class:`Stream`.

    Example:
        >>> # async for event in AsyncStream(response=http_response): print(event)
    """

    def __init__(self, *, response: httpx2.Response, parse: Callable[[object], _T] = _identity) -> None:
        self.response = response
        self._parse = parse

    async def __aiter__(self) -> AsyncIterator[_T]:
        try:
            async for event in httpx2.EventSource(self.response):
                if event.data.startswith("[DONE]"):
                    break
                yield self._parse(event.json())
        finally:
            await self.response.aclose()

    async def close(self) -> None:
        """Close the underlying response."""
        await self.response.aclose()
