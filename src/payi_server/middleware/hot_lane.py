"""The hot lane: proxied calls and single ingests skip FastAPI's middleware stack and router.

Every other request passes, outermost first, Starlette's ``ServerErrorMiddleware``, FastAPI's exception
telemetry, our request log and body limit, Starlette's ``ExceptionMiddleware``, FastAPI's
``AsyncExitStackMiddleware``, the router's match and the route's wrappers; each also wraps ``send``. Under load
that was a tenth of a proxy worker's time (py-spy, 50 connections). The two busiest endpoints are plain ASGI
apps that need none of it, so :class:`PayiApp` sends them down a lane built from the same parts: the request log
(request id, access log, metrics) around the body limit (header and body bounds) around :class:`ErrorBoundary`
(the app's own exception handlers, so every error is the same Pay-i error body as on any other route). What the
lane does not take (a path it does not match exactly, another method) goes the usual way and gets the usual
404 or 405.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
            handler = self._handler(exc)
            if started or handler is None:
                raise
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)


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
