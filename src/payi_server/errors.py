"""The one error model of the service.

Every failure a client can see is an ``ApiError``: an HTTP status, a Pay-i error code and a message. One handler
(``payi_server.api.errors``) renders every one of them as the Pay-i error body::

    {"statusCode": 401, "message": "Unauthorized",
     "xproxy_error": {"code": "invalid_api_key", "message": "..."}, "xproxy_result": {...}?}

Messages are written for the caller and never contain a key, a provider credential or a stack trace. They come
from the registry (``payi_server.error_codes``): raise ``api_error(code, variant, **fields)``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from .error_codes import ERROR_CODES, message


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        xproxy_result: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        top_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.xproxy_result = xproxy_result
        self.headers = headers
        # The top-level "message" is the HTTP reason phrase, except where a client shows only that field
        # (boto3 on the Bedrock proxy), which gets the error text instead.
        self.top_message = top_message

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.code, self.message, self.xproxy_result, self.top_message)


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_body(
    status: int,
    code: str,
    message: str,
    xproxy_result: dict[str, Any] | None = None,
    top_message: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "statusCode": status,
        "message": top_message or reason(status),
        "xproxy_error": {"code": code, "message": message},
    }
    if xproxy_result is not None:
        body["xproxy_result"] = xproxy_result
    return body


def api_error(
    code: str,
    variant: str = "",
    /,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
    xproxy_result: dict[str, Any] | None = None,
    top_message: str | None = None,
    **fields: Any,
) -> ApiError:
    """The ``ApiError`` of a registered ``code``: its (first) status and its ``variant`` message filled from
    ``fields``. A code with several statuses is given the one it answers with (``status``)."""
    return ApiError(
        status or ERROR_CODES[code][0][0],
        code,
        message(code, variant, **fields),
        headers=headers,
        xproxy_result=xproxy_result,
        top_message=top_message,
    )


def invalid_api_key() -> ApiError:
    return api_error("invalid_api_key")


def forbidden() -> ApiError:
    return api_error("forbidden")
