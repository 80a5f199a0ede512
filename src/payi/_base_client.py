"""The client base that does no I/O, the request options, and the default httpx2 clients.

``BaseClient`` reads the configuration, builds every request (URL, headers, query, body), decides whether and
when to retry, and turns responses into typed objects or errors. The twins in ``_client.py`` only send.

Example:
    >>> import httpx2, payi
    >>> transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json={"request_id": "1"}))
    >>> client = payi.Payi(api_key="k", http_client=httpx2.Client(transport=transport))
    >>> client.limits.delete("lim_1").request_id
    '1'
"""

from __future__ import annotations

import email.utils
import functools
import logging
import os
import platform
import random
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Self, TypeVar, cast

import httpx2
import pydantic

from ._constants import (
    DEFAULT_BASE_URL,
    DEFAULT_CONNECTION_LIMITS,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    INITIAL_RETRY_DELAY,
    MAX_RETRY_AFTER,
    MAX_RETRY_DELAY,
    RAW_RESPONSE_HEADER,
)
from ._exceptions import APIResponseValidationError, PayiError, from_transport_error, make_status_error
from ._logs import setup_logging
from ._models import construct_type, validate_type
from ._response import APIResponse, AsyncAPIResponse
from ._types import Headers, NotGiven, Omit, Query, RequestOptions, Timeout, not_given
from ._utils import encode_json, is_given, parse_custom_headers, query_items, strip_omitted
from ._version import __version__

__all__ = [
    "BaseClient",
    "DefaultAioHttpClient",
    "DefaultAsyncHttpxClient",
    "DefaultHttpxClient",
    "FinalRequestOptions",
    "make_request_options",
]

log = logging.getLogger("payi")

_T = TypeVar("_T")
_HttpClientT = TypeVar("_HttpClientT", httpx2.Client, httpx2.AsyncClient)

def _timeout_tuple(timeout: Any) -> tuple[object, ...]:
    return tuple(getattr(timeout, part, timeout) for part in ("connect", "read", "write", "pool"))


_HTTPX_DEFAULT_TIMEOUT_TUPLE = _timeout_tuple(httpx2.Timeout(5.0))
"""What an ``httpx2.Client`` (or ``httpx.Client``) gets when made without a timeout: then ours applies."""


def _is_http_response_class(cast_to: object) -> bool:
    """``httpx2.Response``, ``httpx.Response`` or a subclass: return the response itself, unparsed."""
    return isinstance(cast_to, type) and any(
        cls.__name__ == "Response" and cls.__module__.split(".")[0] in ("httpx2", "httpx")
        for cls in cast_to.__mro__
    )


class DefaultHttpxClient(httpx2.Client):
    """An ``httpx2.Client`` with the SDK's defaults (timeout, pool limits, redirects), for customising.

    Example:
        >>> import payi
        >>> client = payi.Payi(api_key="k", http_client=payi.DefaultHttpxClient(proxy="http://proxy:3128"))
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        kwargs.setdefault("limits", DEFAULT_CONNECTION_LIMITS)
        kwargs.setdefault("follow_redirects", True)
        super().__init__(**kwargs)


class DefaultAsyncHttpxClient(httpx2.AsyncClient):
    """An ``httpx2.AsyncClient`` with the SDK's defaults (timeout, pool limits, redirects), for customising.

    Example:
        >>> import payi
        >>> client = payi.AsyncPayi(api_key="k", http_client=payi.DefaultAsyncHttpxClient(http2=False))
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        kwargs.setdefault("limits", DEFAULT_CONNECTION_LIMITS)
        kwargs.setdefault("follow_redirects", True)
        super().__init__(**kwargs)


class DefaultAioHttpClient(httpx2.AsyncClient):
    """An ``httpx2.AsyncClient`` with the SDK's defaults that sends with ``aiohttp`` (which must be installed;
    without it, ``RuntimeError``, as the official SDK without its ``aiohttp`` extra).

    Example:
        >>> import payi
        >>> # async with payi.AsyncPayi(http_client=payi.DefaultAioHttpClient()) as client: ...
    """

    def __init__(self, **kwargs: Any) -> None:
        from ._aiohttp import AioHttpTransport

        kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        kwargs.setdefault("limits", DEFAULT_CONNECTION_LIMITS)
        kwargs.setdefault("follow_redirects", True)
        kwargs.setdefault("transport", AioHttpTransport())
        super().__init__(**kwargs)


@dataclass(frozen=True)
class FinalRequestOptions:
    """Everything needed to (re)build one request; immutable, so every retry starts from the same options."""

    method: str
    url: str
    params: Mapping[str, object] = field(default_factory=dict)
    headers: Headers = field(default_factory=dict)
    json_data: object = not_given
    content: object = None
    """A binary body (``bytes``, a file or an iterable of ``bytes``), sent as is instead of ``json_data``."""
    extra_json: Mapping[str, object] | None = None
    timeout: float | Timeout | None | NotGiven = not_given
    max_retries: int | NotGiven = not_given
    follow_redirects: bool | None = None

    @classmethod
    def build(
        cls,
        method: str,
        url: str,
        *,
        body: object = not_given,
        content: object = None,
        options: RequestOptions | None = None,
    ) -> FinalRequestOptions:
        opts: RequestOptions = options or {}
        if isinstance(body, (bytes, bytearray)):
            warnings.warn(
                "Passing raw bytes as `body` is deprecated; pass them as `content`", DeprecationWarning, 3
            )
            body, content = not_given, body
        if content is not None and is_given(body) and body is not None:
            raise TypeError("Passing both `body` and `content` is not supported")
        return cls(
            method=method,
            url=url,
            params=opts.get("params", {}),
            headers=opts.get("headers", {}),
            json_data=body,
            content=content,
            extra_json=opts.get("extra_json"),
            timeout=opts.get("timeout", not_given),
            max_retries=opts.get("max_retries", not_given),
            follow_redirects=opts.get("follow_redirects"),
        )

    def with_params(self, **params: object) -> FinalRequestOptions:
        """The same request with some query parameters added or replaced (used for the next page)."""
        return replace(self, params={**self.params, **params})

    def split_response_mode(self) -> tuple[str | None, FinalRequestOptions]:
        """The raw-response mode asked for (``raw``, ``stream`` or ``None``) and the options without it."""
        key = RAW_RESPONSE_HEADER.lower()
        modes = [value for name, value in self.headers.items() if name.lower() == key]
        if not modes:
            return None, self
        headers = {name: value for name, value in self.headers.items() if name.lower() != key}
        mode = modes[-1]
        return (mode if isinstance(mode, str) else None), replace(self, headers=headers)


def make_request_options(
    *,
    query: Query | None = None,
    extra_headers: Headers | None = None,
    extra_query: Query | None = None,
    extra_body: object | None = None,
    timeout: float | Timeout | None | NotGiven = not_given,
) -> RequestOptions:
    """Fold a resource method's ``extra_*`` and ``timeout`` arguments into :class:`payi.RequestOptions`."""
    options: RequestOptions = {}
    if extra_headers is not None:
        options["headers"] = extra_headers
    if extra_body is not None:
        options["extra_json"] = cast("Mapping[str, object]", extra_body)
    if query is not None or extra_query is not None:
        options["params"] = {**(query or {}), **(extra_query or {})}
    if not isinstance(timeout, NotGiven):
        options["timeout"] = timeout
    return options


@functools.cache
def platform_headers() -> dict[str, str]:
    """What the official SDK tells the server about the caller: language, SDK version, OS, CPU, Python.

    Example:
        >>> platform_headers()["X-Stainless-Lang"]
        'python'
    """
    system = platform.system()
    os_name = {"Darwin": "MacOS", "Linux": "Linux", "Windows": "Windows", "FreeBSD": "FreeBSD"}.get(system)
    machine = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64", "i386": "x32", "i686": "x32"}
    return {
        "X-Stainless-Lang": "python",
        "X-Stainless-Package-Version": __version__,
        "X-Stainless-OS": os_name or (f"Other:{system.lower()}" if system else "Unknown"),
        "X-Stainless-Arch": arch.get(machine, f"other:{machine}" if machine else "unknown"),
        "X-Stainless-Runtime": platform.python_implementation(),
        "X-Stainless-Runtime-Version": platform.python_version(),
    }


def _merge_headers(*layers: Headers) -> dict[str, str]:
    """Merge header mappings case-insensitively; later layers win and an ``omit`` value removes the header."""
    merged: dict[str, tuple[str, str]] = {}
    for layer in layers:
        for name, value in layer.items():
            if isinstance(value, (Omit, NotGiven)):
                merged.pop(name.lower(), None)
            else:
                merged[name.lower()] = (name, value)
    return dict(merged.values())


def _merge_body(body: object, extra: Mapping[str, object] | None) -> object:
    if not extra:
        return body
    if not is_given(body) or body is None:
        return dict(extra)
    if isinstance(body, Mapping):
        return {**body, **extra}
    raise TypeError(f"Cannot merge `extra_body` into a request body of type {type(body).__name__}")


def _parse_retry_after(headers: httpx2.Headers) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), if present."""
    try:
        return float(headers.get("retry-after-ms", "")) / 1000
    except ValueError:
        pass
    retry_after = headers.get("retry-after")
    if retry_after is None:
        return None
    try:
        return float(retry_after)
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(retry_after)
    if parsed is None:
        return None
    return float(email.utils.mktime_tz(parsed) - time.time())


class BaseClient(Generic[_HttpClientT]):
    """Configuration, request building, retry decisions and response parsing; no I/O."""

    api_key: str
    max_retries: int
    timeout: float | Timeout | None
    _client: _HttpClientT
    _api_response_class: type[APIResponse[Any]] | type[AsyncAPIResponse[Any]] = APIResponse

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | httpx2.URL | None = None,
        timeout: float | Timeout | None | NotGiven = not_given,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, object] | None = None,
        http_client: _HttpClientT | None = None,
        _strict_response_validation: bool = False,
    ) -> None:
        setup_logging()
        if api_key is None:
            api_key = os.environ.get("PAYI_API_KEY") or None
        if not api_key:
            raise PayiError(
                "The api_key client option must be set either by passing api_key to the client "
                "or by setting the PAYI_API_KEY environment variable"
            )
        if base_url is None:
            base_url = os.environ.get("PAYI_BASE_URL") or DEFAULT_BASE_URL
        if max_retries is None:  # type: ignore[comparison-overlap]
            raise TypeError("max_retries cannot be None; pass 0 to disable retries")
        if http_client is not None and not isinstance(http_client, self._http_client_classes()):
            raise TypeError(
                f"Invalid `http_client` argument; expected an instance of `{self._http_client_class().__name__}` "
                f"(from httpx2 or httpx) but got {type(http_client)}"
            )
        if isinstance(timeout, NotGiven):
            custom = (
                http_client is not None and _timeout_tuple(http_client.timeout) != _HTTPX_DEFAULT_TIMEOUT_TUPLE
            )
            timeout = http_client.timeout if http_client is not None and custom else DEFAULT_TIMEOUT

        self.api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self._custom_headers: dict[str, str] = {
            **parse_custom_headers(os.environ.get("PAYI_CUSTOM_HEADERS", "")),
            **(default_headers or {}),
        }
        self._custom_query: dict[str, object] = dict(default_query or {})
        self._strict_response_validation = _strict_response_validation
        self._client = http_client or self._default_http_client(self.base_url, timeout)

    # -- configuration ----------------------------------------------------------------------------------

    @classmethod
    def _http_client_class(cls) -> type[_HttpClientT]:
        raise NotImplementedError

    @classmethod
    def _http_client_classes(cls) -> tuple[type, ...]:
        """httpx2's client class, and httpx's same-named one when httpx is imported (the user made the client)."""
        classes: list[type] = [cls._http_client_class()]
        httpx = sys.modules.get("httpx")
        if httpx is not None:
            classes.append(getattr(httpx, cls._http_client_class().__name__))
        return tuple(classes)

    def _transport_errors(self) -> tuple[type[Exception], ...]:
        """The request errors of the HTTP library in use (httpx2's, or httpx's for an httpx client)."""
        library = sys.modules.get(type(self._client).__module__.split(".")[0])
        error = getattr(library, "RequestError", None)
        return (httpx2.RequestError, error) if isinstance(error, type) else (httpx2.RequestError,)

    @classmethod
    def _default_http_client(cls, base_url: httpx2.URL, timeout: float | Timeout | None) -> _HttpClientT:
        raise NotImplementedError

    @property
    def base_url(self) -> httpx2.URL:
        """The API root, always with a trailing ``/``."""
        return self._base_url

    @base_url.setter
    def base_url(self, url: str | httpx2.URL) -> None:
        url = httpx2.URL(url)
        raw_path = url.raw_path if url.raw_path.endswith(b"/") else url.raw_path + b"/"
        self._base_url = url.copy_with(raw_path=raw_path)  # also renders "https://host" as "https://host/"

    @property
    def user_agent(self) -> str:
        return f"{type(self).__name__}/Python {__version__}"

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"xProxy-api-key": self.api_key}

    @property
    def default_headers(self) -> dict[str, str]:
        """Headers sent with every request; ``default_headers`` and ``PAYI_CUSTOM_HEADERS`` come last."""
        return {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
            **platform_headers(),
            **self.auth_headers,
            **self._custom_headers,
        }

    @property
    def default_query(self) -> dict[str, object]:
        return dict(self._custom_query)

    def copy(
        self,
        *,
        api_key: str | None = None,
        base_url: str | httpx2.URL | None = None,
        timeout: float | Timeout | None | NotGiven = not_given,
        http_client: _HttpClientT | None = None,
        max_retries: int | NotGiven = not_given,
        default_headers: Mapping[str, str] | None = None,
        set_default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, object] | None = None,
        set_default_query: Mapping[str, object] | None = None,
        _extra_kwargs: Mapping[str, Any] | None = None,
    ) -> Self:
        """A new client with the same options (and the same connection pool) except those given.

        ``default_headers`` / ``default_query`` are merged into the current ones; ``set_default_headers`` /
        ``set_default_query`` replace them.

        Example:
            >>> import payi
            >>> client = payi.Payi(api_key="k")
            >>> client.with_options(max_retries=0, timeout=5).max_retries
            0
        """
        if default_headers is not None and set_default_headers is not None:
            raise ValueError(
                "The `default_headers` and `set_default_headers` arguments are mutually exclusive"
            )
        if default_query is not None and set_default_query is not None:
            raise ValueError("The `default_query` and `set_default_query` arguments are mutually exclusive")
        headers = self._custom_headers
        if default_headers is not None:
            headers = {**headers, **default_headers}
        elif set_default_headers is not None:
            headers = dict(set_default_headers)
        query = self._custom_query
        if default_query is not None:
            query = {**query, **default_query}
        elif set_default_query is not None:
            query = dict(set_default_query)
        kwargs: dict[str, Any] = {"_strict_response_validation": self._strict_response_validation}
        kwargs.update(_extra_kwargs or {})
        return type(self)(
            api_key=api_key or self.api_key,
            base_url=base_url or self.base_url,
            timeout=self.timeout if isinstance(timeout, NotGiven) else timeout,
            http_client=http_client or self._client,
            max_retries=max_retries if isinstance(max_retries, int) else self.max_retries,
            default_headers=headers,
            default_query=query,
            **kwargs,
        )

    with_options = copy

    # -- building requests --------------------------------------------------------------------------------

    def _prepare_url(self, url: str) -> httpx2.URL:
        merge_url = httpx2.URL(url)
        if merge_url.is_relative_url:
            return self.base_url.copy_with(raw_path=self.base_url.raw_path + merge_url.raw_path.lstrip(b"/"))
        return merge_url

    def _build_request(self, options: FinalRequestOptions, *, retries_taken: int = 0) -> httpx2.Request:
        timeout = self.timeout if isinstance(options.timeout, NotGiven) else options.timeout
        read_timeout = timeout.read if isinstance(timeout, httpx2.Timeout) else timeout
        attempt = {"x-stainless-retry-count": str(retries_taken)}  # the caller's own value (or omit) wins
        if read_timeout is not None:
            attempt["x-stainless-read-timeout"] = str(read_timeout)
        headers = _merge_headers(self.default_headers, attempt, self._custom_headers, options.headers)
        content: Any = options.content
        if content is not None:
            if options.extra_json:
                raise TypeError("Cannot merge `extra_body` into a binary `content` body")
        elif options.method.lower() == "get":
            headers = {name: value for name, value in headers.items() if name.lower() != "content-type"}
        else:
            body = _merge_body(options.json_data, options.extra_json)
            if is_given(body) and body is not None:
                content = encode_json(strip_omitted(body))
        url: Any = self._prepare_url(options.url)
        return self._client.build_request(
            options.method.upper(),
            url if self._native_client() else str(url),
            headers=headers,
            params=tuple(query_items({**self._custom_query, **options.params})),
            content=content,
            timeout=self._library_timeout(timeout),
        )

    def _native_client(self) -> bool:
        """Whether the HTTP client is httpx2's (else the user's own ``httpx`` client)."""
        return isinstance(self._client, (httpx2.Client, httpx2.AsyncClient))

    def _library_timeout(self, timeout: float | Timeout | None) -> Any:
        """``timeout`` as the HTTP library in use takes it (an httpx client wants httpx's ``Timeout``)."""
        if not isinstance(timeout, httpx2.Timeout) or self._native_client():
            return timeout
        library = sys.modules[type(self._client).__module__.split(".")[0]]
        return library.Timeout(
            connect=timeout.connect, read=timeout.read, write=timeout.write, pool=timeout.pool
        )

    def _follow_redirects(self, options: FinalRequestOptions) -> bool:
        if options.follow_redirects is not None:
            return options.follow_redirects
        return self._client.follow_redirects

    # -- retries --------------------------------------------------------------------------------------------

    def _max_retries(self, options: FinalRequestOptions) -> int:
        return options.max_retries if isinstance(options.max_retries, int) else self.max_retries

    def _should_retry(self, response: httpx2.Response) -> bool:
        """``x-should-retry`` wins; otherwise retry 408, 409, 429 and 5xx."""
        header = response.headers.get("x-should-retry")
        if header == "true":
            return True
        if header == "false":
            return False
        status = response.status_code
        return status in (408, 409, 429) or status >= 500

    def _retry_delay(self, retries_taken: int, headers: httpx2.Headers | None) -> float:
        """Seconds before the next attempt: the server's ``retry-after`` if 0-60 s, else capped jittered backoff."""
        retry_after = _parse_retry_after(headers) if headers is not None else None
        if retry_after is not None and 0 < retry_after <= MAX_RETRY_AFTER:
            return retry_after
        backoff = min(INITIAL_RETRY_DELAY * 2.0 ** min(retries_taken, 1000), MAX_RETRY_DELAY)
        return max(backoff * (1 - 0.25 * random.random()), 0.0)

    def _retry_delay_or_raise(
        self,
        request: httpx2.Request,
        options: FinalRequestOptions,
        retries_taken: int,
        *,
        response: httpx2.Response | None = None,
        error: BaseException | None = None,
    ) -> float:
        """After a failed attempt: the seconds to wait before retrying, or raise the final error."""
        can_retry = retries_taken < self._max_retries(options)
        if error is not None:
            if not can_retry:
                raise from_transport_error(error, request) from error
            delay = self._retry_delay(retries_taken, None)
            log.info(
                "Retrying request to %s after %s in %.3f seconds", request.url, type(error).__name__, delay
            )
            return delay
        assert response is not None
        if not (can_retry and self._should_retry(response)):
            raise make_status_error(response)
        delay = self._retry_delay(retries_taken, response.headers)
        log.info(
            "Retrying request to %s after HTTP %d in %.3f seconds", request.url, response.status_code, delay
        )
        return delay

    # -- responses ------------------------------------------------------------------------------------------

    def _validate(self, type_: Any, data: object, response: httpx2.Response) -> Any:
        if not self._strict_response_validation:
            return construct_type(type_, data)
        try:
            return validate_type(type_, data)
        except pydantic.ValidationError as exc:
            raise APIResponseValidationError(response, body=data) from exc

    def _read_json(self, response: httpx2.Response) -> object:
        content_type = response.headers.get("content-type", "*").split(";")[0].strip()
        try:
            return response.json()
        except ValueError as exc:
            if content_type.endswith("json") or self._strict_response_validation:
                message = (
                    "Response body is not valid JSON."
                    if content_type.endswith("json")
                    else f"Expected Content-Type response header to be `application/json` but received "
                    f"`{content_type}` instead."
                )
                raise APIResponseValidationError(response, body=response.text, message=message) from exc
            return response.text

    def _process_response(self, response: httpx2.Response, cast_to: Any) -> Any:
        log.debug(
            'HTTP Response: %s %s "%i"', response.request.method, response.request.url, response.status_code
        )
        if cast_to is None or cast_to is type(None):
            return None
        if _is_http_response_class(cast_to):
            return response
        data = self._read_json(response)
        if isinstance(data, str) and not self._strict_response_validation:
            return data
        return self._validate(cast_to, data, response)

    def _finish(
        self,
        response: httpx2.Response,
        retries_taken: int,
        mode: str | None,
        cast_to: Any,
        parser: Callable[[Any, Any], Any] | None = None,
    ) -> Any:
        """The parsed response, or with a raw-response ``mode`` the (sync or async) raw response around it."""
        parse = parser or self._process_response
        if mode is None:
            return parse(response, cast_to)
        return self._api_response_class(
            raw=response, cast_to=cast_to, parser=parse, retries_taken=retries_taken
        )

    def _page_parser(
        self, page: type[_T], model: Any, options: FinalRequestOptions
    ) -> Callable[[Any, Any], Any]:
        """Parses a response as ``page`` (with what it needs to fetch the next one), or as another ``cast_to``."""

        def parse(response: httpx2.Response, cast_to: Any) -> Any:
            if cast_to is page:
                return self._make_page(page, model, options, response)
            return self._process_response(response, cast_to)

        return parse

    def _make_page(
        self, page: type[_T], model: Any, options: FinalRequestOptions, response: httpx2.Response
    ) -> _T:
        data = self._read_json(response)
        build = cast(Any, page)._build
        return cast(
            _T,
            build(
                data,
                parse=lambda type_, value: self._validate(type_, value, response),
                model=model,
                client=self,
                options=options,
            ),
        )
