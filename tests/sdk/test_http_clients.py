"""A user's own HTTP client: ``httpx2`` or ``httpx`` (the official SDK's documented way to set proxies, mTLS or
event hooks), sync and async, against our server on a loopback port."""

from __future__ import annotations

from typing import Any

import pytest

import payi
from tests.conftest import Live

httpx = pytest.importorskip("httpx")  # installed with the test extra (google-genai depends on it)


def test_an_httpx_client_with_event_hooks(live: Live) -> None:
    seen: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda request: seen.append(request.url.path)]}, timeout=7.0)
    with payi.Payi(api_key=live.app_key, base_url=live.url, http_client=http) as client:
        created = client.limits.create(limit_name="via-httpx", max=3.0)
        assert client.limits.retrieve(created.limit.limit_id).limit.max == 3.0
        raw = client.limits.with_raw_response.list(limit_name="via-httpx")
        assert isinstance(raw.http_response, httpx.Response)
        assert [limit.limit_id for limit in raw.parse()] == [created.limit.limit_id]
        assert client.timeout == http.timeout  # the client's own timeout is kept
        with pytest.raises(payi.NotFoundError):
            client.limits.retrieve("missing")
    assert seen[:2] == ["/api/v1/limits", f"/api/v1/limits/{created.limit.limit_id}"]


async def test_an_async_httpx_client(live: Live) -> None:
    async with payi.AsyncPayi(
        api_key=live.app_key, base_url=live.url, http_client=httpx.AsyncClient()
    ) as client:
        created = await client.limits.create(limit_name="via-async-httpx", max=2.0)
        async with client.limits.with_streaming_response.retrieve(created.limit.limit_id) as streamed:
            assert (await streamed.json())["limit"]["max"] == 2.0  # type: ignore[index]
        response = await client.get(f"/api/v1/limits/{created.limit.limit_id}", cast_to=httpx.Response)
        assert isinstance(response, httpx.Response) and response.status_code == 200


def test_httpx_transport_errors_are_retried_then_mapped(clean_env: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []

    def fail(request: Any) -> Any:
        attempts.append(request)
        raise httpx.ReadTimeout("slow", request=request)

    http = httpx.Client(transport=httpx.MockTransport(fail))
    client = payi.Payi(api_key="k", base_url="http://payi.test", http_client=http, max_retries=1)
    client._sleep = lambda seconds: None  # type: ignore[method-assign]
    with pytest.raises(payi.APITimeoutError):
        client.limits.retrieve("a")
    assert len(attempts) == 2

    def refuse(request: Any) -> Any:
        raise httpx.ConnectError("refused", request=request)

    client = client.with_options(http_client=httpx.Client(transport=httpx.MockTransport(refuse)), max_retries=0)
    with pytest.raises(payi.APIConnectionError) as caught:
        client.limits.retrieve("a")
    assert not isinstance(caught.value, payi.APITimeoutError)


def test_a_wrong_client_type_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError, match="http_client"):
        payi.Payi(api_key="k", http_client=httpx.AsyncClient())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="http_client"):
        payi.AsyncPayi(api_key="k", http_client=httpx.Client())  # type: ignore[arg-type]


async def test_the_aiohttp_client_against_the_server(live: Live) -> None:
    pytest.importorskip("aiohttp")
    async with payi.AsyncPayi(
        api_key=live.app_key, base_url=live.url, http_client=payi.DefaultAioHttpClient(), max_retries=0
    ) as client:
        created = await client.limits.create(limit_name="via-aiohttp", max=4.0, properties={"team": "é"})
        assert created.limit.properties == {"team": "é"}
        assert [limit.limit_id async for limit in client.limits.list(limit_name="via-aiohttp")] == [
            created.limit.limit_id
        ]
        raw = await client.limits.with_raw_response.retrieve(created.limit.limit_id)
        assert raw.http_response.http_version == "HTTP/1.1" and (await raw.parse()).limit.max == 4.0
        async with client.limits.with_streaming_response.retrieve(created.limit.limit_id) as streamed:
            assert b"via-aiohttp" in b"".join([chunk async for chunk in streamed.iter_bytes()])
        with pytest.raises(payi.NotFoundError):
            await client.limits.retrieve("missing")


async def test_the_aiohttp_client_maps_connection_errors_and_timeouts() -> None:
    pytest.importorskip("aiohttp")
    import asyncio

    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)  # accepts, never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with payi.AsyncPayi(
            api_key="k", base_url=f"http://127.0.0.1:{port}", http_client=payi.DefaultAioHttpClient(),
            max_retries=0, timeout=0.3,
        ) as client:
            with pytest.raises(payi.APITimeoutError):
                await client.limits.retrieve("a")
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
    async with payi.AsyncPayi(
        api_key="k", base_url="http://127.0.0.1:9", http_client=payi.DefaultAioHttpClient(), max_retries=1
    ) as client:
        slept: list[float] = []

        async def no_sleep(seconds: float) -> None:
            slept.append(seconds)

        client._sleep = no_sleep  # type: ignore[method-assign]
        with pytest.raises(payi.APIConnectionError) as caught:
            await client.limits.retrieve("a")
        assert not isinstance(caught.value, payi.APITimeoutError) and len(slept) == 1  # retried once


def test_without_aiohttp_the_aiohttp_client_says_what_to_install() -> None:
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['aiohttp'] = None\n"  # as if not installed
        "import payi\n"
        "try:\n    payi.DefaultAioHttpClient()\nexcept RuntimeError as exc:\n    print('refused:', exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused: To use the aiohttp client you must install aiohttp")
