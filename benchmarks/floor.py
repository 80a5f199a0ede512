"""The floor of our stack: the thinnest proxy uvicorn + httptools + uvloop + aiohttp + orjson allow.

Reads the body, POSTs it to ``FLOOR_UPSTREAM`` + the request's path with aiohttp, and answers: a JSON answer is
parsed with orjson, given one key and re-encoded; a stream is forwarded chunk by chunk. No authentication, no
pricing, no record: what any proxy on this stack pays before doing any work of its own. Served by
``benchmarks.bench_floor`` as ``uvicorn benchmarks.floor:app --loop uvloop --http httptools``.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp
import orjson

UPSTREAM = os.environ.get("FLOOR_UPSTREAM", "http://127.0.0.1:9")
_session: aiohttp.ClientSession | None = None


async def _lifespan(receive: Any, send: Any) -> None:
    global _session
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if _session is not None:
                await _session.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    assert _session is not None
    headers = {"content-type": "application/json"}
    async with _session.post(UPSTREAM + scope["path"], data=body, headers=headers) as response:
        if response.content_type == "text/event-stream":
            await send({"type": "http.response.start", "status": response.status,
                        "headers": [(b"content-type", b"text/event-stream")]})
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        data = orjson.loads(await response.read())
        data["xproxy_result"] = {"request_id": "0"}
        out = orjson.dumps(data)
        await send({"type": "http.response.start", "status": response.status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]})
        await send({"type": "http.response.body", "body": out})
