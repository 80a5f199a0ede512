"""The one error model of the service.

Every failure a client can see is an ``ApiError``: an HTTP status, a Pay-i error code and a message. One handler
(``payi_server.api.errors``) renders every one of them as the Pay-i error body::

    {"statusCode": 401, "message": "Unauthorized",
     "xproxy_error": {"code": "invalid_api_key", "message": "..."}, "xproxy_result": {...}?}

Messages are written for the caller and never contain a key, a provider credential or a stack trace.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


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


INVALID_API_KEY_MESSAGE = "Your api key is invalid, missing, or expired"


def invalid_api_key() -> ApiError:
    return ApiError(401, "invalid_api_key", INVALID_API_KEY_MESSAGE)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def not_found(code: str, message: str) -> ApiError:
    return ApiError(404, code, message)


def bad_request(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)
