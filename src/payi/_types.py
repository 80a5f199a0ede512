"""Sentinels and type aliases shared by the client, the resources and the types.

``omit`` / ``NOT_GIVEN`` tell a parameter that was not passed apart from one passed as ``None`` (which is sent
as JSON ``null``). Passing ``omit`` as a header value removes a default header.

Example:
    >>> from payi import NOT_GIVEN, omit
    >>> bool(NOT_GIVEN), bool(omit)
    (False, False)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, Protocol, SupportsIndex, TypedDict, TypeVar, overload

import httpx2
from httpx2 import Timeout

__all__ = [
    "NOT_GIVEN",
    "Body",
    "Headers",
    "NoneType",
    "NotGiven",
    "Omit",
    "ProxiesTypes",
    "Query",
    "RequestOptions",
    "SequenceNotStr",
    "Timeout",
    "Transport",
    "not_given",
    "omit",
]


class NotGiven:
    """The type of :data:`NOT_GIVEN`: "this argument was not passed", as opposed to ``None``.

    Example:
        >>> from payi import NOT_GIVEN, NotGiven
        >>> isinstance(NOT_GIVEN, NotGiven)
        True
    """

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


class Omit:
    """The type of :data:`omit`: leave this field out of the request (or remove this default header).

    Example:
        >>> from payi import Payi, omit
        >>> # Payi(api_key="k").limits.list(extra_headers={"User-Agent": omit})  # sends no User-Agent
    """

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "omit"


not_given = NotGiven()
NOT_GIVEN = not_given
omit = Omit()

Transport = httpx2.BaseTransport
"""A synchronous httpx2 transport. Example: ``Payi(http_client=httpx2.Client(transport=my_transport))``."""

ProxiesTypes = str | httpx2.Proxy | dict[str | httpx2.URL, None | str | httpx2.URL | httpx2.Proxy]
"""What httpx2 accepts as a proxy. Example: ``httpx2.Client(proxy="http://proxy:3128")``."""

Headers = Mapping[str, str | Omit]
Query = Mapping[str, object]
Body = object

if TYPE_CHECKING:
    NoneType: type[None]
else:
    NoneType = type(None)
    """``type(None)``: the return type of calls that answer with an empty body."""


class RequestOptions(TypedDict, total=False):
    """Per-request options (the official SDK's ``RequestOptions``).

    Example:
        >>> from payi import RequestOptions
        >>> opts: RequestOptions = {"max_retries": 0, "timeout": 5.0}
    """

    headers: Headers
    max_retries: int
    timeout: float | Timeout | None
    params: Query
    extra_json: Mapping[str, object]
    idempotency_key: str
    follow_redirects: bool


_T_co = TypeVar("_T_co", covariant=True)

if TYPE_CHECKING:

    class SequenceNotStr(Protocol[_T_co]):
        """A sequence that is not a ``str`` (a list or tuple of strings, say)."""

        @overload
        def __getitem__(self, index: SupportsIndex, /) -> _T_co: ...
        @overload
        def __getitem__(self, index: slice, /) -> Sequence[_T_co]: ...
        def __contains__(self, value: object, /) -> bool: ...
        def __len__(self) -> int: ...
        def __iter__(self) -> Iterator[_T_co]: ...
        def __reversed__(self) -> Iterator[_T_co]: ...

else:
    SequenceNotStr = Sequence
