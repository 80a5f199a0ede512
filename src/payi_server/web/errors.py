"""Dashboard failures as pages: sign-in redirects, "admins only", expired forms, and errors of the layers below.

Only exceptions raised by dashboard routes reach these handlers (``WebError``); the API's ``ApiError`` keeps its
JSON body. Pages convert ``ApiError`` themselves with ``web_error``.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response

from ..errors import ApiError
from .render import SECURITY_HEADERS, render
from .session import SAFE_METHODS, SESSION_COOKIE, LoginRequired, WebError


def web_error(exc: ApiError) -> WebError:
    """An error of the service layer, shown on a page (its message is written for the caller)."""
    error = WebError(exc.message)
    error.status = exc.status if 400 <= exc.status < 500 else 500
    error.title = {404: "Not found", 409: "Conflict"}.get(exc.status, "That did not work")
    return error


async def _web_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WebError)
    if isinstance(exc, LoginRequired) and request.method in SAFE_METHODS:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response: Response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
    else:
        response = render(request, "error.html", {"title": exc.title, "message": exc.message}, status=exc.status)
    if isinstance(exc, LoginRequired):
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def install_web_errors(app: FastAPI) -> None:
    app.add_exception_handler(WebError, _web_error)
