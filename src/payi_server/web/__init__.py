"""The dashboard at ``/``: server-rendered pages (Jinja2), a vendored chart library, no build step.

``install(app)`` adds it to the service: the static files at ``/static``, the sign-in routes, the pages
(``Viewer``) and the changes (``Admin``), and the handler that renders dashboard failures as pages.

Modules: ``accounts`` (users, argon2 passwords, sessions), ``session`` (the per-route checks: session, role,
CSRF), ``context`` (the filter bar, time zones, chart data), ``render`` (templates and security headers),
``pages`` (overview, breakdowns, exports), ``lists`` (limits, use cases, requests, applications),
``manage`` (admin changes), ``login``, ``data`` (read queries that are not reports), ``errors``.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from . import alerts, limit_pages, lists, login, manage, pages, users
from .accounts import DEFAULT_SESSION_LIFETIME
from .errors import install_web_errors
from .render import STATIC_DIR, Dashboard


def install(app: FastAPI, session_lifetime: timedelta = DEFAULT_SESSION_LIFETIME) -> None:
    """Add the dashboard to ``app`` (before ``check_route_table`` runs)."""
    app.state.payi_web = Dashboard.create(session_lifetime)
    app.router.routes.append(Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"))
    for module in (login, pages, lists, manage, limit_pages, users, alerts):
        app.include_router(module.router)
    install_web_errors(app)
