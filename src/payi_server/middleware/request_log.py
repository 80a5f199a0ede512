"""Request id and access log, as plain ASGI middleware (no per-request task or body copy).

Each request gets its id in a response header (``x-request-id``; ``xproxy-request-id`` where a proxied provider's
answer has an ``x-request-id`` of its own: see ``stamped``) and one structured log line with method, path (no query
string: it may carry secrets), status, duration and the calling application.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from operator import itemgetter
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..logs import request_id_var
from ..metrics import Metrics, route_group

log = logging.getLogger("payi_server.access")
_STATUS_CLASS = {n: f"{n}xx" for n in range(1, 10)}
_NAME = itemgetter(0)


class RequestIds:
    """32 hex characters, unique without asking the kernel for randomness on every request (``uuid4`` was 1.6% of
    a proxy worker's time): 64 random bits drawn once per process (again in a forked child), then a counter."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


request_ids = RequestIds()


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp, *, access_log: bool = True, metrics: Metrics | None = None) -> None:
        self.app = app
        self.access_log = access_log
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, token = begin(scope)
        start = time.perf_counter()
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = stamped(message.get("headers", []), request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.end(scope, status, start, token)

    def end(self, scope: Scope, status: int, start: float, token: Any) -> None:
        """Count, time and log the request (``status`` 0: it ended without a response, counted as a 500)."""
        if self.metrics is not None:
            group = route_group(scope["path"])
            metrics = self.metrics
            metrics.pending(metrics.requests, group, _STATUS_CLASS[(status or 500) // 100]).inc()
            metrics.pending(metrics.latency, group).observe(time.perf_counter() - start)
        if self.access_log:
            principal: Any = scope.get("state", {}).get("principal")
            fields: dict[str, Any] = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status or 500,
                "ms": round((time.perf_counter() - start) * 1000, 3),
            }
            if principal is not None:
                fields["app_id"] = principal.app_id
                fields["key_id"] = principal.key_id
            log.info("request", extra={"fields": fields})
        request_id_var.reset(token)


def stamped(headers: Any, request_id: str) -> list[tuple[bytes, bytes]]:
    """The response's headers with our request id: ``x-request-id``, or ``xproxy-request-id`` where the response
    has an ``x-request-id`` already (a provider's, passed on by the proxy: a client reads it as that call's id, as
    the OpenAI SDK's ``_request_id`` does, and two would be read as one joined by a comma)."""
    name = b"xproxy-request-id" if b"x-request-id" in map(_NAME, headers) else b"x-request-id"
    return [*headers, (name, request_id.encode())]


def begin(scope: Scope) -> tuple[str, Any]:
    """A request's id, set in the scope's state and the logging context (the token resets the latter)."""
    request_id = request_ids.next()
    token = request_id_var.set(request_id)
    scope.setdefault("state", {})["request_id"] = request_id
    return request_id, token
