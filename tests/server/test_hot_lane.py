"""The hot lane (``middleware.hot_lane``): proxied calls and single ingests skip FastAPI's stack, and must not
notice. Every part the stack gave them (request id, access log, metrics, header and body bounds, Pay-i error
bodies) is checked here on the lane, and what the lane does not take still gets the usual answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from payi_server.errors import ApiError
from payi_server.middleware.body_limit import BodyLimitMiddleware
from payi_server.middleware.hot_lane import ErrorBoundary, Guarded
from payi_server.middleware.request_log import RequestLogMiddleware
from tests.conftest import Running, make_settings, run_app


MAX_BODY = 4096
PROXY_MAX_BODY = 8192


@pytest.fixture
async def lane(database_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    settings = make_settings(database_url, tmp_path, max_body_bytes=MAX_BODY, proxy_max_body_bytes=PROXY_MAX_BODY)
    async with run_app(settings) as running:
        yield running


def _code(response: httpx2.Response) -> str:
    """The Pay-i error body's code (and the body is one)."""
    body = response.json()
    assert set(body) >= {"statusCode", "message", "xproxy_error"}, body
    assert body["statusCode"] == response.status_code
    return str(body["xproxy_error"]["code"])


async def test_lane_takes_the_proxy_and_single_ingests(lane: Running) -> None:
    assert lane.app.hot_lane is not None
    for method, path in (("POST", "/api/v1/proxy/openai/v1/chat/completions"), ("GET", "/api/v1/proxy/x/"),
                         ("POST", "/api/v1/ingest")):
        scope = {"type": "http", "method": method, "path": path}
        assert lane.app.hot_lane.match(scope) is not None, path
    for method, path in (("OPTIONS", "/api/v1/proxy/openai/v1/models"), ("POST", "/api/v1/proxy/openai"),
                         ("GET", "/api/v1/ingest"), ("POST", "/api/v1/ingest/bulk"), ("POST", "//api/v1/ingest")):
        scope = {"type": "http", "method": method, "path": path}
        assert lane.app.hot_lane.match(scope) is None, (method, path)


async def test_errors_on_the_lane_are_pay_i_bodies_with_a_request_id(lane: Running) -> None:
    unknown = await lane.client.post("/api/v1/proxy/nosuch/v1/x", headers=lane.headers(), json={})
    assert unknown.status_code == 404
    assert _code(unknown) == "not_found"
    assert len(unknown.headers["x-request-id"]) == 32

    no_key = await lane.client.post("/api/v1/ingest", json={})
    assert no_key.status_code == 401
    assert _code(no_key) == "invalid_api_key"
    assert no_key.headers["x-request-id"] != unknown.headers["x-request-id"]

    bad_json = await lane.client.post("/api/v1/ingest", headers={**lane.headers(), "content-type": "application/json"},
                                      content=b"{not json")
    assert bad_json.status_code == 400
    assert _code(bad_json) == "invalid_json"


async def test_body_and_header_bounds_hold_on_the_lane(lane: Running) -> None:
    big = {"category": "system.openai", "resource": "gpt-4o", "units": {"text": {"input": 1, "output": 1}},
           "user_id": "u" * (MAX_BODY + 1)}
    refused = await lane.client.post("/api/v1/ingest", headers=lane.headers(), json=big)
    assert refused.status_code == 413
    assert _code(refused) == "request_too_large"

    # the proxy's own, larger bound: a body between the two passes the bound and reaches the route
    middle = b'{"model": "gpt-4o", "pad": "' + b"p" * (MAX_BODY * 1) + b'"}'
    passed = await lane.client.post("/api/v1/proxy/nosuch/v1/x", headers=lane.headers(), content=middle)
    assert passed.status_code == 404
    over = b'{"pad": "' + b"p" * PROXY_MAX_BODY + b'"}'
    cut = await lane.client.post("/api/v1/proxy/openai/v1/chat/completions", headers=lane.headers(), content=over)
    assert cut.status_code == 413
    assert _code(cut) == "request_too_large"

    bad_header = await lane.client.post("/api/v1/ingest", headers={**lane.headers(), "x-bad": "a\x00b"}, json={})
    assert bad_header.status_code == 400
    assert _code(bad_header) == "invalid_header"


async def test_what_the_lane_leaves_gets_the_usual_answers(lane: Running) -> None:
    options = await lane.client.options("/api/v1/proxy/openai/v1/models", headers=lane.headers())
    assert options.status_code == 405
    assert _code(options) == "method_not_allowed"
    short = await lane.client.post("/api/v1/proxy/openai", headers=lane.headers())
    assert short.status_code == 404
    assert _code(short) == "not_found"
    doubled = await lane.client.post("http://payi.test//api/v1/ingest", headers=lane.headers(), json={
        "category": "system.openai", "resource": "gpt-4o", "units": {"text": {"input": 3, "output": 2}}})
    assert doubled.status_code == 200, doubled.text
    assert doubled.json()["xproxy_result"]["request_id"]


async def test_lane_requests_are_counted_in_metrics(lane: Running) -> None:
    for _ in range(3):
        answer = await lane.client.post("/api/v1/ingest", headers=lane.headers(), json={
            "category": "system.openai", "resource": "gpt-4o", "units": {"text": {"input": 3, "output": 2}}})
        assert answer.status_code == 200
    await lane.client.post("/api/v1/proxy/nosuch/v1/x", headers=lane.headers(), json={})
    text = (await lane.client.get("/metrics")).text
    assert 'payi_http_requests_total{group="ingest",status="2xx"} 3.0' in text
    assert 'payi_http_requests_total{group="proxy",status="4xx"} 1.0' in text
    assert 'payi_http_request_seconds_count{group="ingest"} 3.0' in text


async def test_error_boundary_renders_with_the_apps_handlers(lane: Running) -> None:
    """An unexpected exception is the Pay-i 500 body (logged, never a traceback to the client); an ApiError is
    its own status; after the response started, nothing more can be said: the error goes on up."""

    async def fails(kind: type[Exception], started: bool) -> list[dict[str, object]]:
        sent: list[dict[str, object]] = []

        async def app(scope: object, receive: object, send: object) -> None:
            if started:
                await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
            raise kind() if kind is not ApiError else ApiError(409, "conflict", "taken")

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b""}

        boundary = wrap(app)
        await boundary({"type": "http", "method": "POST", "path": "/x", "headers": [], "query_string": b""},
                       receive, send)
        return sent

    handlers = lane.app.exception_handlers
    for wrap in (
        lambda app: ErrorBoundary(app, handlers),
        # the lane's own fused layer: the same answers, and the request id on them
        lambda app: Guarded(
            app, handlers, BodyLimitMiddleware(app, max_bytes=10, proxy_max_bytes=10, proxy_prefix="/p"),
            RequestLogMiddleware(app, access_log=False),
        ),
    ):
        unexpected = await fails(RuntimeError, started=False)
        assert unexpected[0]["status"] == 500
        assert b"unexpected_error" in unexpected[1]["body"]  # type: ignore[operator]
        assert b"Traceback" not in unexpected[1]["body"]  # type: ignore[operator]
        own = await fails(ApiError, started=False)
        assert own[0]["status"] == 409
        assert len(own) == 2
        if wrap(None).__class__ is Guarded:
            assert any(name == b"x-request-id" for name, _ in own[0]["headers"])  # type: ignore[attr-defined]
        with pytest.raises(RuntimeError):
            await fails(RuntimeError, started=True)


def test_request_ids_are_unique_across_a_fork() -> None:
    import os

    from payi_server.middleware.request_log import request_ids

    mine = [request_ids.next() for _ in range(1000)]
    assert len(set(mine)) == 1000 and all(len(i) == 32 and int(i, 16) >= 0 for i in mine)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its ids must not be the parent's next ones
        os.write(write, "\n".join(request_ids.next() for _ in range(1000)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        theirs = pipe.read().split("\n")
    os.waitpid(pid, 0)
    ours_next = [request_ids.next() for _ in range(1000)]
    assert len(theirs) == 1000 and not set(theirs) & (set(mine) | set(ours_next))
