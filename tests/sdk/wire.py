"""Test helpers for the SDK: a recording ``MockTransport`` and clients (sync and async) wired to it.

Nothing here opens a socket or sleeps: retries record their delays instead of sleeping.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

import payi
from payi.pagination import AsyncPaginator

BASE_URL = "http://payi.test"
API_KEY = "test-api-key"

Reply = httpx2.Response | Callable[[httpx2.Request], httpx2.Response] | Exception

TS = "2025-05-01T16:39:38.999504+00:00"
XPROXY_RESULT: dict[str, Any] = {
    "request_id": "5673977",
    "resource_id": "75",
    "limits": {"2579": {"state": "ok"}},
    "cost": {
        "currency": "usd",
        "input": {"base": 1.25e-05},
        "output": {"base": 0.000125},
        "total": {"base": 0.0001375},
    },
}
TOTALS: dict[str, Any] = {
    "cost": {"input": {"base": 0.0}, "output": {"base": 0.0}, "total": {"base": 0.0, "overrun_base": None}},
    "requests": {
        "ok": 0,
        "exceeded": 0,
        "overrun": 0,
        "blocked": 0,
        "blocked_external": 0,
        "failed": 0,
        "total": 0,
    },
}
LIMIT: dict[str, Any] = {
    "limit_id": "2579",
    "limit_name": "team-a",
    "limit_type": "allow",
    "max": 100.0,
    "threshold": None,
    "limit_creation_timestamp": TS,
    "limit_update_timestamp": TS,
    "totals": TOTALS,
}
LIMIT_RESPONSE: dict[str, Any] = {"limit": LIMIT, "request_id": "r1"}
RESOURCE: dict[str, Any] = {
    "active": True,
    "category": "system.aws.bedrock",
    "proxy_allowed": True,
    "resource": "anthropic.claude-3-haiku-20240307-v1:0",
    "resource_id": "75",
    "start_timestamp": TS,
    "units": {"text": {"input_price": 2.5e-07, "output_price": 1.25e-06}},
    "aws_bedrock_resource": {"model_units": 2},
}
DEFINITION: dict[str, Any] = {
    "name": "support-bot",
    "description": "Answers tickets",
    "request_id": "r1",
    "limit_config": {"max": 5.0, "limit_type": "allow"},
    "logging_enabled": True,
    "type_version": 1,
}
INSTANCE: dict[str, Any] = {
    "use_case_id": "uc-1",
    "use_case_name": "support-bot",
    "limit_id": None,
    "type_version": 1,
}
KPI: dict[str, Any] = {
    "name": "csat",
    "description": "Satisfaction",
    "request_id": "r1",
    "goal": 4.0,
    "kpi_type": "likert5",
}
APPLICATION: dict[str, Any] = {
    "app_id": "3",
    "name": "checkout",
    "description": "",
    "store_prompts": False,
    "created_at": TS,
}
KEY: dict[str, Any] = {
    "key_id": "17",
    "slot": 1,
    "prefix": "payi_app_abc",
    "lookup_id": "abc",
    "expires_at": None,
    "created_at": TS,
}


def page(items: list[Any], cursor: str | None = None) -> dict[str, Any]:
    return {"items": items, "cursor": cursor}


class Recorder:
    """A MockTransport handler: records each request and answers from a queue (default: ``{"request_id": "r0"}``)."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self.replies: list[Reply] = []

    def reply(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def json(self, data: object, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.reply(httpx2.Response(status, json=data, headers=headers))

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        reply: Reply = (
            self.replies.pop(0) if self.replies else httpx2.Response(200, json={"request_id": "r0"})
        )
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(request)
        return reply

    @property
    def last(self) -> httpx2.Request:
        return self.requests[-1]

    def body(self, index: int = -1) -> Any:
        content = self.requests[index].content
        return json.loads(content) if content else None

    def paths(self) -> list[str]:
        return [request.url.raw_path.decode() for request in self.requests]


class Api:
    """One client (sync or async) over a :class:`Recorder`; ``call`` runs a resource call either way."""

    def __init__(self, mode: str, recorder: Recorder, **options: Any) -> None:
        self.mode = mode
        self.recorder = recorder
        transport = httpx2.MockTransport(recorder)
        self.delays: list[float] = []
        options.setdefault("api_key", API_KEY)
        options.setdefault("base_url", BASE_URL)
        options.setdefault("_strict_response_validation", True)
        if mode == "sync":
            self.client: Any = payi.Payi(http_client=httpx2.Client(transport=transport), **options)
            self.client._sleep = self.delays.append
        else:
            self.client = payi.AsyncPayi(http_client=httpx2.AsyncClient(transport=transport), **options)

            async def record(seconds: float) -> None:
                self.delays.append(seconds)

            self.client._sleep = record

    def call(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(client)``; in async mode await the coroutine (or the paginator, giving the first page)."""
        result = fn(self.client)
        if self.mode == "sync":
            return result

        async def run() -> Any:
            if isinstance(result, AsyncPaginator) or inspect.isawaitable(result):
                return await result
            return result

        return asyncio.run(run())

    def collect(self, fn: Callable[[Any], Any]) -> list[Any]:
        """Every item of a list call, across pages."""
        result = fn(self.client)
        if self.mode == "sync":
            return list(result)

        async def run() -> list[Any]:
            return [item async for item in result]

        return asyncio.run(run())

    def close(self) -> None:
        if self.mode == "sync":
            self.client.close()
        else:
            asyncio.run(self.client.close())


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("PAYI_API_KEY", "PAYI_BASE_URL", "PAYI_CUSTOM_HEADERS", "PAYI_LOG"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest, recorder: Recorder, clean_env: pytest.MonkeyPatch) -> Iterator[Api]:
    """A strict client in both modes (every test using it runs twice)."""
    client = Api(request.param, recorder)
    yield client
    client.close()


NO_BODY = object()


def check_wire(
    api: Api,
    call: Callable[[Any], Any],
    *,
    method: str,
    path: str,
    response: object,
    result_type: Any,
    query: dict[str, str] | None = None,
    body: object = NO_BODY,
) -> Any:
    """Run one resource call and check the request line, query and body, and the type of the parsed answer."""
    api.recorder.json(response)
    result = api.call(call)
    request = api.recorder.last
    assert request.method == method
    assert request.url.raw_path.split(b"?")[0].decode() == path
    assert dict(request.url.params) == (query or {})
    if body is NO_BODY:
        assert request.content == b""
    else:
        assert json.loads(request.content) == body
    if method == "GET":
        assert "content-type" not in request.headers
    else:
        assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] in ("application/json", "*/*")
    assert request.headers["xproxy-api-key"] == API_KEY
    if result_type is None:
        assert result is None
    elif isinstance(result_type, (type, tuple)):
        assert isinstance(result, result_type), type(result)
    else:
        assert isinstance(result, list) and all(isinstance(item, result_type[0]) for item in result)
    return result
