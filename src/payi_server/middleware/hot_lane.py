"""The hot lane: proxied calls and single ingests skip FastAPI's middleware stack and router.

Every other request passes, outermost first, Starlette's ``ServerErrorMiddleware``, FastAPI's exception
telemetry, our request log and body limit, Starlette's ``ExceptionMiddleware``, FastAPI's
``AsyncExitStackMiddleware``, the router's match and the route's wrappers; each also wraps ``send``. Under load
that was a tenth of a proxy worker's time (py-spy, 50 connections). The two busiest endpoints are plain ASGI
apps that need none of it, so :class:`PayiApp` sends them down a lane built from the same parts, fused into one
layer (:class:`Guarded`): the request log (request id, access log, metrics) around the body limit (header and
body bounds) around the error boundary (the app's own exception handlers, so every error is the same Pay-i error
body as on any other route). What the
lane does not take (a path it does not match exactly, another method) goes the usual way and gets the usual
404 or 405.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .body_limit import BodyLimitMiddleware, limited, send_error
from .request_log import RequestLogMiddleware, begin, stamped

log = logging.getLogger("payi_server.errors")

Handler = Callable[[Request, Exception], Any]


class ErrorBoundary:
    """Renders an exception with the handler the app registered for its type (nearest in the MRO), as
    Starlette's ``ExceptionMiddleware`` and ``ServerErrorMiddleware`` would. An exception after the response
    started cannot be answered: it is raised on, and the server closes the connection (the client sees a cut
    response, never a second status line)."""

    def __init__(self, app: ASGIApp, handlers: dict[Any, Handler]) -> None:
        self.app = app
        self.handlers = handlers

    def _handler(self, exc: Exception) -> Handler | None:
        for kind in type(exc).__mro__:
            handler = self.handlers.get(kind)
            if handler is not None:
                return handler
        return None

    async def answer(self, exc: Exception, started: bool, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer ``exc`` with its handler's response; raise it on when the response started or no handler
        takes it."""
        handler = self._handler(exc)
        if started or handler is None:
            raise exc
        response = await handler(Request(scope, receive), exc)
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            await self.answer(exc, started, scope, receive, send)


class Guarded:
    """An endpoint of the lane inside the request log, the body limit and the error boundary (in that order, as
    on the usual way), fused into one layer: one wrapped ``send`` and one frame per request instead of three
    (the three layers were a twentieth of a proxied call's time)."""

    def __init__(
        self, endpoint: ASGIApp, handlers: dict[Any, Handler], bounds: BodyLimitMiddleware, log: RequestLogMiddleware
    ) -> None:
        self.endpoint = endpoint
        self.boundary = ErrorBoundary(endpoint, handlers)
        self.bounds = bounds
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id, token = begin(scope)
        start = time.perf_counter()
        status = 0

        async def logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = stamped(message.get("headers", []), request_id)
            await send(message)

        try:
            limit, error = self.bounds.refusal(scope)  # (the lane's paths never start with "//")
            if error is not None:
                await send_error(logged, error)
                return
            bounded = limited(receive, limit)
            try:
                await self.endpoint(scope, bounded, logged)
            except Exception as exc:
                await self.boundary.answer(exc, bool(status), scope, bounded, logged)  # (status: it started)
        finally:
            self.log.end(scope, status, start, token)


class HotLane:
    """Matches the lane's routes (the very ``Route`` objects of the route table: one pattern, one set of methods)
    and runs their endpoints; built once by :func:`payi_server.app.create_app`."""

    def __init__(self, routes: list[Route], wrap: Callable[[ASGIApp], ASGIApp]) -> None:
        self.routes = [(route.path_regex, route.methods or set(), wrap(route.endpoint)) for route in routes]

    def match(self, scope: Scope) -> ASGIApp | None:
        path: str = scope["path"]
        method: str = scope["method"]
        for pattern, methods, app in self.routes:
            if method in methods:
                found = pattern.match(path)  # "//api/..." never matches: the usual way collapses it
                if found is not None:
                    scope["path_params"] = found.groupdict()
                    return app
        return None


class PayiApp(FastAPI):
    """FastAPI, with :class:`HotLane` in front of its middleware stack."""

    hot_lane: HotLane | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.hot_lane
        if lane is not None and scope["type"] == "http":
            endpoint = lane.match(scope)
            if endpoint is not None:
                scope["app"] = self
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
