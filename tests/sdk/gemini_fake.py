"""A fake Gemini upstream (Gemini API and Vertex AI paths) for the google-genai instrumentation tests.

``POST .../models/<model>:generateContent`` answers one response; ``:streamGenerateContent`` answers SSE chunks
(text deltas, then a last chunk with the cumulative usage, as Gemini does). The request headers steer it:
``x-fake-usage`` (JSON ``usageMetadata`` to answer with), ``x-fake-status`` (an error status), ``x-fake-call``
(a function call to answer with). Served with ``tests.fakes.serve.serve_app``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

WORDS = ["Gemini", "says", "hello", "to", "you"]
DEFAULT_USAGE: dict[str, Any] = {
    "promptTokenCount": 12,
    "candidatesTokenCount": 5,
    "totalTokenCount": 17,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
    "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 5}],
}


@dataclass
class GeminiFake:
    """The app, and what it saw: ``paths`` of the requests, in order."""

    paths: list[str] = field(default_factory=list)
    served: int = 0

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])

    async def _handle(self, request: Request) -> Response:
        self.paths.append(request.url.path)
        await request.body()
        status = int(request.headers.get("x-fake-status", "200"))
        if status != 200:
            error = {"code": status, "message": "fake failure", "status": "RESOURCE_EXHAUSTED"}
            return JSONResponse({"error": error}, status_code=status, headers={"x-fake-error": "1"})
        self.served += 1
        model = request.url.path.rsplit("/", 1)[-1].split(":")[0]
        usage = json.loads(request.headers.get("x-fake-usage") or json.dumps(DEFAULT_USAGE))
        call = request.headers.get("x-fake-call")
        parts: list[dict[str, Any]] = [{"text": " ".join(WORDS)}]
        if call:
            parts = [{"functionCall": {"name": call, "args": {"city": "Oslo"}}}]
        response_id = f"gemini-{self.served}"
        final = {
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
            "usageMetadata": usage,
            "modelVersion": model,
            "responseId": response_id,
        }
        if ":streamGenerateContent" not in request.url.path:
            return JSONResponse(final, headers={"x-fake-upstream": "gemini"})

        async def events() -> Any:
            for word in WORDS[:-1]:
                delta = {
                    "candidates": [{"content": {"role": "model", "parts": [{"text": word + " "}]}}],
                    "modelVersion": model,
                    "responseId": response_id,
                }
                yield f"data: {json.dumps(delta)}\r\n\r\n"
            last = dict(final, candidates=[{"content": {"role": "model", "parts": [{"text": WORDS[-1]}]}}])
            yield f"data: {json.dumps(last)}\r\n\r\n"

        return StreamingResponse(events(), media_type="text/event-stream")
