"""Base classes of the resources (each holds its client and borrows its HTTP verbs) and their response views.

``resource.with_raw_response`` and ``resource.with_streaming_response`` (also on the clients) are one
:class:`ResponseView` each: it offers the resource's methods and sub-resources, every method changed to return
the raw response, or a context manager around the streamed response. Sync and async come from the same view.

Example:
    >>> import payi
    >>> client = payi.Payi(api_key="k")
    >>> client.limits._client is client
    True
    >>> client.with_raw_response.limits.properties.update.__name__
    'update'
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from ._constants import RAW_RESPONSE_HEADER
from ._response import AsyncResponseContextManager, ResponseContextManager

if TYPE_CHECKING:
    from ._client import AsyncAPIClient, SyncAPIClient

__all__ = ["AsyncAPIResource", "ResponseForms", "ResponseView", "SyncAPIResource"]

ResponseMode = Literal["raw", "stream"]


def _with_mode(kwargs: dict[str, Any], mode: ResponseMode) -> dict[str, Any]:
    return {**kwargs, "extra_headers": {**(kwargs.get("extra_headers") or {}), RAW_RESPONSE_HEADER: mode}}


def _wrap(method: Callable[..., Any], mode: ResponseMode, is_async: bool) -> Callable[..., Any]:
    """``method`` changed to return the raw response (``raw``) or a context manager around it (``stream``)."""
    if mode == "stream":

        def streamed(*args: Any, **kwargs: Any) -> Any:
            call = functools.partial(method, *args, **_with_mode(kwargs, mode))
            if is_async:
                return AsyncResponseContextManager(call())  # awaited on `async with`
            return ResponseContextManager(call)  # sent on `with`

        wrapped = streamed
    elif is_async:

        async def raw_async(*args: Any, **kwargs: Any) -> Any:
            return await method(*args, **_with_mode(kwargs, mode))

        wrapped = raw_async
    else:

        def raw(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **_with_mode(kwargs, mode))

        wrapped = raw
    return functools.wraps(method)(wrapped)


class ResponseView:
    """A resource (or client) whose methods return raw (``raw``) or streamed (``stream``) responses.

    Example:
        >>> # raw = client.limits.with_raw_response.retrieve("lim_1"); raw.headers, raw.parse()
        >>> # with client.limits.with_streaming_response.retrieve("lim_1") as response: response.json()
    """

    def __init__(self, target: object, mode: ResponseMode) -> None:
        self._target = target
        self._mode = mode

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self._target, name)
        if isinstance(value, (SyncAPIResource, AsyncAPIResource)):
            view: Any = ResponseView(value, self._mode)
        elif callable(value) and isinstance(self._target, (SyncAPIResource, AsyncAPIResource)):
            view = _wrap(value, self._mode, isinstance(self._target, AsyncAPIResource))
        else:
            raise AttributeError(f"{type(self._target).__name__}.{name} has no {self._mode} response form")
        self.__dict__[name] = view  # computed once per view
        return view

    def __dir__(self) -> list[str]:
        return [name for name in dir(self._target) if not name.startswith("_")]


class ResponseForms:
    """``with_raw_response`` and ``with_streaming_response``, for resources and clients alike."""

    @cached_property
    def with_raw_response(self) -> Any:
        """Every method returns the raw response. Example: ``client.limits.with_raw_response.list().headers``."""
        return ResponseView(self, "raw")

    @cached_property
    def with_streaming_response(self) -> Any:
        """Every method returns a context manager around the unread response.

        Example: ``with client.limits.with_streaming_response.list() as r: r.json()``.
        """
        return ResponseView(self, "stream")


class SyncAPIResource(ResponseForms):
    """A group of endpoints called through a synchronous client."""

    _client: SyncAPIClient

    def __init__(self, client: SyncAPIClient) -> None:
        self._client = client
        self._get = client.get
        self._post = client.post
        self._put = client.put
        self._patch = client.patch
        self._delete = client.delete
        self._get_api_list = client.get_api_list


class AsyncAPIResource(ResponseForms):
    """A group of endpoints called through an asynchronous client."""

    _client: AsyncAPIClient

    def __init__(self, client: AsyncAPIClient) -> None:
        self._client = client
        self._get = client.get
        self._post = client.post
        self._put = client.put
        self._patch = client.patch
        self._delete = client.delete
        self._get_api_list = client.get_api_list
