"""Every error the SDK raises, in one module.

Hierarchy::

    PayiError                          configuration problems (no API key, ...); base of everything below
    └── APIError                       anything about one request; .message, .request, .body
        ├── APIConnectionError         the request never got a response (DNS, refused, reset, ...)
        │   └── APITimeoutError        ... because it timed out
        ├── APIResponseValidationError a 2xx response did not match the expected type (strict mode)
        └── APIStatusError             a 4xx/5xx response; .status_code, .response, .body
            ├── BadRequestError            400
            ├── AuthenticationError        401
            ├── PermissionDeniedError      403
            ├── NotFoundError              404
            ├── ConflictError              409
            ├── UnprocessableEntityError   422
            ├── RateLimitError             429
            └── InternalServerError        >= 500

Errors from httpx2 are converted in one place, :func:`from_transport_error`, and chained (``raise ... from exc``).

Example:
    >>> import httpx2, payi
    >>> transport = httpx2.MockTransport(lambda request: httpx2.Response(404, json={"statusCode": 404}))
    >>> client = payi.Payi(api_key="k", http_client=httpx2.Client(transport=transport))
    >>> try:
    ...     client.limits.retrieve("missing")
    ... except payi.NotFoundError as exc:
    ...     print(exc.status_code, exc.body)
    404 {'statusCode': 404}
"""

from __future__ import annotations

import json
from typing import Literal

import httpx2

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "PayiError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnprocessableEntityError",
    "from_transport_error",
    "make_status_error",
]


class PayiError(Exception):
    """Base class of every error raised by this SDK.

    Example:
        >>> from payi import Payi, PayiError
        >>> try:
        ...     Payi(api_key=None, base_url="http://x")  # with PAYI_API_KEY unset
        ... except PayiError:
        ...     pass
    """


class APIError(PayiError):
    """An error about one request: ``message``, ``request`` and the decoded response ``body`` (or ``None``).

    Example:
        >>> # except payi.APIError as exc: print(exc.message, exc.body)
    """

    message: str
    request: httpx2.Request
    body: object | None

    def __init__(self, message: str, request: httpx2.Request, *, body: object | None) -> None:
        super().__init__(message)
        self.message = message
        self.request = request
        self.body = body


class APIResponseValidationError(APIError):
    """The server answered 2xx, but the body did not match the expected type (raised in strict mode).

    Example:
        >>> # Payi(_strict_response_validation=True).limits.retrieve("id")  -> raises if "limit" is missing
    """

    response: httpx2.Response
    status_code: int

    def __init__(self, response: httpx2.Response, body: object | None, *, message: str | None = None) -> None:
        super().__init__(
            message or "Data returned by API invalid for expected schema.", response.request, body=body
        )
        self.response = response
        self.status_code = response.status_code


class APIStatusError(APIError):
    """The server answered 4xx or 5xx; ``body`` is the decoded JSON when it parses, otherwise the text.

    Example:
        >>> # except payi.APIStatusError as exc: print(exc.status_code, exc.body["xproxy_error"]["code"])
    """

    response: httpx2.Response
    status_code: int

    def __init__(self, message: str, *, response: httpx2.Response, body: object | None) -> None:
        super().__init__(message, response.request, body=body)
        self.response = response
        self.status_code = response.status_code


class APIConnectionError(APIError):
    """No response arrived (connection refused, reset, DNS failure, ...).

    Example:
        >>> # except payi.APIConnectionError: retry later
    """

    def __init__(self, *, message: str = "Connection error.", request: httpx2.Request) -> None:
        super().__init__(message, request, body=None)


class APITimeoutError(APIConnectionError):
    """The request timed out.

    Example:
        >>> # Payi(timeout=0.001).limits.list()  -> raises APITimeoutError after the retries
    """

    def __init__(self, request: httpx2.Request) -> None:
        super().__init__(message="Request timed out.", request=request)


class BadRequestError(APIStatusError):
    """HTTP 400, e.g. a blocked request (``body["xproxy_error"]["code"] == "limit_reached"``).

    Example:
        >>> # except payi.BadRequestError as exc: ...
    """

    status_code: Literal[400] = 400  # type: ignore[assignment]


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key is invalid, missing or expired.

    Example:
        >>> # except payi.AuthenticationError: ask for a new key
    """

    status_code: Literal[401] = 401  # type: ignore[assignment]


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the key may not call this route (an application key on an admin route, say).

    Example:
        >>> # except payi.PermissionDeniedError: ...
    """

    status_code: Literal[403] = 403  # type: ignore[assignment]


class NotFoundError(APIStatusError):
    """HTTP 404.

    Example:
        >>> # except payi.NotFoundError: the limit does not exist
    """

    status_code: Literal[404] = 404  # type: ignore[assignment]


class ConflictError(APIStatusError):
    """HTTP 409 (retried automatically before it is raised).

    Example:
        >>> # except payi.ConflictError: ...
    """

    status_code: Literal[409] = 409  # type: ignore[assignment]


class UnprocessableEntityError(APIStatusError):
    """HTTP 422: the request body failed validation.

    Example:
        >>> # except payi.UnprocessableEntityError as exc: print(exc.body)
    """

    status_code: Literal[422] = 422  # type: ignore[assignment]


class RateLimitError(APIStatusError):
    """HTTP 429 (retried automatically before it is raised).

    Example:
        >>> # except payi.RateLimitError: back off
    """

    status_code: Literal[429] = 429  # type: ignore[assignment]


class InternalServerError(APIStatusError):
    """HTTP 500 or above (retried automatically before it is raised).

    Example:
        >>> # except payi.InternalServerError: ...
    """


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def make_status_error(response: httpx2.Response) -> APIStatusError:
    """The :class:`APIStatusError` subclass for a (read) 4xx/5xx response, with its body decoded."""
    text = response.text.strip()
    body: object = text
    try:
        body = json.loads(text)
        message = f"Error code: {response.status_code} - {body}"
    except ValueError:
        message = text or f"Error code: {response.status_code}"
    if response.status_code >= 500:
        error_class: type[APIStatusError] = InternalServerError
    else:
        error_class = _STATUS_ERRORS.get(response.status_code, APIStatusError)
    return error_class(message, response=response, body=body)


def from_transport_error(exc: BaseException, request: httpx2.Request) -> APIConnectionError:
    """The one place where httpx2's request errors become ours; the caller raises it ``from exc``."""
    if any(cls.__name__ == "TimeoutException" for cls in type(exc).__mro__):  # httpx2's or httpx's
        return APITimeoutError(request=request)
    return APIConnectionError(request=request)
