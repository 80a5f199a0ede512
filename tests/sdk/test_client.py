"""``Payi`` / ``AsyncPayi``: configuration from arguments and environment, default headers, copies, closing."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import httpx2
import pytest

import payi
from payi import AsyncPayi, Payi, PayiError, omit
from payi.types import LimitResponse

from .wire import API_KEY, BASE_URL, LIMIT_RESPONSE, Recorder

ROOT = Path(__file__).resolve().parents[2]


def make(recorder: Recorder, **options: object) -> Payi:
    options.setdefault("base_url", BASE_URL)
    return Payi(http_client=httpx2.Client(transport=httpx2.MockTransport(recorder)), **options)  # type: ignore[arg-type]


def test_missing_api_key_raises(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(PayiError, match="PAYI_API_KEY"):
        Payi()
    with pytest.raises(PayiError, match="api_key"):
        AsyncPayi(api_key="")


def test_api_key_from_environment(clean_env: pytest.MonkeyPatch, recorder: Recorder) -> None:
    clean_env.setenv("PAYI_API_KEY", "from-env")
    with make(recorder) as client:
        assert client.api_key == "from-env"
        client.limits.delete("1")
    assert recorder.last.headers["xProxy-api-key"] == "from-env"
    with make(recorder, api_key="explicit") as client:
        assert client.api_key == "explicit"


def test_base_url_resolution(clean_env: pytest.MonkeyPatch) -> None:
    with Payi(api_key="k") as client:
        assert str(client.base_url) == "https://api.pay-i.com/"
    clean_env.setenv("PAYI_BASE_URL", "http://env.example:8080/prefix")
    with Payi(api_key="k") as client:
        assert str(client.base_url) == "http://env.example:8080/prefix/"
    with Payi(api_key="k", base_url="http://arg.example") as client:
        assert str(client.base_url) == "http://arg.example/"
    clean_env.setenv("PAYI_BASE_URL", "")
    with Payi(api_key="k") as client:
        assert str(client.base_url) == "https://api.pay-i.com/"


def test_base_url_with_a_path_prefix(clean_env: pytest.MonkeyPatch, recorder: Recorder) -> None:
    with make(recorder, api_key="k", base_url="http://payi.test/tenant-a") as client:
        client.limits.delete("1")
    assert str(recorder.last.url) == "http://payi.test/tenant-a/api/v1/limits/1"


def test_default_headers_on_every_request(clean_env: pytest.MonkeyPatch, recorder: Recorder) -> None:
    with make(recorder, api_key=API_KEY) as client:
        client.limits.delete("1")
        client.get("/api/v1/limits/1", cast_to=object)
    post, get = recorder.requests
    for request in (post, get):
        assert request.headers["xProxy-api-key"] == API_KEY
        assert request.headers["Accept"] == "application/json"
        assert request.headers["User-Agent"] == f"Payi/Python {payi.__version__}"
        assert "authorization" not in request.headers
    assert post.headers["Content-Type"] == "application/json"
    assert "content-type" not in get.headers


async def test_async_user_agent(clean_env: pytest.MonkeyPatch, recorder: Recorder) -> None:
    transport = httpx2.MockTransport(recorder)
    async with AsyncPayi(
        api_key="k", base_url=BASE_URL, http_client=httpx2.AsyncClient(transport=transport)
    ) as c:
        await c.limits.delete("1")
    assert recorder.last.headers["User-Agent"] == f"AsyncPayi/Python {payi.__version__}"
    assert c.is_closed()


def test_custom_headers_from_environment(clean_env: pytest.MonkeyPatch, recorder: Recorder) -> None:
    clean_env.setenv(
        "PAYI_CUSTOM_HEADERS", "X-Team: search\nno colon here\nX-Url: http://a:b \n X-Over : env"
    )
    with make(recorder, api_key="k", default_headers={"X-Over": "arg"}) as client:
        client.limits.delete("1")
    headers = recorder.last.headers
    assert headers["X-Team"] == "search"
    assert headers["X-Url"] == "http://a:b"
    assert headers["X-Over"] == "arg"


def test_default_query_and_omitted_header(clean_env: pytest.MonkeyPatch, recorder: Recorder) -> None:
    with make(recorder, api_key="k", default_query={"tenant": "a"}) as client:
        client.limits.list(
            limit=2, extra_headers={"User-Agent": omit, "X-Extra": "1"}, extra_query={"debug": True}
        )
    request = recorder.last
    assert dict(request.url.params) == {"tenant": "a", "limit": "2", "debug": "true"}
    assert request.headers["user-agent"].startswith("python-httpx2/")  # httpx2's own default, not ours
    assert request.headers["X-Extra"] == "1"


def test_timeouts(clean_env: pytest.MonkeyPatch, recorder: Recorder) -> None:
    with make(recorder, api_key="k") as client:
        assert client.timeout == payi.DEFAULT_TIMEOUT
        client.limits.delete("1")
        assert recorder.last.extensions["timeout"] == {"connect": 5.0, "read": 60, "write": 60, "pool": 60}
        client.limits.delete("1", timeout=2.5)
        assert recorder.last.extensions["timeout"]["read"] == 2.5
    custom = httpx2.Client(timeout=9.0, transport=httpx2.MockTransport(recorder))
    with Payi(api_key="k", http_client=custom) as client:
        assert client.timeout == httpx2.Timeout(9.0)
    with Payi(api_key="k", timeout=3) as client:
        assert client.timeout == 3


def test_invalid_arguments(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError, match="max_retries"):
        Payi(api_key="k", max_retries=None)  # type: ignore[arg-type]
    async_http = httpx2.AsyncClient()
    with pytest.raises(TypeError, match="http_client"):
        Payi(api_key="k", http_client=async_http)  # type: ignore[arg-type]


def test_default_http_client(clean_env: pytest.MonkeyPatch) -> None:
    with Payi(api_key="k") as client:
        http = client._client
        assert isinstance(http, payi.DefaultHttpxClient)
        assert http.follow_redirects is True
        assert http.timeout == payi.DEFAULT_TIMEOUT


def test_with_options_shares_the_transport(clean_env: pytest.MonkeyPatch, recorder: Recorder) -> None:
    client = make(recorder, api_key="k", default_headers={"X-A": "1"}, _strict_response_validation=True)
    copy = client.with_options(max_retries=0, timeout=7, default_headers={"X-B": "2"})
    assert copy is not client and type(copy) is Payi
    assert copy._client is client._client
    assert (copy.max_retries, copy.timeout, copy.api_key) == (0, 7, "k")
    assert copy._strict_response_validation is True
    assert client.max_retries == payi.DEFAULT_MAX_RETRIES
    copy.limits.delete("1")
    assert recorder.last.headers["X-A"] == "1" and recorder.last.headers["X-B"] == "2"
    replaced = client.copy(set_default_headers={"X-C": "3"}, api_key="other", base_url="http://other.test")
    replaced.limits.delete("1")
    assert "x-a" not in recorder.last.headers and recorder.last.headers["X-C"] == "3"
    assert recorder.last.headers["xProxy-api-key"] == "other"
    assert recorder.last.url.host == "other.test"
    with pytest.raises(ValueError, match="mutually exclusive"):
        client.copy(default_headers={}, set_default_headers={})
    with pytest.raises(ValueError, match="mutually exclusive"):
        client.copy(default_query={}, set_default_query={})
    client.close()
    assert copy.is_closed()


def test_low_level_verbs(clean_env: pytest.MonkeyPatch, recorder: Recorder) -> None:
    recorder.json(LIMIT_RESPONSE)
    with make(recorder, api_key="k", _strict_response_validation=True) as client:
        result = client.get("/api/v1/limits/2579", cast_to=LimitResponse, options={"params": {"a": 1}})
        assert isinstance(result, LimitResponse)
        assert client.post("/api/v1/x", cast_to=object, body={"a": [1]}) == {"request_id": "r0"}
        assert recorder.body() == {"a": [1]}
        client.put("/api/v1/x", cast_to=object, options={"headers": {"X-H": "v"}, "extra_json": {"b": 2}})
        assert recorder.body() == {"b": 2} and recorder.last.headers["X-H"] == "v"
        client.patch("/api/v1/x", cast_to=object, body={"a": 1}, options={"extra_json": {"b": 2}})
        assert recorder.body() == {"a": 1, "b": 2}
        client.delete("/api/v1/x", cast_to=type(None))
        assert recorder.last.method == "DELETE"


def test_resources_are_cached(clean_env: pytest.MonkeyPatch) -> None:
    with Payi(api_key="k") as client:
        assert client.limits is client.limits
        assert client.use_cases.definitions.kpis is client.use_cases.definitions.kpis
        assert payi.Client is Payi and payi.AsyncClient is AsyncPayi


def test_version_matches_the_distribution() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert payi.__version__ == project["version"]
    assert payi.__title__ == "payi"


def test_payi_log_switches_on_sdk_logging(clean_env: pytest.MonkeyPatch) -> None:
    sdk_logger = logging.getLogger("payi")
    clean_env.setattr(sdk_logger, "level", sdk_logger.level)
    clean_env.setattr(logging.getLogger("httpx2"), "level", logging.getLogger("httpx2").level)
    clean_env.setenv("PAYI_LOG", "debug")
    with Payi(api_key="k"):
        assert sdk_logger.level == logging.DEBUG


def test_platform_retry_count_and_read_timeout_headers(api: Api) -> None:
    api.recorder.reply(httpx2.Response(503, json={}), httpx2.Response(200, json={"request_id": "r"}))
    api.call(lambda c: c.limits.delete("a", timeout=httpx2.Timeout(7.0, read=3.5)))
    first, second = api.recorder.requests[-2:]
    assert [r.headers["x-stainless-retry-count"] for r in (first, second)] == ["0", "1"]
    assert second.headers["x-stainless-read-timeout"] == "3.5"
    assert second.headers["x-stainless-lang"] == "python"
    assert second.headers["x-stainless-package-version"] == payi.__version__
    assert {"x-stainless-os", "x-stainless-arch", "x-stainless-runtime", "x-stainless-runtime-version"} <= set(
        second.headers
    )
    api.call(lambda c: c.limits.delete("a", extra_headers={"X-Stainless-Retry-Count": payi.omit}))
    assert "x-stainless-retry-count" not in api.recorder.last.headers  # the caller's choice wins
