"""Cursor pagination: every Pay-i list endpoint answers ``{"items": [...], "cursor": "..." | null}``.

A list call returns its first page. Iterating the page walks every item of every page: the next page is the
same request with the original query plus ``cursor=<cursor>``; iteration stops when the cursor is empty or a page
has no items.

Example:
    >>> import payi
    >>> client = payi.Payi(api_key="k")
    >>> # for limit in client.limits.list(limit=50):   # fetches page after page as needed
    >>> #     print(limit.limit_name)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

import pydantic

from ._models import BaseModel

if TYPE_CHECKING:
    from ._base_client import FinalRequestOptions
    from ._client import AsyncAPIClient, SyncAPIClient

__all__ = ["AsyncCursorPage", "AsyncPaginator", "PageInfo", "SyncCursorPage"]

_T = TypeVar("_T")
_PageT = TypeVar("_PageT", bound="AsyncCursorPage[Any]")

Parser = Callable[[Any, object], Any]


@dataclass(frozen=True)
class PageInfo:
    """What changes in the request for the next page: here always ``{"cursor": ...}``.

    Example:
        >>> PageInfo(params={"cursor": "abc"}).params
        {'cursor': 'abc'}
    """

    params: dict[str, object] = field(default_factory=dict)


class _Envelope(BaseModel):
    items: list[Any]
    cursor: str | None = None


class _CursorPage(BaseModel, Generic[_T]):
    """A page is a model (``items`` and ``cursor``) that also knows the request that fetched it."""

    items: list[_T]
    cursor: str | None = None

    _options: FinalRequestOptions = pydantic.PrivateAttr()
    _model: Any = pydantic.PrivateAttr()

    def next_page_info(self) -> PageInfo | None:
        """The parameters of the next request, or ``None`` on the last page."""
        return PageInfo(params={"cursor": self.cursor}) if self.cursor else None

    def has_next_page(self) -> bool:
        """True when this page has items and a cursor."""
        return bool(self.items) and self.next_page_info() is not None

    @classmethod
    def _parse(cls, data: object, parse: Parser, model: Any) -> tuple[list[Any], str | None]:
        envelope = parse(_Envelope, data)
        raw_items = getattr(envelope, "items", None)
        items = [parse(model, item) for item in raw_items] if isinstance(raw_items, list) else []
        cursor = getattr(envelope, "cursor", None)
        return items, cursor if isinstance(cursor, str) else None

    def _next_options(self) -> FinalRequestOptions:
        info = self.next_page_info()
        if info is None:
            raise RuntimeError(
                "No next page expected; check `.has_next_page()` before calling `.get_next_page()`."
            )
        return self._options.with_params(**info.params)

    @classmethod
    def _start(cls, data: object, parse: Parser, model: Any, options: FinalRequestOptions) -> Self:
        items, cursor = cls._parse(data, parse, model)
        page = cls.model_construct(items=items, cursor=cursor)
        page._model, page._options = model, options
        return page


class SyncCursorPage(_CursorPage[_T]):
    """One page of a list call; iterate it to get every item of every page.

    Example:
        >>> # page = client.limits.list()
        >>> # page.items, page.cursor, page.has_next_page()
        >>> # all_limits = list(page)
    """

    _client: SyncAPIClient = pydantic.PrivateAttr()

    @classmethod
    def _build(
        cls, data: object, *, parse: Parser, model: Any, client: SyncAPIClient, options: FinalRequestOptions
    ) -> Self:
        page = cls._start(data, parse, model, options)
        page._client = client
        return page

    def get_next_page(self) -> Self:
        """Fetch the next page (check :meth:`has_next_page` first)."""
        return self._client._request_page(type(self), self._model, self._next_options())

    def iter_pages(self) -> Iterator[Self]:
        """This page, then each following page."""
        page = self
        while True:
            yield page
            if not page.has_next_page():
                return
            page = page.get_next_page()

    def __iter__(self) -> Iterator[_T]:  # type: ignore[override]  # a page iterates its items, not its fields
        for page in self.iter_pages():
            yield from page.items


class AsyncCursorPage(_CursorPage[_T]):
    """One page of an async list call; ``async for`` over it to get every item of every page.

    Example:
        >>> # page = await client.limits.list()
        >>> # async for limit in page: ...
    """

    _client: AsyncAPIClient = pydantic.PrivateAttr()

    @classmethod
    def _build(
        cls, data: object, *, parse: Parser, model: Any, client: AsyncAPIClient, options: FinalRequestOptions
    ) -> Self:
        page = cls._start(data, parse, model, options)
        page._client = client
        return page

    async def get_next_page(self) -> Self:
        """Fetch the next page (check :meth:`has_next_page` first)."""
        return await self._client._request_page(type(self), self._model, self._next_options())

    async def iter_pages(self) -> AsyncIterator[Self]:
        """This page, then each following page."""
        page = self
        while True:
            yield page
            if not page.has_next_page():
                return
            page = await page.get_next_page()

    async def __aiter__(self) -> AsyncIterator[_T]:
        async for page in self.iter_pages():
            for item in page.items:
                yield item


class AsyncPaginator(Generic[_T, _PageT]):
    """What an async list call returns: ``await`` it for the first page, or ``async for`` over every item.

    Example:
        >>> # first_page = await client.limits.list()
        >>> # async for limit in client.limits.list(): ...
    """

    def __init__(
        self, client: AsyncAPIClient, options: FinalRequestOptions, page: type[_PageT], model: Any
    ) -> None:
        self._client = client
        self._options = options
        self._page = page
        self._model = model

    def __await__(self) -> Generator[Any, None, _PageT]:
        return self._client._request_page(self._page, self._model, self._options).__await__()

    async def __aiter__(self) -> AsyncIterator[_T]:
        page = await self
        async for item in page:
            yield item
