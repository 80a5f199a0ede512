"""Provider streams as the caller sees them: every chunk is shown to the ``Call`` on its way to the caller.

The call is finished (and its event handed to the sender) when the stream is exhausted, closed, its ``with``
block exits, it raises, or it is garbage-collected half-read; finishing is idempotent.

Example:
    >>> # StreamProxy(openai_stream, call) behaves like openai_stream (attributes, ``with``, ``close()``)
"""

from __future__ import annotations

import weakref
from typing import Any

import wrapt

from ._invoke import Call

__all__ = ["AsyncStreamProxy", "StreamProxy"]


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
