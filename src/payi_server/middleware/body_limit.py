"""Reject request bodies over the configured size with 413 before they are read into memory, and requests
carrying bytes no valid HTTP request has, with 400, before any route sees them. A path starting with ``//`` is
read as starting with ``/`` (see ``collapse_leading_slashes``).

HTTP servers in front (uvicorn's parsers) refuse most of these already; the app must not rely on that (it may be
served by other servers or called in-process), and the proxy would otherwise hand them to the HTTP client that
calls the provider, which raises on them (a 500) or, worse, forwards them:

- a header name that is not an HTTP token, or a header value holding CR, LF or NUL (header splitting and
  smuggling through ``xProxy-Forward-*`` and the other ``xProxy-*`` values);
- a NUL byte, raw or escaped (``%00``), in the query string (no filter value may hold one, and PostgreSQL
  cannot compare with one; path segments are the routes' to judge: an id holding one is simply not found);
- a ``Content-Length`` that is not a non-negative integer.

Headers are capped too (431): at most ``MAX_HEADERS`` of them and ``MAX_HEADER_BYTES`` in all. uvicorn's
httptools parser has no limit of its own, so a megabyte-long ``xProxy-*`` value would otherwise be read,
parsed and (for ``xProxy-Forward-*``) sent upstream.
"""

from __future__ import annotations

import re
from operator import itemgetter

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..error_codes import message
from ..errors import ApiError, api_error


async def send_error(send: Send, error: ApiError) -> None:
    """Answer with the Pay-i error body straight from ASGI middleware (outside the route's handlers)."""
    body = orjson.dumps(error.body())
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


MAX_HEADERS = 256
MAX_HEADER_BYTES = 64 * 1024
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
# Every name, joined by ":" (never in a token), is tokens separated by single colons; every value, joined by a
# tab (allowed in values), holds no NUL, CR or LF. Two regex runs per request instead of two per header.
_NAMES = re.compile(_TOKEN + rb"(?::" + _TOKEN + rb")*")
_BAD_VALUE = re.compile(rb"[\x00\r\n]")


_NAME = itemgetter(0)
_VALUE = itemgetter(1)


def _header_fault(headers: list[tuple[bytes, bytes]]) -> str | None:
    """Why the headers are refused (``"too_large"``, ``"invalid"``), or ``None``. Every request comes here: the
    names and the values are joined once each, with no Python frame per header."""
    if len(headers) > MAX_HEADERS:
        return "too_large"
    if not headers:
        return None
    names = b":".join(map(_NAME, headers))
    values = b"\t".join(map(_VALUE, headers))
    if len(names) + len(values) - 2 * (len(headers) - 1) > MAX_HEADER_BYTES:  # the separators do not count
        return "too_large"
    if names.count(b":") != len(headers) - 1 or not _NAMES.fullmatch(names):  # a name holding ":" is no token
        return "invalid"
    return "invalid" if _BAD_VALUE.search(values) else None


def collapse_leading_slashes(scope: Scope) -> Scope:
    """``//api/v1/...`` as ``/api/v1/...``: a client that joins a base URL ending in ``/`` with ``/api/...`` (the
    official SDK's proxy URL helpers do, for ``PAYI_BASE_URL=https://host/``) reaches the same routes."""
    path: str = scope["path"]
    if not path.startswith("//"):
        return scope
    raw: bytes | None = scope.get("raw_path")
    return {**scope, "path": "/" + path.lstrip("/"), "raw_path": b"/" + raw.lstrip(b"/") if raw else raw}


def _bad_query(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    return b"%00" in query or b"\x00" in query


class BodyTooLarge(ApiError, HTTPException):  # type: ignore[misc]
    # Also an HTTPException, so that FastAPI's body reader lets it through unchanged.
    def __init__(self, limit: int) -> None:
        ApiError.__init__(self, 413, "request_too_large", message("request_too_large", limit=limit))
        self.status_code = 413
        self.detail = self.message


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int, proxy_max_bytes: int, proxy_prefix: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.proxy_max_bytes = proxy_max_bytes
        self.proxy_prefix = proxy_prefix

    def refusal(self, scope: Scope) -> tuple[int, ApiError | None]:
        """The body limit that applies to ``scope``, and the error it is refused with before anything is read."""
        limit = self.proxy_max_bytes if scope["path"].startswith(self.proxy_prefix) else self.max_bytes
        headers = scope["headers"]
        fault = _header_fault(headers)
        if fault == "too_large":
            return limit, api_error(
                "request_header_fields_too_large",
                max_headers=MAX_HEADERS,
                max_header_bytes=MAX_HEADER_BYTES,
            )
        if fault is not None:
            return limit, api_error("invalid_header")
        if _bad_query(scope):
            return limit, api_error("invalid_request", "nul_query")
        for name, value in headers:
            if name == b"content-length":
                if not value.isdigit():
                    return limit, api_error("invalid_content_length")
                if int(value) > limit:
                    return limit, BodyTooLarge(limit)
                break
        return limit, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = collapse_leading_slashes(scope)
        limit, error = self.refusal(scope)
        if error is not None:
            await send_error(send, error)
            return
        await self.app(scope, limited(receive, limit), send)


def limited(receive: Receive, limit: int) -> Receive:
    """``receive``, raising :class:`BodyTooLarge` once the body read so far is over ``limit`` bytes."""
    received = 0

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
        return message

    return limited_receive


async def read_body(receive: Receive) -> bytes:
    """The whole request body, as Starlette's ``Request.body()`` reads it (``ClientDisconnect`` if the client
    leaves first) without its async generator: a body that comes in one message, as nearly all do, is returned
    as it came."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            body: bytes = message.get("body", b"")
            if not message.get("more_body", False):
                if not chunks:
                    return body
                chunks.append(body)
                return b"".join(chunks)
            chunks.append(body)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()
