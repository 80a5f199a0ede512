"""Reject request bodies over the configured size with 413 before they are read into memory."""

from __future__ import annotations

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ApiError


async def send_error(send: Send, error: ApiError) -> None:
    """Answer with the Pay-i error body straight from ASGI middleware (outside the route's handlers)."""
    body = orjson.dumps(error.body())
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(ApiError, HTTPException):  # type: ignore[misc]
    # Also an HTTPException, so that FastAPI's body reader lets it through unchanged.
    def __init__(self, limit: int) -> None:
        ApiError.__init__(self, 413, "request_too_large", f"Request body exceeds the limit of {limit} bytes")
        self.status_code = 413
        self.detail = self.message


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int, proxy_max_bytes: int, proxy_prefix: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.proxy_max_bytes = proxy_max_bytes
        self.proxy_prefix = proxy_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.proxy_max_bytes if scope["path"].startswith(self.proxy_prefix) else self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await send_error(send, ApiError(400, "invalid_content_length", "Content-Length is not a number"))
                    return
                if declared > limit:
                    await send_error(send, BodyTooLarge(limit))
                    return
                break
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)
