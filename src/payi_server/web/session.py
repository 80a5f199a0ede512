"""Who is signed in to the dashboard, and the checks every dashboard route runs.

``Viewer`` and ``Admin`` are the only ways a dashboard route obtains its user (as ``AppKey``/``OrgKey`` are for
the API): both carry ``payi_access = SessionAccess(role)``, so the route-table check knows every page's rule.
For any method but GET/HEAD the same dependency also checks the form's CSRF synchronizer token against the
session's, so no mutating route can forget it. Failures raise ``WebError`` subclasses, rendered as pages (or a
redirect to the sign-in page) by ``web.errors``.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.responses import Response

from ..auth.dependency import SessionAccess
from .accounts import Accounts, WebUser

SESSION_COOKIE = "payi_session"
LOGIN_CSRF_COOKIE = "payi_login_csrf"
TZ_COOKIE = "payi_tz"
SAFE_METHODS = frozenset({"GET", "HEAD"})


class WebError(Exception):
    """A dashboard failure shown as a page (never as the API's JSON error body)."""

    status = 400
    title = "Something went wrong"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class LoginRequired(WebError):
    status = 401
    title = "Please sign in"


class AdminOnly(WebError):
    status = 403
    title = "Admins only"


class CsrfFailed(WebError):
    status = 403
    title = "This form has expired"


class PageNotFound(WebError):
    status = 404
    title = "Not found"


def accounts(request: Request) -> Accounts:
    """The ``Accounts`` of this app (created by ``web.install``)."""
    dashboard = request.app.state.payi_web
    return Accounts(request.app.state.payi.db, dashboard.session_lifetime)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None, *, http_only: bool = True) -> None:
    """Cookies of the dashboard: HttpOnly (unless JS must read them), SameSite=Lax, Secure over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=http_only,
        samesite="lax",
        secure=is_https(request),
    )


def same_token(given: Any, expected: str) -> bool:
    return isinstance(given, str) and bool(given) and hmac.compare_digest(given.encode(), expected.encode())


async def check_csrf(request: Request, expected: str) -> None:
    form = await request.form()
    if not same_token(form.get("csrf_token"), expected):
        raise CsrfFailed("Reload the page and try again.")


def _requires(role: str) -> Callable[..., Awaitable[WebUser]]:
    async def dependency(request: Request) -> WebUser:
        token = request.cookies.get(SESSION_COOKIE, "")
        user = await accounts(request).session_user(token) if token else None
        if user is None:
            raise LoginRequired("Your session has ended." if token else "")
        request.state.web_user = user
        if request.method not in SAFE_METHODS:
            await check_csrf(request, user.csrf_token)
        if role == "admin" and not user.is_admin:
            raise AdminOnly("Your role is viewer: you can look at everything and change nothing.")
        return user

    dependency.payi_access = SessionAccess(role)  # type: ignore[attr-defined, arg-type]
    return dependency


require_viewer = _requires("viewer")
require_admin = _requires("admin")

Viewer = Annotated[WebUser, Depends(require_viewer)]
Admin = Annotated[WebUser, Depends(require_admin)]
