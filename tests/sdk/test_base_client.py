"""Retries and errors: what is retried, how long the client waits, and what finally reaches the caller."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx2
import pytest

import payi
from payi._base_client import _parse_retry_after

from .wire import LIMIT_RESPONSE, Api


def status(code: int, headers: dict[str, str] | None = None, body: object = None) -> httpx2.Response:
    return httpx2.Response(
        code, json=body if body is not None else {"statusCode": code, "message": "x"}, headers=headers
    )


@pytest.fixture
def fixed_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """random() == 0 means no jitter: delays are exactly min(0.5 * 2**n, 8)."""
    monkeypatch.setattr("payi._base_client.random.random", lambda: 0.0)


@pytest.mark.parametrize("code", [408, 409, 429, 500, 502, 503])
def test_retryable_statuses_are_retried(api: Api, fixed_jitter: None, code: int) -> None:
    api.recorder.reply(status(code), status(code), httpx2.Response(200, json=LIMIT_RESPONSE))
    result = api.call(lambda c: c.limits.retrieve("2579"))
    assert result.limit.limit_id == "2579"
    assert len(api.recorder.requests) == 3
    assert api.delays == [0.5, 1.0]


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (400, payi.BadRequestError),
        (401, payi.AuthenticationError),
        (403, payi.PermissionDeniedError),
        (404, payi.NotFoundError),
        (422, payi.UnprocessableEntityError),
        (418, payi.APIStatusError),
    ],
)
def test_other_client_errors_are_not_retried(api: Api, code: int, error: type[payi.APIStatusError]) -> None:
    api.recorder.reply(status(code))
    with pytest.raises(error) as info:
        api.call(lambda c: c.limits.retrieve("2579"))
    assert type(info.value) is error
    assert info.value.status_code == code
    assert len(api.recorder.requests) == 1 and api.delays == []


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (409, payi.ConflictError),
        (429, payi.RateLimitError),
        (500, payi.InternalServerError),
        (503, payi.InternalServerError),
    ],
)
def test_retryable_errors_are_raised_after_the_last_retry(
    api: Api, code: int, error: type[Exception]
) -> None:
    api.recorder.reply(status(code), status(code), status(code))
    with pytest.raises(error):
        api.call(lambda c: c.limits.retrieve("2579"))
    assert len(api.recorder.requests) == 3
    assert len(api.delays) == 2


def test_x_should_retry_overrides_the_status_rule(api: Api) -> None:
    api.recorder.reply(status(400, {"x-should-retry": "true"}), httpx2.Response(200, json=LIMIT_RESPONSE))
    api.call(lambda c: c.limits.retrieve("2579"))
    assert len(api.recorder.requests) == 2
    api.recorder.reply(status(503, {"x-should-retry": "false"}))
    with pytest.raises(payi.InternalServerError):
        api.call(lambda c: c.limits.retrieve("2579"))
    assert len(api.recorder.requests) == 3


def test_retry_after_headers_are_honoured(api: Api) -> None:
    api.recorder.reply(
        status(429, {"retry-after-ms": "250"}),
        status(429, {"retry-after": "3"}),
        httpx2.Response(200, json=LIMIT_RESPONSE),
    )
    api.call(lambda c: c.limits.retrieve("2579"))
    assert api.delays == [0.25, 3.0]


def test_retry_after_outside_0_to_60_seconds_falls_back_to_backoff(api: Api, fixed_jitter: None) -> None:
    api.recorder.reply(
        status(429, {"retry-after": "120"}),
        status(429, {"retry-after": "0"}),
        httpx2.Response(200, json=LIMIT_RESPONSE),
    )
    api.call(lambda c: c.limits.retrieve("2579"))
    assert api.delays == [0.5, 1.0]


def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 10, usegmt=True)
    delay = _parse_retry_after(httpx2.Headers({"retry-after": when}))
    assert delay is not None and 8 < delay <= 10
    assert _parse_retry_after(httpx2.Headers({"retry-after": "not a date"})) is None
    assert _parse_retry_after(httpx2.Headers({})) is None


def test_backoff_is_capped_and_jittered(
    monkeypatch: pytest.MonkeyPatch, clean_env: pytest.MonkeyPatch
) -> None:
    client = payi.Payi(api_key="k")
    monkeypatch.setattr("payi._base_client.random.random", lambda: 0.0)
    assert [client._retry_delay(n, None) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    monkeypatch.setattr("payi._base_client.random.random", lambda: 1.0)
    assert [client._retry_delay(n, None) for n in range(2)] == [0.375, 0.75]
    client.close()


def test_max_retries_zero_and_per_request(recorder: Any, clean_env: pytest.MonkeyPatch) -> None:
    api_client = Api("sync", recorder, max_retries=0)
    recorder.reply(status(500))
    with pytest.raises(payi.InternalServerError):
        api_client.call(lambda c: c.limits.retrieve("1"))
    assert len(recorder.requests) == 1
    recorder.reply(status(500), status(500), status(500), status(500))
    with pytest.raises(payi.InternalServerError):
        api_client.client.get("/api/v1/limits/1", cast_to=object, options={"max_retries": 3})
    assert len(recorder.requests) == 5
    api_client.close()


def test_connection_errors_are_retried_then_raised(api: Api) -> None:
    cause = httpx2.ConnectError("refused")
    api.recorder.reply(cause, cause, cause)
    with pytest.raises(payi.APIConnectionError) as info:
        api.call(lambda c: c.limits.retrieve("1"))
    assert type(info.value) is payi.APIConnectionError
    assert info.value.__cause__ is cause
    assert info.value.message == "Connection error."
    assert info.value.request.url.path == "/api/v1/limits/1"
    assert len(api.recorder.requests) == 3 and len(api.delays) == 2


def test_timeouts_raise_api_timeout_error(api: Api) -> None:
    api.recorder.reply(httpx2.ReadTimeout("slow"), httpx2.ConnectTimeout("slow"), httpx2.PoolTimeout("slow"))
    with pytest.raises(payi.APITimeoutError) as info:
        api.call(lambda c: c.limits.retrieve("1"))
    assert isinstance(info.value, payi.APIConnectionError)
    assert isinstance(info.value.__cause__, httpx2.TimeoutException)


def test_a_timeout_then_success(api: Api) -> None:
    api.recorder.reply(httpx2.ReadTimeout("slow"), httpx2.Response(200, json=LIMIT_RESPONSE))
    assert api.call(lambda c: c.limits.retrieve("1")).limit.limit_id == "2579"


def test_each_attempt_is_rebuilt_identically(api: Api) -> None:
    api.recorder.reply(status(500), httpx2.Response(200, json=LIMIT_RESPONSE))
    api.call(lambda c: c.limits.update("1", max=2.0, extra_headers={"X-A": "1"}))
    first, second = api.recorder.requests
    assert first.content == second.content == b'{"max":2.0}'
    assert first.headers["X-A"] == second.headers["X-A"] == "1"


def test_programming_errors_are_not_disguised_as_connection_errors(api: Api) -> None:
    api.recorder.reply(ZeroDivisionError("bug"))
    with pytest.raises(ZeroDivisionError):
        api.call(lambda c: c.limits.retrieve("1"))
    assert len(api.recorder.requests) == 1


def test_non_json_success_body(api: Api) -> None:
    api.recorder.reply(httpx2.Response(200, text="plain", headers={"content-type": "text/plain"}))
    with pytest.raises(payi.APIResponseValidationError, match="Content-Type"):
        api.call(lambda c: c.limits.retrieve("1"))


def test_invalid_json_with_json_content_type(api: Api) -> None:
    api.recorder.reply(
        httpx2.Response(200, content=b"{not json", headers={"content-type": "application/json"})
    )
    with pytest.raises(payi.APIResponseValidationError, match="not valid JSON"):
        api.call(lambda c: c.limits.retrieve("1"))


def test_lenient_client_returns_text_for_non_json(recorder: Any, clean_env: pytest.MonkeyPatch) -> None:
    lenient = Api("sync", recorder, _strict_response_validation=False)
    recorder.reply(httpx2.Response(200, text="plain", headers={"content-type": "text/plain"}))
    assert lenient.call(lambda c: c.limits.retrieve("1")) == "plain"
    lenient.close()


def test_redirect_statuses_are_errors_when_not_followed(api: Api) -> None:
    api.recorder.reply(httpx2.Response(302, headers={"location": "http://elsewhere.test/"}))
    with pytest.raises(payi.APIStatusError) as info:
        api.call(lambda c: c.limits.retrieve("1", extra_headers={}))
    assert info.value.status_code == 302
