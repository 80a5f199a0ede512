"""``Stream`` / ``AsyncStream``: JSON events of a server-sent-event response, up to ``[DONE]``."""

from __future__ import annotations

import httpx2

from payi import AsyncStream, Stream

BODY = b'data: {"n": 1}\n\nevent: x\ndata: {"n": 2}\n\ndata: [DONE]\n\ndata: {"n": 3}\n\n'


def sse(body: bytes) -> httpx2.Response:
    return httpx2.Response(
        200,
        headers={"content-type": "text/event-stream"},
        content=body,
        request=httpx2.Request("GET", "http://payi.test/"),
    )


def test_stream() -> None:
    response = sse(BODY)
    assert list(Stream(response=response, parse=lambda data: data["n"])) == [1, 2]  # type: ignore[index]
    assert response.is_closed


async def test_async_stream() -> None:
    stream: AsyncStream[object] = AsyncStream(response=sse(BODY))
    assert [event async for event in stream] == [{"n": 1}, {"n": 2}]
    await stream.close()
