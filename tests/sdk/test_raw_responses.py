"""``with_raw_response`` / ``with_streaming_response``, ``cast_to=httpx2.Response`` and binary ``content``.

The flows run against our real server on a loopback port; the retry and error cases use the recording transport.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

import httpx2
import pytest

import payi
from payi._resource import AsyncAPIResource, SyncAPIResource
from payi._response import APIResponse, AsyncAPIResponse, StreamAlreadyConsumed
from payi.pagination import AsyncCursorPage, SyncCursorPage
from payi.types.limit import LimitResponse
from tests.conftest import Live

from .wire import LIMIT_RESPONSE, Api, Recorder


def resource_methods(resource: object, prefix: str = "") -> list[tuple[str, str]]:
    """Every (resource path, public method name) of a client, walking sub-resources."""
    found: list[tuple[str, str]] = []
    for name in dir(type(resource)):
        if name.startswith("_") or name in ("with_raw_response", "with_streaming_response"):
            continue
        value = getattr(resource, name)
        if isinstance(value, (SyncAPIResource, AsyncAPIResource)):
            found += resource_methods(value, f"{prefix}{name}.")
        elif isinstance(resource, (SyncAPIResource, AsyncAPIResource)) and callable(value):
            found.append((prefix.rstrip("."), name))
    return found


def walk(root: Any, path: str) -> Any:
    for part in filter(None, path.split(".")):
        root = getattr(root, part)
    return root


@pytest.mark.parametrize("client_class", [payi.Payi, payi.AsyncPayi])
def test_every_resource_method_has_raw_and_streaming_forms(client_class: type) -> None:
    client = client_class(api_key="k")
    methods = resource_methods(client)
    assert len(methods) > 40  # limits, ingest, categories, use_cases, requests, admin
    for path, name in methods:
        for form in ("with_raw_response", "with_streaming_response"):
            from_resource = getattr(getattr(walk(client, path), form), name)
            from_client = getattr(walk(getattr(client, form), path), name)
            assert from_resource.__name__ == from_client.__name__ == name
    with pytest.raises(AttributeError):
        _ = client.with_raw_response.post  # the client's own verbs take cast_to: no raw form, like the official


def test_sync_raw_and_streamed_against_the_server(live: Live) -> None:
    with payi.Payi(api_key=live.app_key, base_url=live.url, _strict_response_validation=True) as client:
        raw = client.limits.with_raw_response.create(limit_name="raw-a", max=10.0)
        assert isinstance(raw, APIResponse) and raw.status_code == 201 and raw.retries_taken == 0
        assert raw.headers["content-type"].startswith("application/json")
        assert raw.http_request.method == raw.method == "POST"
        assert raw.url.path == "/api/v1/limits"
        created = raw.parse()
        assert isinstance(created, LimitResponse) and created.limit.limit_name == "raw-a"
        assert raw.parse() is created  # parsed once
        assert raw.parse(to=dict)["limit"]["max"] == 10.0
        assert json.loads(raw.text())["limit"]["limit_id"] == created.limit.limit_id

        listed = client.with_raw_response.limits.list(limit_name="raw-a")
        page = listed.parse()
        assert isinstance(page, SyncCursorPage)
        assert [limit.limit_id for limit in page] == [created.limit.limit_id]

        with client.limits.with_streaming_response.retrieve(created.limit.limit_id) as streamed:
            assert not streamed.is_closed
            body = b"".join(streamed.iter_bytes())
            with pytest.raises(StreamAlreadyConsumed):
                streamed.read()
        assert streamed.is_closed and json.loads(body)["limit"]["limit_name"] == "raw-a"

        with client.with_streaming_response.limits.retrieve(created.limit.limit_id) as streamed:
            assert streamed.parse().limit.limit_id == created.limit.limit_id
            assert streamed.json() == json.loads(streamed.text())

        http = client.get(f"/api/v1/limits/{created.limit.limit_id}", cast_to=httpx2.Response)
        assert isinstance(http, httpx2.Response) and http.json()["limit"]["max"] == 10.0

        with pytest.raises(payi.NotFoundError):
            client.limits.with_raw_response.retrieve("no-such-limit")
        with pytest.raises(payi.NotFoundError), client.limits.with_streaming_response.retrieve("nope"):
            pass


async def test_async_raw_and_streamed_against_the_server(live: Live) -> None:
    async with payi.AsyncPayi(api_key=live.app_key, base_url=live.url) as client:
        raw = await client.limits.with_raw_response.create(limit_name="raw-b", max=5.0)
        assert isinstance(raw, AsyncAPIResponse) and raw.status_code == 201
        created = await raw.parse()
        assert created.limit.limit_name == "raw-b"

        listed = await client.with_raw_response.limits.list(limit_name="raw-b")
        page = await listed.parse()
        assert isinstance(page, AsyncCursorPage)
        assert [limit.limit_id async for limit in page] == [created.limit.limit_id]

        async with client.limits.with_streaming_response.retrieve(created.limit.limit_id) as streamed:
            lines = [line async for line in streamed.iter_lines()]
        assert streamed.is_closed and json.loads("".join(lines))["limit"]["max"] == 5.0

        async with client.with_streaming_response.limits.list() as streamed:
            assert created.limit.limit_id in [limit.limit_id async for limit in await streamed.parse()]

        http = await client.post(
            "/api/v1/limits", cast_to=httpx2.Response, content=b'{"limit_name": "raw-c", "max": 1}'
        )
        assert http.status_code == 201 and http.json()["limit"]["limit_name"] == "raw-c"


def test_retries_taken_and_the_mode_header_is_not_sent(api: Api) -> None:
    api.recorder.reply(httpx2.Response(503, json={"message": "busy"}))
    api.recorder.json(LIMIT_RESPONSE, headers={"x-request-id": "abc"})
    raw = api.call(lambda c: c.limits.with_raw_response.retrieve("2579", extra_headers={"X-Mine": "1"}))
    assert raw.retries_taken == 1 and raw.headers["x-request-id"] == "abc"
    assert "x-stainless-raw-response" not in api.recorder.last.headers
    assert api.recorder.last.headers["x-mine"] == "1"
    parsed = raw.parse() if api.mode == "sync" else asyncio.run(raw.parse())
    assert parsed.limit.limit_id == "2579"


def test_binary_content_is_sent_as_is(api: Api) -> None:
    api.call(lambda c: c.post("/upload", cast_to=object, content=b"\x00\x01binary"))
    assert api.recorder.last.content == b"\x00\x01binary"
    with pytest.warns(DeprecationWarning):
        api.call(lambda c: c.put("/upload", cast_to=object, body=b"raw"))
    assert api.recorder.last.content == b"raw"
    with pytest.raises(TypeError):
        api.call(lambda c: c.post("/upload", cast_to=object, body={"a": 1}, content=b"x"))


def test_a_streamed_error_is_read_and_raised(recorder: Recorder, clean_env: pytest.MonkeyPatch) -> None:
    recorder.json({"message": "no"}, status=403)
    client = payi.Payi(api_key="k", base_url="http://x", http_client=httpx2.Client(transport=httpx2.MockTransport(recorder)))
    with pytest.raises(payi.PermissionDeniedError) as caught, client.limits.with_streaming_response.list():
        pass
    assert caught.value.body == {"message": "no"}


def test_one_definition_serves_both_clients() -> None:
    """Each endpoint is defined once: the sync and async resource classes share it and add no methods."""
    from payi._resource import endpoint, paged

    sync_client, async_client = payi.Payi(api_key="k"), payi.AsyncPayi(api_key="k")
    methods = resource_methods(sync_client)
    assert resource_methods(async_client) == methods
    for path, name in methods:
        sync_resource, async_resource = walk(sync_client, path), walk(async_client, path)
        shared = inspect.getattr_static(type(sync_resource), name)
        assert shared is inspect.getattr_static(type(async_resource), name)
        assert isinstance(shared, (endpoint, paged)), (path, name)
        assert inspect.iscoroutinefunction(getattr(async_resource, name)) is not isinstance(shared, paged)
        assert not inspect.iscoroutinefunction(getattr(sync_resource, name))
        assert "self" not in inspect.signature(getattr(sync_resource, name)).parameters
        for resource in (sync_resource, async_resource):
            assert not [k for k, v in vars(type(resource)).items() if inspect.isfunction(v)], type(resource)
