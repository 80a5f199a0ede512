"""Rendering dashboard pages: the Jinja2 environment, the shared page context, and the security headers.

Templates autoescape; pages never embed inline script (the CSP allows scripts from ``/static`` only), chart data
travels in ``<script type="application/json">`` blocks that are data, not code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.responses import HTMLResponse, Response

from .. import __version__
from .context import BUCKET_CHOICES, RANGES, local_time, money, number

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}

NAV = (  # (link, label, the path prefix that marks it current)
    ("/", "Overview", "/"),
    ("/breakdown/resource", "Breakdowns", "/breakdown"),
    ("/limits", "Limits", "/limits"),
    ("/use-cases", "Use cases", "/use-cases"),
    ("/requests", "Requests", "/requests"),
    ("/applications", "Applications & keys", "/applications"),
    ("/alerts", "Alerts", "/alerts"),
    ("/users", "Users", "/users"),
)


def _json_script(value: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` block: '<' escaped so no data can close the tag."""
    text = orjson.dumps(value).decode().replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 - escaped above


@dataclass
class Dashboard:
    """What the dashboard keeps per app: its templates and the session lifetime."""

    session_lifetime: timedelta
    env: Environment

    @classmethod
    def create(cls, session_lifetime: timedelta) -> Dashboard:
        env = Environment(
            loader=FileSystemLoader(TEMPLATE_DIR),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["money"] = money
        env.filters["number"] = number
        env.filters["json_script"] = _json_script
        env.globals.update(version=__version__, nav=NAV, ranges=RANGES, bucket_choices=BUCKET_CHOICES)
        return cls(session_lifetime=session_lifetime, env=env)


def render(request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200) -> Response:
    """A page with the signed-in user, the CSRF token for its forms, and the zone its times are shown in."""
    dashboard: Dashboard = request.app.state.payi_web
    user = getattr(request.state, "web_user", None)
    ctx: dict[str, Any] = {
        "request": request,
        "path": request.url.path,
        "user": user,
        "csrf_token": user.csrf_token if user is not None else "",
    }
    ctx.update(context or {})
    filters = ctx.get("filters")
    ctx.setdefault("tz", filters.tz if filters is not None else "UTC")
    ctx["localtime"] = lambda value: local_time(value, ctx["tz"])
    html = dashboard.env.get_template(template).render(ctx)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
