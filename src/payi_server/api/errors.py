"""One handler renders every error of every endpoint as the Pay-i error body (see ``payi_server.errors``)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ..error_codes import message
from ..errors import ApiError, api_error, error_body
from ..jsonio import ORJSONResponse
from ..store.errors import is_bad_value, is_unavailable

log = logging.getLogger("payi_server.errors")

# Codes for plain HTTP errors raised by the framework itself.
_HTTP_CODES = {
    400: "request_processing_error",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return ORJSONResponse(body, status_code=status, headers=headers)


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _json(exc.status, exc.body(), exc.headers)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "request_processing_error")
    if not isinstance(exc.detail, str):
        text = message("request_processing_error", "unknown")
    elif exc.status_code == 404 and exc.detail == "Not Found":
        text = message("not_found")
    else:
        text = message(code, "framework", detail=exc.detail)  # the framework's own words
    return _json(exc.status_code, error_body(exc.status_code, code, text), getattr(exc, "headers", None))


def describe_validation(errors: Any) -> tuple[str, str]:
    """A readable summary of pydantic errors, without echoing input values (they may be secret)."""
    parts = []
    code = "invalid_request"
    for err in list(errors)[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
        kind = err.get("type", "")
        if kind == "json_invalid":
            return "invalid_json", message("invalid_json", "fields")
        if kind == "missing":
            code = "required_field_missing"
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    if not parts:
        return code, message(code)
    return code, message(code, "fields", errors="; ".join(parts))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    code, text = describe_validation(exc.errors())
    override = getattr(request.scope.get("route"), "payi_validation_code", None)
    if override and code != "invalid_json":
        code = override  # the field summary is the message whatever the route's code (its "fields" message)
    return _json(400, error_body(400, code, text))


async def _storage_error(request: Request, exc: Exception) -> Response:
    """Database errors are handled here (not in the catch-all): an unreachable database is a 503 the client
    may retry, not a crash; a value the database refuses (too long for its column, out of range, a NUL
    character, which PostgreSQL cannot store) is the client's 400, and its transaction was rolled back."""
    if is_bad_value(exc):
        log.info("value refused by the database: %s", type(getattr(exc, "orig", exc)).__name__)
        return _json(400, api_error("invalid_value").body())
    if is_unavailable(exc):
        log.warning("database unreachable: %s", type(exc).__name__)
        return _json(
            503,
            api_error("database_unavailable").body(),
            {"x-should-retry": "true", "retry-after": "1"},
        )
    return await _unexpected(request, exc)


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    return _json(500, api_error("unexpected_error").body())


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(sa_exc.DBAPIError, _storage_error)
    app.add_exception_handler(OSError, _storage_error)
    app.add_exception_handler(Exception, _unexpected)
