"""Provider streams as the caller sees them: every chunk is shown to the ``Call`` on its way to the caller.

The call is finished (and its event handed to the sender) when the stream is exhausted, closed, its ``with``
block exits, it raises, or it is garbage-collected half-read; finishing is idempotent.

Example:
    >>> # StreamProxy(openai_stream, call) behaves like openai_stream (attributes, ``with``, ``close()``)
"""

from __future__ import annotations

import inspect
import json
import weakref
from typing import Any

import wrapt

from ._invoke import Call

__all__ = ["AsyncStreamProxy", "StreamProxy", "is_raw_response", "observe_raw"]


def _abandon(call: Call) -> None:
    call.finish()


class StreamProxy(wrapt.ObjectProxy[Any]):  # type: ignore[misc]
    """A provider stream as the caller sees it: every chunk passes through ``Call.on_chunk``.

    The call is finished (and its event sent) when the stream is exhausted, closed, its ``with`` block exits,
    it raises, or it is garbage-collected half-read.
    """

    def __init__(self, stream: Any, call: Call) -> None:
        super().__init__(stream)
        self._self_call = call
        self._self_iter: Any = None
        weakref.finalize(self, _abandon, call).atexit = False

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        if self._self_iter is None:
            self._self_iter = iter(self.__wrapped__)
        call = self._self_call
        while True:
            try:
                chunk = next(self._self_iter)
            except StopIteration:
                call.finish()
                raise
            except Exception as exc:
                call.finish(exc)
                raise
            if call.on_chunk(chunk):
                return chunk

    def __enter__(self) -> StreamProxy:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        self._self_call.finish()
        exit_ = getattr(self.__wrapped__, "__exit__", None)
        return exit_(*exc_info) if exit_ is not None else None

    def close(self) -> Any:
        self._self_call.finish()
        return self.__wrapped__.close()


class AsyncStreamProxy(wrapt.ObjectProxy[Any]):  # type: ignore[misc]
    """``StreamProxy`` for async iterators (``async for``, ``async with``, ``await close()``)."""

    def __init__(self, stream: Any, call: Call) -> None:
        super().__init__(stream)
        self._self_call = call
        self._self_iter: Any = None
        weakref.finalize(self, _abandon, call).atexit = False

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        if self._self_iter is None:
            self._self_iter = self.__wrapped__.__aiter__()
        call = self._self_call
        while True:
            try:
                chunk = await self._self_iter.__anext__()
            except StopAsyncIteration:
                call.finish()
                raise
            except Exception as exc:
                call.finish(exc)
                raise
            if call.on_chunk(chunk):
                return chunk

    async def __aenter__(self) -> AsyncStreamProxy:
        enter = getattr(self.__wrapped__, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        self._self_call.finish()
        exit_ = getattr(self.__wrapped__, "__aexit__", None)
        return (await exit_(*exc_info)) if exit_ is not None else None

    async def close(self) -> Any:
        self._self_call.finish()
        return await self.__wrapped__.close()


# ------------------------------------------------------------------------------------------- raw responses


def is_raw_response(result: Any) -> bool:
    """What a provider's ``with_raw_response`` / ``with_streaming_response`` method returns (not the parsed result)."""
    return hasattr(result, "http_response") and callable(getattr(result, "parse", None))


class _JsonBody:
    """A read response body, parsed only when the sender builds the event (off the caller's thread)."""

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    def model_dump(self) -> Any:
        return json.loads(self.body)


def _after(original: Any, then: Any) -> Any:
    """``original`` (a method, sync or async) with ``then`` applied to what it returns."""
    if inspect.iscoroutinefunction(original):

        async def run_async(*args: Any, **kwargs: Any) -> Any:
            return then(await original(*args, **kwargs))

        return run_async
    return lambda *args, **kwargs: then(original(*args, **kwargs))


def observe_raw(call: Call, result: Any, stream_types: tuple[type, type]) -> Any:
    """Meter a raw provider response without changing what the caller sees.

    A read body (``with_raw_response`` without streaming) is metered at once. An unread one
    (``with_streaming_response``) is metered when the caller reads or parses it: ``read()`` and ``parse()`` of this
    response object are replaced so that the body read completes the call, and a parsed stream comes back observed
    (every event passes through the call).
    """
    call.response_headers = getattr(result, "headers", call.response_headers)
    if not call.stream:
        try:
            body = result.http_response.content  # raises while the body is unread (with_streaming_response)
        except Exception:  # noqa: BLE001
            body = None
        if isinstance(body, bytes) and body:
            call.complete(_JsonBody(body))
            return result

        def read(data: Any) -> Any:
            if isinstance(data, bytes) and data:
                call.complete(_JsonBody(data))
            return data

        result.read = _after(result.read, read)
    sync_stream, async_stream = stream_types

    def parsed(value: Any) -> Any:
        if isinstance(value, sync_stream):
            return StreamProxy(value, call)
        if isinstance(value, async_stream):
            return AsyncStreamProxy(value, call)
        if hasattr(value, "model_dump"):
            call.complete(value)
        return value

    result.parse = _after(result.parse, parsed)
    return result
