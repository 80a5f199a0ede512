"""Signing in and out of the dashboard.

The sign-in form is protected against login CSRF with a double-submit token (a random value in a short-lived
HttpOnly cookie and in the form); once signed in, forms use the session's synchronizer token. Failed attempts
are throttled per account and client address (``auth/throttle.py``), checked before the password is.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from ..auth.throttle import sign_in_source
from ..errors import ApiError
from .context import zone_of
from .render import SECURITY_HEADERS, render
from .session import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfFailed,
    accounts,
    check_csrf,
    same_token,
    set_cookie,
)

router = APIRouter(include_in_schema=False)

_LOGIN_CSRF_AGE = 3600


def _next(value: str | None) -> str:
    """Only a path of this site: never ``//host`` or ``https://...`` (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value and "\n" not in value:
        return value
    return "/"


def _login_page(request: Request, message: str = "", status: int = 200, email: str = "") -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        {
            "login_csrf": token,
            "message": message,
            "email": email,
            "next": _next(request.query_params.get("next")),
            "tz": zone_of(request),
        },
        status=status,
    )
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token, _LOGIN_CSRF_AGE)
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    if not same_token(form.get("csrf_token"), request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        raise CsrfFailed("The sign-in form expired; please try again.")
    state = request.app.state.payi
    client = request.client.host if request.client else "unknown"
    email = str(form.get("email") or "")[:254]
    source = sign_in_source(email, client)  # per account and address: neighbours are not locked out
    try:
        await state.throttle.check(source)  # before the password is looked at: passwords can be guessed
    except ApiError:
        return _login_page(request, "Too many failed attempts; wait a minute and try again.", 429)
    user_id = await accounts(request).authenticate(email, str(form.get("password") or ""))
    if user_id is None:
        try:
            await state.throttle.failed(source)
        except ApiError:
            return _login_page(request, "Too many failed attempts; wait a minute and try again.", 429)
        return _login_page(request, "Wrong email or password.", 401, email=email)
    token, _expires = await accounts(request).open_session(user_id)
    response = RedirectResponse(_next(str(form.get("next") or "")), status_code=303, headers=SECURITY_HEADERS)
    lifetime = int(accounts(request).session_lifetime.total_seconds())
    set_cookie(response, request, SESSION_COOKIE, token, lifetime)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Sign out: the session row is deleted (the cookie alone could not be reused)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    user = await accounts(request).session_user(token) if token else None
    if user is not None:
        await check_csrf(request, user.csrf_token)
        await accounts(request).close_session(token)
    response = RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
