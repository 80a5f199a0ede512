"""Base classes of the resources (each holds its client), the one-definition endpoint tables, and response views.

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
import inspect
from collections.abc import Callable, Coroutine
from functools import cached_property
from typing import TYPE_CHECKING, Any, Concatenate, Generic, Literal, ParamSpec, TypeVar, overload

from ._constants import RAW_RESPONSE_HEADER
from ._response import AsyncResponseContextManager, ResponseContextManager

if TYPE_CHECKING:
    from ._client import AsyncAPIClient, SyncAPIClient
    from ._types import RequestOptions
    from .pagination import AsyncCursorPage, AsyncPaginator, SyncCursorPage

__all__ = [
    "AsyncAPIResource",
    "Endpoints",
    "ResponseForms",
    "ResponseView",
    "SyncAPIResource",
    "endpoint",
    "paged",
    "subresource",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
S = TypeVar("S")
A = TypeVar("A")

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
    """A group of endpoints called through a synchronous client (see ``Endpoints`` for how they are defined)."""

    _client: SyncAPIClient

    def __init__(self, client: SyncAPIClient) -> None:
        self._client = client


class AsyncAPIResource(ResponseForms):
    """A group of endpoints called through an asynchronous client."""

    _client: AsyncAPIClient

    def __init__(self, client: AsyncAPIClient) -> None:
        self._client = client


# --------------------------------------------------------------------------------- one definition, two clients
#
# Each endpoint is written once, as a method of an ``Endpoints`` class whose body calls ``self._get(...)``,
# ``self._post(...)``... with the synchronous client's signatures (so it type-checks as the sync method). The
# ``endpoint`` / ``paged`` decorators run that body with a planner standing in for ``self``: the verb call is
# recorded, not sent, and then sent through the resource's own client, awaited on an async one. The concrete
# classes only pick the I/O: ``class LimitsResource(_Limits, SyncAPIResource)`` and
# ``class AsyncLimitsResource(_Limits, AsyncAPIResource)``.


class _Planned:
    """The request an endpoint body asked for: a client verb and its arguments."""

    __slots__ = ("args", "kwargs", "verb")

    def __init__(self, verb: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.verb, self.args, self.kwargs = verb, args, kwargs


class _Planner:
    """Stands in for the resource while an endpoint body runs: its verbs record the request."""

    def __getattr__(self, name: str) -> Callable[..., _Planned]:
        verb = name.removeprefix("_")
        if verb not in ("get", "post", "put", "patch", "delete", "get_api_list"):
            raise AttributeError(name)
        return lambda *args, **kwargs: _Planned(verb, args, kwargs)


_PLANNER = _Planner()


class Endpoints:
    """The base of an endpoint table: declares, for the type checker, the verbs the bodies call."""

    if TYPE_CHECKING:

        def _get(self, path: str, *, cast_to: type[T], options: RequestOptions | None = None) -> T: ...
        def _post(
            self, path: str, *, cast_to: type[T], body: object = ..., options: RequestOptions | None = None
        ) -> T: ...
        def _put(
            self, path: str, *, cast_to: type[T], body: object = ..., options: RequestOptions | None = None
        ) -> T: ...
        def _patch(
            self, path: str, *, cast_to: type[T], body: object = ..., options: RequestOptions | None = None
        ) -> T: ...
        def _delete(
            self, path: str, *, cast_to: type[T], body: object = ..., options: RequestOptions | None = None
        ) -> T: ...
        def _get_api_list(
            self,
            path: str,
            *,
            model: type[T],
            page: type[SyncCursorPage[T]],
            body: object = ...,
            options: RequestOptions | None = None,
            method: str = "get",
        ) -> SyncCursorPage[T]: ...


def _send(resource: Any, planned: _Planned) -> Any:
    client = resource._client
    kwargs = planned.kwargs
    if planned.verb == "get_api_list" and isinstance(resource, AsyncAPIResource):
        from .pagination import AsyncCursorPage

        page: Any = AsyncCursorPage
        kwargs = {**kwargs, "page": page[kwargs["model"]]}
    return getattr(client, planned.verb)(*planned.args, **kwargs)


class _Endpoint(Generic[P, R]):
    def __init__(self, body: Callable[Concatenate[Any, P], Any]) -> None:
        self._body = body
        self._name = body.__name__
        self.__doc__ = body.__doc__
        signature = inspect.signature(body)
        self._signature = signature.replace(parameters=list(signature.parameters.values())[1:])  # no `self`

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def _bind(self, resource: Any) -> Callable[..., Any]:
        body = self._body

        def plan(args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Planned:
            planned = body(_PLANNER, *args, **kwargs)
            assert isinstance(planned, _Planned), f"{body.__qualname__} must return self._<verb>(...)"
            return planned

        if isinstance(resource, AsyncAPIResource) and not isinstance(self, paged):

            async def call_async(*args: Any, **kwargs: Any) -> Any:
                return await _send(resource, plan(args, kwargs))

            call: Callable[..., Any] = call_async
        else:

            def call_now(*args: Any, **kwargs: Any) -> Any:
                return _send(resource, plan(args, kwargs))

            call = call_now
        bound = functools.wraps(body)(call)
        bound.__signature__ = self._signature  # type: ignore[attr-defined]
        resource.__dict__[self._name] = bound  # bound once per resource
        return bound


class endpoint(_Endpoint[P, R]):
    """An endpoint: the sync method on a sync resource, its coroutine twin on an async one.

    Example:
        >>> class _Things(Endpoints):
        ...     @endpoint
        ...     def retrieve(self, thing_id: str) -> object:
        ...         return self._get(f"/things/{thing_id}", cast_to=object)
    """

    def __init__(self, body: Callable[Concatenate[Any, P], R]) -> None:
        super().__init__(body)

    @overload
    def __get__(self, resource: None, owner: Any) -> endpoint[P, R]: ...
    @overload
    def __get__(self, resource: SyncAPIResource, owner: Any) -> Callable[P, R]: ...
    @overload
    def __get__(self, resource: AsyncAPIResource, owner: Any) -> Callable[P, Coroutine[Any, Any, R]]: ...
    def __get__(self, resource: Any, owner: Any) -> Any:
        return self if resource is None else self._bind(resource)


class paged(_Endpoint[P, T]):
    """A list endpoint: the first page on a sync resource; on an async one, what can be awaited for the first
    page or iterated with ``async for`` over every item (an ``AsyncPaginator``)."""

    def __init__(self, body: Callable[Concatenate[Any, P], SyncCursorPage[T]]) -> None:
        super().__init__(body)

    @overload
    def __get__(self, resource: None, owner: Any) -> paged[P, T]: ...
    @overload
    def __get__(self, resource: SyncAPIResource, owner: Any) -> Callable[P, SyncCursorPage[T]]: ...
    @overload
    def __get__(
        self, resource: AsyncAPIResource, owner: Any
    ) -> Callable[P, AsyncPaginator[T, AsyncCursorPage[T]]]: ...
    def __get__(self, resource: Any, owner: Any) -> Any:
        return self if resource is None else self._bind(resource)


class subresource(Generic[S, A]):
    """A nested resource (``client.limits.properties``): the sync class on a sync parent, the async on an async.

    Example:
        >>> # properties = subresource(LimitPropertiesResource, AsyncLimitPropertiesResource, "Limit properties.")
    """

    def __init__(self, sync: type[S], async_: type[A], doc: str = "") -> None:
        self._classes = (sync, async_)
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, parent: None, owner: Any) -> subresource[S, A]: ...
    @overload
    def __get__(self, parent: SyncAPIResource | SyncAPIClient, owner: Any) -> S: ...
    @overload
    def __get__(self, parent: AsyncAPIResource | AsyncAPIClient, owner: Any) -> A: ...
    def __get__(self, parent: Any, owner: Any) -> Any:
        if parent is None:
            return self
        is_resource = isinstance(parent, (SyncAPIResource, AsyncAPIResource))
        client = parent._client if is_resource else parent
        is_async = isinstance(parent, AsyncAPIResource) or (not is_resource and _is_async_client(parent))
        value = self._classes[1 if is_async else 0](client)  # type: ignore[call-arg]
        parent.__dict__[self._name] = value  # made once per parent
        return value


def _is_async_client(client: Any) -> bool:
    from ._client import AsyncAPIClient

    return isinstance(client, AsyncAPIClient)
