"""The exception hierarchy and how a status response becomes one."""

from __future__ import annotations

import httpx2
import pytest

import payi
from payi._exceptions import from_transport_error, make_status_error

REQUEST = httpx2.Request("GET", "http://payi.test/api/v1/limits")


def response(code: int, **kwargs: object) -> httpx2.Response:
    return httpx2.Response(code, request=REQUEST, **kwargs)  # type: ignore[arg-type]


def test_hierarchy() -> None:
    assert issubclass(payi.APIError, payi.PayiError)
    assert issubclass(payi.APIStatusError, payi.APIError)
    assert issubclass(payi.APIConnectionError, payi.APIError)
    assert issubclass(payi.APITimeoutError, payi.APIConnectionError)
    assert issubclass(payi.APIResponseValidationError, payi.APIError)
    for error in (
        payi.BadRequestError,
        payi.AuthenticationError,
        payi.PermissionDeniedError,
        payi.NotFoundError,
        payi.ConflictError,
        payi.UnprocessableEntityError,
        payi.RateLimitError,
        payi.InternalServerError,
    ):
        assert issubclass(error, payi.APIStatusError)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (400, payi.BadRequestError),
        (401, payi.AuthenticationError),
        (403, payi.PermissionDeniedError),
        (404, payi.NotFoundError),
        (409, payi.ConflictError),
        (422, payi.UnprocessableEntityError),
        (429, payi.RateLimitError),
        (500, payi.InternalServerError),
        (504, payi.InternalServerError),
        (599, payi.InternalServerError),
        (402, payi.APIStatusError),
        (302, payi.APIStatusError),
    ],
)
def test_status_mapping(code: int, error: type[payi.APIStatusError]) -> None:
    exc = make_status_error(response(code, json={"statusCode": code}))
    assert type(exc) is error
    assert exc.status_code == code
    assert exc.response.status_code == code
    assert exc.request is REQUEST


def test_json_body_is_decoded() -> None:
    body = {
        "statusCode": 400,
        "message": "Bad Request",
        "xproxy_error": {
            "code": "limit_reached",
            "message": "Insufficient limit for the requested operation",
        },
        "xproxy_result": {"blocked_limit_ids": ["l1"]},
    }
    exc = make_status_error(response(400, json=body))
    assert exc.body == body
    assert exc.message == f"Error code: 400 - {body}"
    assert str(exc) == exc.message


def test_text_body_is_kept_as_text() -> None:
    exc = make_status_error(response(502, text="  Bad gateway from App Gateway \n"))
    assert exc.body == "Bad gateway from App Gateway"
    assert exc.message == "Bad gateway from App Gateway"
    empty = make_status_error(response(503, content=b""))
    assert empty.body == "" and empty.message == "Error code: 503"


def test_transport_errors_convert_in_one_place() -> None:
    assert type(from_transport_error(httpx2.ReadTimeout("t"), REQUEST)) is payi.APITimeoutError
    assert type(from_transport_error(httpx2.ConnectError("c"), REQUEST)) is payi.APIConnectionError
    timeout = from_transport_error(httpx2.WriteTimeout("t"), REQUEST)
    assert timeout.message == "Request timed out." and timeout.body is None


def test_validation_error_carries_the_response() -> None:
    exc = payi.APIResponseValidationError(response(200, json={}), body={})
    assert exc.status_code == 200 and exc.body == {}
    assert exc.message == "Data returned by API invalid for expected schema."


def test_public_errors_have_docstrings_with_examples() -> None:
    for name in payi.__all__:
        obj = getattr(payi, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert obj.__doc__ and "Example" in obj.__doc__, name
