"""A fake upstream LLM provider: OpenAI, Azure OpenAI, Anthropic (and Azure/Foundry Anthropic) and AWS Bedrock.

A raw ASGI app, fast enough to sit behind our proxy in throughput benchmarks, faithful enough that the real
``openai``, ``anthropic`` and ``boto3`` clients work against it. It records every request for assertions.

    fake = create_app(FakeConfig(stream_chunks=3))
    with serve_app(fake) as base_url:            # tests/fakes/serve.py
        OpenAI(base_url=f"{base_url}/v1", api_key="sk-fake").chat.completions.create(...)
    fake.last().json()["messages"]; fake.counts["openai.chat"]

Routes (matched on the path suffix, so any prefix works, e.g. ``/anthropic/v1/messages`` for Foundry):

=================================================  =============================
``POST .../v1/chat/completions``                   ``openai.chat``
``POST .../v1/responses``                          ``openai.responses``
``POST .../v1/embeddings``                         ``openai.embeddings``
``POST .../openai/deployments/{d}/chat/completions`` ``azure_openai.chat`` (also ``/embeddings``, ``/responses``)
``POST .../openai/v1/chat/completions``            ``azure_openai.chat`` (also ``/embeddings``, ``/responses``)
``POST .../v1/messages``                           ``anthropic.messages``
``POST .../v1/messages/count_tokens``              ``anthropic.count_tokens``
``POST .../model/{modelId}/invoke``                ``bedrock.invoke``
``POST .../model/{modelId}/invoke-with-response-stream`` ``bedrock.invoke_stream``
``POST .../model/{modelId}/converse``              ``bedrock.converse``
``POST .../model/{modelId}/converse-stream``       ``bedrock.converse_stream``
``GET /_fake/stats``, ``GET /_fake/requests``, ``POST /_fake/reset``  introspection for out-of-process use
=================================================  =============================

Per-request controls: headers ``x-fake-<name>`` (see ``CONTROL_HEADERS``), or the same names in a top-level
``"x_fake": {...}`` object of a JSON body, or (Converse, whose body boto3 validates) ``requestMetadata``
entries named ``x-fake-<name>``. Body controls survive a proxy that does not forward unknown headers.
``FakeConfig`` holds the defaults; it is read on every request, so a test may change ``fake.config`` live.

Recording: ``fake.requests`` (a deque of ``RecordedRequest``: method, path, raw_path, query, headers, body,
endpoint, model, stream, status, usage, sigv4_valid, chunks_sent, completed, disconnected, reset),
``fake.counts`` (Counter per endpoint, ``unknown`` included), ``fake.last(endpoint)``, ``fake.requests_for``,
``fake.wait_for(predicate)`` / ``await fake.async_wait_for(predicate)`` (the server may run in another
thread), ``fake.reset()``. ``status``/``completed``/``chunks_sent`` are final by the time the client has read
the whole response; ``disconnected`` and ``finished_at`` can lag, so wait for them.

In-process use (``httpx2.ASGITransport``) works for everything except ``hang``/``stall`` (that transport
buffers the whole response) and ``reset`` (it raises ``FakeUpstreamReset`` into the client instead of
dropping a connection); use ``serve_app`` for those.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from tests.fakes import bedrock as B
from tests.fakes import eventstream as es
from tests.fakes import providers as P
from tests.fakes import usage as U
from tests.fakes.config import (
    CONTROL_HEADERS,
    BadControl,
    Controls,
    FakeConfig,
    RecordedRequest,
    collect_controls,
)
from tests.fakes.providers import Gen
from tests.fakes.sigv4 import verify_sigv4
from tests.fakes.usage import Usage

__all__ = [
    "CONTROL_HEADERS",
    "ENDPOINTS",
    "FakeConfig",
    "FakeUpstream",
    "FakeUpstreamReset",
    "RecordedRequest",
    "create_app",
    "route",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

ENDPOINTS = (
    "openai.chat",
    "openai.responses",
    "openai.embeddings",
    "azure_openai.chat",
    "azure_openai.responses",
    "azure_openai.embeddings",
    "anthropic.messages",
    "anthropic.count_tokens",
    "bedrock.invoke",
    "bedrock.invoke_stream",
    "bedrock.converse",
    "bedrock.converse_stream",
)


class FakeUpstreamReset(Exception):
    """Raised inside the ASGI app to make the server abort a response midway."""


@dataclass(slots=True)
class Plan:
    """What to answer: a JSON body or a list of stream frames."""

    status: int
    headers: Headers
    body: bytes | None = None
    frames: list[bytes] | None = None
    error_frame: bytes | None = None  # the provider's in-stream error event


_JSON = (b"content-type", b"application/json")
_SSE = (b"content-type", b"text/event-stream; charset=utf-8")
_EVENTSTREAM = (b"content-type", es.CONTENT_TYPE.encode())
_AZURE_RE = re.compile(
    r"(?:^|/)openai/(?:deployments/([^/]+)/|v1/)?(?:chat/completions|embeddings|responses)$"
)
_PROVIDER = {
    "openai": "openai",
    "azure_openai": "openai",
    "anthropic": "anthropic",
    "bedrock": "bedrock",
}


def route(path: str, raw_path: str) -> tuple[str, str | None]:
    """``(endpoint, deployment or Bedrock model id)``; endpoint ``unknown`` when nothing matches."""
    if "/model/" in raw_path:
        parsed = B.parse_path(raw_path)
        if parsed is not None:
            return parsed
    for suffix, kind in (
        ("/chat/completions", "chat"),
        ("/embeddings", "embeddings"),
        ("/responses", "responses"),
    ):
        if path.endswith(suffix):
            m = _AZURE_RE.search(path)
            if m is not None:
                return f"azure_openai.{kind}", m.group(1)
            return f"openai.{kind}", None
    if path.endswith("/v1/messages"):
        return "anthropic.messages", None
    if path.endswith("/v1/messages/count_tokens"):
        return "anthropic.count_tokens", None
    return "unknown", None


class FakeUpstream:
    """The ASGI app. Attributes for tests: ``config``, ``requests`` (deque of RecordedRequest), ``counts``."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        self.requests: deque[RecordedRequest] = deque(maxlen=self.config.max_recorded)
        self.counts: Counter[str] = Counter()
        self._seq = itertools.count(1)
        self._pieces: dict[tuple[int, int], list[str]] = {}  # (text words, chunks) -> stream pieces

    # ------------------------------------------------------------------------------------------ test API

    def reset(self) -> None:
        self.requests.clear()
        self.counts.clear()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def last(self, endpoint: str | None = None) -> RecordedRequest:
        for rec in reversed(list(self.requests)):  # snapshot: the server thread may be appending
            if endpoint is None or rec.endpoint == endpoint:
                return rec
        raise LookupError(f"no recorded request for {endpoint or 'any endpoint'}")

    def requests_for(self, endpoint: str) -> list[RecordedRequest]:
        return [r for r in list(self.requests) if r.endpoint == endpoint]

    def wait_for(self, predicate: Callable[[RecordedRequest], bool], timeout: float = 5.0) -> RecordedRequest:
        """Block until a recorded request satisfies ``predicate`` (the server may be in another thread)."""
        deadline = time.monotonic() + timeout
        while True:
            for rec in list(self.requests):
                if predicate(rec):
                    return rec
            if time.monotonic() > deadline:
                raise TimeoutError("no recorded request matched")
            time.sleep(0.005)

    async def async_wait_for(
        self, predicate: Callable[[RecordedRequest], bool], within: float = 5.0
    ) -> RecordedRequest:
        """``wait_for`` for async tests (``within`` seconds)."""
        deadline = time.monotonic() + within
        while True:
            for rec in list(self.requests):
                if predicate(rec):
                    return rec
            if time.monotonic() > deadline:
                raise TimeoutError("no recorded request matched")
            await asyncio.sleep(0.005)

    def stats(self) -> dict[str, Any]:
        return {"total": self.total, "counts": dict(self.counts)}

    # ------------------------------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        raw_path_b = scope.get("raw_path")
        path: str = scope["path"]
        raw_path = raw_path_b.decode("latin-1") if raw_path_b else path
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        rec = RecordedRequest(
            seq=next(self._seq),
            method=scope["method"],
            path=path,
            raw_path=raw_path,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body or b"",
            received_at=time.time(),
        )
        if body is None:  # client gone before the body arrived
            rec.disconnected = True
            self._record(rec)
            return
        if path.startswith("/_fake/"):
            await self._introspect(rec, send)
            return
        endpoint, target = route(path, raw_path)
        rec.endpoint = endpoint
        self.counts[endpoint] += 1
        self._record(rec)
        try:
            await self._handle(rec, target, send, receive)
        finally:
            rec.finished_at = time.time()

    def _record(self, rec: RecordedRequest) -> None:
        if self.config.record:
            self.requests.append(rec)

    async def _introspect(self, rec: RecordedRequest, send: Send) -> None:
        if rec.path == "/_fake/stats":
            payload: Any = self.stats()
        elif rec.path == "/_fake/requests":
            payload = [r.summary() for r in list(self.requests)]
        elif rec.path == "/_fake/reset" and rec.method == "POST":
            self.reset()
            payload = {"ok": True}
        else:
            await _send_json(send, 404, [_JSON], orjson.dumps({"error": "unknown fake endpoint"}))
            return
        await _send_json(send, 200, [_JSON], orjson.dumps(payload))

    async def _handle(self, rec: RecordedRequest, target: str | None, send: Send, receive: Receive) -> None:
        endpoint = rec.endpoint
        if endpoint == "unknown" or rec.method != "POST":
            rec.status = 404
            rec.completed = True
            await _send_json(
                send,
                404,
                [_JSON],
                P.openai_error(404, f"Unknown request URL: {rec.method} {rec.path}. (fake upstream)"),
            )
            return
        provider = _PROVIDER[endpoint.split(".", 1)[0]]
        if endpoint.startswith("bedrock.") and self.config.verify_sigv4:
            check = verify_sigv4(
                method=rec.method,
                raw_path=rec.raw_path,
                query=rec.query,
                headers=rec.headers,
                body=rec.body,
                access_key=self.config.aws_access_key_id,
                secret_key=self.config.aws_secret_access_key,
            )
            rec.sigv4_valid = check.ok
            if not check.ok:
                err, extra = B.error(check.status, check.message, check.error_type)
                await self._finish_json(
                    rec, send, Plan(check.status, [_JSON, *extra, *self._base_headers(rec, provider)], err)
                )
                return

        try:
            data: Any = orjson.loads(rec.body) if rec.body else None
        except orjson.JSONDecodeError:
            data = None
        ctl = Controls.defaults(self.config)
        try:
            collect_controls(ctl, rec.headers, data)
        except BadControl as exc:
            rec.status = 400
            rec.completed = True
            await _send_json(send, 400, [_JSON], orjson.dumps({"fake_error": str(exc)}))
            return

        watcher: asyncio.Task[None] | None = None
        try:
            if ctl.hang:
                await self._watch(receive, rec)
                return
            if ctl.latency_ms > 0:
                watcher = asyncio.ensure_future(self._watch(receive, rec))
                await asyncio.sleep(ctl.latency_ms / 1000)
            if ctl.status is not None and ctl.status >= 400:
                plan = self._error_plan(rec, provider, ctl.status, None, ctl.error_type)
            elif not isinstance(data, dict):
                plan = self._error_plan(rec, provider, 400, _invalid_body_message(provider), None)
            else:
                plan = self._plan(rec, target, data, ctl)
            if ctl.garbage and plan.status < 400:
                plan = _garbage(plan, endpoint)
            if plan.frames is None:
                await self._finish_json(rec, send, plan, ctl)
            else:
                if watcher is None and not self._coalesce(ctl):
                    watcher = asyncio.ensure_future(self._watch(receive, rec))
                await self._stream(rec, send, plan, ctl, watcher)
        finally:
            if watcher is not None and not watcher.done():
                watcher.cancel()

    # ------------------------------------------------------------------------------------------ sending

    async def _watch(self, receive: Receive, rec: RecordedRequest) -> None:
        """Wait for http.disconnect; mark the request if the response was not complete by then."""
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                if not rec.completed:
                    rec.disconnected = True
                return

    def _coalesce(self, ctl: Controls) -> bool:
        return (
            self.config.coalesce_streams
            and ctl.chunk_delay_ms <= 0
            and ctl.reset_after_chunks is None
            and ctl.stall_after_chunks is None
            and ctl.stream_error_after_chunks is None
        )

    async def _finish_json(
        self, rec: RecordedRequest, send: Send, plan: Plan, ctl: Controls | None = None
    ) -> None:
        body = plan.body or b""
        rec.status = plan.status
        headers = [*plan.headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": plan.status, "headers": headers})
        if ctl is not None and ctl.reset_after_chunks is not None:
            rec.reset = True
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            raise FakeUpstreamReset("x-fake-reset-after-chunks")
        # Bookkeeping before the last byte: once a client has the whole response, the record is final.
        rec.completed = not rec.disconnected
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _stream(
        self, rec: RecordedRequest, send: Send, plan: Plan, ctl: Controls, watcher: asyncio.Task[None] | None
    ) -> None:
        frames = plan.frames or []
        rec.status = plan.status
        await send({"type": "http.response.start", "status": plan.status, "headers": plan.headers})
        if self._coalesce(ctl):
            rec.chunks_sent = len(frames)
            rec.completed = not rec.disconnected
            await send({"type": "http.response.body", "body": b"".join(frames), "more_body": False})
            return
        delay = ctl.chunk_delay_ms / 1000
        for i, frame in enumerate(frames):
            if ctl.reset_after_chunks is not None and i >= ctl.reset_after_chunks:
                rec.reset = True
                raise FakeUpstreamReset("x-fake-reset-after-chunks")
            if ctl.stall_after_chunks is not None and i >= ctl.stall_after_chunks:
                if watcher is not None:
                    await watcher
                return
            if ctl.stream_error_after_chunks is not None and i >= ctl.stream_error_after_chunks:
                if not rec.disconnected:
                    rec.chunks_sent += 1
                    rec.completed = True
                await send(
                    {"type": "http.response.body", "body": plan.error_frame or b"", "more_body": False}
                )
                return
            if i and delay > 0:
                await asyncio.sleep(delay)
            # After a disconnect the server drops what we send; keep producing anyway (a proxy may drain).
            if not rec.disconnected:
                rec.chunks_sent += 1
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        if ctl.reset_after_chunks is not None:
            rec.reset = True
            raise FakeUpstreamReset("x-fake-reset-after-chunks")
        rec.completed = not rec.disconnected
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    # ------------------------------------------------------------------------------------------ planning

    def _base_headers(self, rec: RecordedRequest, provider: str) -> Headers:
        if provider == "anthropic":
            return [
                (b"request-id", P.anthropic_request_id(rec.seq).encode()),
                (b"anthropic-organization-id", b"00000000-0000-4000-8000-00000000fa4e"),
            ]
        if provider == "bedrock":
            return [(b"x-amzn-requestid", P.aws_request_id(rec.seq).encode())]
        h: Headers = [
            (b"x-request-id", P.openai_request_id(rec.seq).encode()),
            (b"openai-version", b"2020-10-01"),
            (b"openai-organization", b"fake-org"),
            (b"openai-processing-ms", b"1"),
        ]
        if rec.endpoint.startswith("azure_openai."):
            h.append((b"apim-request-id", P.aws_request_id(rec.seq).encode()))
            h.append((b"x-ms-region", b"East US"))
        return h

    def _error_plan(
        self, rec: RecordedRequest, provider: str, status: int, message: str | None, error_type: str | None
    ) -> Plan:
        headers = [_JSON, *self._base_headers(rec, provider)]
        if provider == "anthropic":
            body = P.anthropic_error(status, message)
        elif provider == "bedrock":
            body, extra = B.error(status, message, error_type)
            headers += extra
        else:
            body = P.openai_error(status, message)
        return Plan(status, headers, body)

    def _gen(
        self,
        rec: RecordedRequest,
        model: str,
        usage: Usage,
        max_tokens: int | None,
        ctl: Controls,
        frames: int = 1,
        **kw: Any,
    ) -> Gen:
        rec.usage = usage
        first = int(ctl.latency_ms)
        return Gen(
            seq=rec.seq,
            model=model,
            usage=usage,
            pieces=self._text_pieces(usage, ctl),
            truncated=max_tokens is not None and usage.output >= max_tokens,
            created=self.config.created,
            first_byte_ms=first,
            total_ms=first + int(ctl.chunk_delay_ms * max(0, frames - 1)),
            **kw,
        )

    def _text_pieces(self, usage: Usage, ctl: Controls) -> list[str]:
        key = (max(0, usage.output - usage.reasoning), max(1, ctl.chunks))
        pieces = self._pieces.get(key)
        if pieces is None:
            if len(self._pieces) > 4096:
                self._pieces.clear()
            pieces = self._pieces[key] = P.split_pieces(P.completion_text(key[0]), key[1])
        return pieces

    def _usage(
        self, data: dict[str, Any], max_tokens: int | None, kind: str, ctl: Controls, reasoning: bool
    ) -> Usage:
        c = self.config
        output = (
            c.default_output_tokens
            if max_tokens is None
            else max(0, min(max_tokens, c.default_output_tokens))
        )
        if kind == "openai_embeddings":
            output = 0
        base = Usage(
            input=U.estimate_input_tokens(data, c.input_token_factor),
            output=output,
            reasoning=min(c.reasoning_tokens, output) if reasoning else 0,
        )
        if ctl.usage is not None:
            return U.apply_override(kind, base, ctl.usage)
        return base

    def _plan(self, rec: RecordedRequest, target: str | None, data: dict[str, Any], ctl: Controls) -> Plan:
        endpoint = rec.endpoint
        if endpoint.startswith("bedrock."):
            return self._plan_bedrock(rec, target or "", data, ctl)
        if endpoint.startswith("anthropic."):
            return self._plan_anthropic(rec, data, ctl)
        return self._plan_openai(rec, target, data, ctl)

    def _plan_openai(
        self, rec: RecordedRequest, deployment: str | None, data: dict[str, Any], ctl: Controls
    ) -> Plan:
        endpoint = rec.endpoint
        kind = endpoint.split(".", 1)[1]
        azure = endpoint.startswith("azure_openai.")
        requested = data.get("model")
        rec.model = deployment or (requested if isinstance(requested, str) else None)
        if rec.model is None:
            return self._error_plan(rec, "openai", 400, "you must provide a model parameter", None)
        if deployment is not None:
            model = self.config.azure_deployment_models.get(deployment, deployment)
        else:
            model = self.config.model_aliases.get(rec.model, rec.model)
        headers = self._base_headers(rec, "openai")
        if azure:
            headers.append((b"x-ms-deployment-name", (deployment or rec.model).encode()))
        stream = data.get("stream") is True and kind != "embeddings"
        rec.stream = stream

        if kind == "embeddings":
            inp = data.get("input")
            if inp is None:
                return self._error_plan(rec, "openai", 400, "'input' is a required property", None)
            usage = self._usage(data, None, "openai_embeddings", ctl, False)
            rec.usage = usage
            count = len(inp) if isinstance(inp, list) and inp and not isinstance(inp[0], int) else 1
            dims = data.get("dimensions")
            dims = dims if isinstance(dims, int) and dims > 0 else self.config.embedding_dimensions
            g = self._gen(rec, model, usage, None, ctl)
            encoding = "base64" if data.get("encoding_format") == "base64" else "float"
            return Plan(200, [_JSON, *headers], P.embeddings_body(g, count, dims, encoding))

        if kind == "chat":
            if not isinstance(data.get("messages"), list):
                return self._error_plan(rec, "openai", 400, "'messages' is a required property", None)
            max_tokens = _opt_int(data.get("max_completion_tokens", data.get("max_tokens")))
            usage = self._usage(data, max_tokens, "openai_chat", ctl, True)
            opts = data.get("stream_options")
            include_usage = isinstance(opts, dict) and opts.get("include_usage") is True
            filters = azure and self.config.azure_content_filters
            g = self._gen(
                rec, model, usage, max_tokens, ctl, include_usage=include_usage, azure_filters=filters
            )
            if not stream:
                return Plan(200, [_JSON, *headers], P.chat_body(g))
            frames = P.chat_frames(g)
            return Plan(200, [_SSE, *headers], frames=frames, error_frame=P.chat_stream_error_frame())

        # responses
        max_tokens = _opt_int(data.get("max_output_tokens"))
        usage = self._usage(data, max_tokens, "openai_responses", ctl, True)
        g = self._gen(rec, model, usage, max_tokens, ctl, request=data)
        if not stream:
            return Plan(200, [_JSON, *headers], P.responses_body(g))
        return Plan(
            200, [_SSE, *headers], frames=P.responses_frames(g), error_frame=P.responses_stream_error_frame()
        )

    def _plan_anthropic(self, rec: RecordedRequest, data: dict[str, Any], ctl: Controls) -> Plan:
        model = data.get("model")
        rec.model = model if isinstance(model, str) else None
        headers = self._base_headers(rec, "anthropic")
        if rec.model is None:
            return self._error_plan(rec, "anthropic", 400, "model: Field required", None)
        if not isinstance(data.get("messages"), list):
            return self._error_plan(rec, "anthropic", 400, "messages: Field required", None)
        if rec.endpoint == "anthropic.count_tokens":
            usage = self._usage(data, None, "anthropic", ctl, False)
            rec.usage = usage
            return Plan(200, [_JSON, *headers], orjson.dumps({"input_tokens": usage.all_input}))
        max_tokens = _opt_int(data.get("max_tokens"))
        if max_tokens is None:
            return self._error_plan(rec, "anthropic", 400, "max_tokens: Field required", None)
        usage = self._usage(data, max_tokens, "anthropic", ctl, False)
        reported = self.config.model_aliases.get(rec.model, rec.model)
        g = self._gen(rec, reported, usage, max_tokens, ctl, full_delta_usage=ctl.anthropic_full_delta_usage)
        rec.stream = data.get("stream") is True
        if not rec.stream:
            return Plan(200, [_JSON, *headers], P.anthropic_body(g))
        return Plan(
            200,
            [_SSE, (b"cache-control", b"no-cache"), *headers],
            frames=P.anthropic_frames(g),
            error_frame=P.anthropic_stream_error_frame(),
        )

    def _plan_bedrock(self, rec: RecordedRequest, model_id: str, data: dict[str, Any], ctl: Controls) -> Plan:
        endpoint = rec.endpoint
        rec.model = model_id
        headers = self._base_headers(rec, "bedrock")
        padding = self.config.bedrock_padding
        if endpoint in ("bedrock.converse", "bedrock.converse_stream"):
            if not isinstance(data.get("messages"), list):
                return self._error_plan(
                    rec, "bedrock", 400, "The model returned the following errors: messages: required", None
                )
            max_tokens = B.max_tokens("converse", data)
            usage = self._usage(data, max_tokens, "bedrock", ctl, False)
            if endpoint == "bedrock.converse":
                g = self._gen(rec, model_id, usage, max_tokens, ctl)
                return Plan(200, [_JSON, *headers], B.converse_body(g))
            rec.stream = True
            g = self._gen(
                rec,
                model_id,
                usage,
                max_tokens,
                ctl,
                frames=len(self._text_pieces(usage, ctl)) + 4,
                padding=padding,
            )
            return Plan(
                200,
                [_EVENTSTREAM, *headers],
                frames=B.converse_stream_frames(g),
                error_frame=B.stream_error_frame(),
            )

        fam = B.family(model_id, data)
        if fam is None or (fam == "titan_embed" and endpoint == "bedrock.invoke_stream"):
            return self._error_plan(rec, "bedrock", 400, "The provided model identifier is invalid.", None)
        max_tokens = B.max_tokens(fam, data)
        usage = self._usage(data, max_tokens, "bedrock", ctl, False)
        if fam == "titan_embed":
            usage = replace(usage, output=0)
        model = B.response_model_name(model_id) if fam == "anthropic" else model_id
        if endpoint == "bedrock.invoke":
            g = self._gen(rec, model, usage, max_tokens, ctl)
            inv_headers = [(b"content-type", b"application/json"), *headers, *B.invoke_headers(g)]
            return Plan(200, inv_headers, B.invoke_body(fam, g, self.config.embedding_dimensions))
        rec.stream = True
        g = self._gen(
            rec, model, usage, max_tokens, ctl, frames=len(self._text_pieces(usage, ctl)) + 5, padding=padding
        )
        return Plan(
            200,
            [_EVENTSTREAM, (b"x-amzn-bedrock-content-type", b"application/json"), *headers],
            frames=B.invoke_stream_frames(fam, g),
            error_frame=B.stream_error_frame(),
        )


# ---------------------------------------------------------------------------------------------- helpers


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _invalid_body_message(provider: str) -> str:
    if provider == "anthropic":
        return "Request body is not valid JSON."
    if provider == "bedrock":
        return "Malformed input request, please reformat your input and try again."
    return "We could not parse the JSON body of your request."


def _garbage(plan: Plan, endpoint: str) -> Plan:
    if plan.frames is None:
        return replace(
            plan,
            body=b'{"id": "fake-garbage", "object": "chat.completion", "choices": [{"message": {"content": "trunc',
        )
    if endpoint.startswith("bedrock."):
        return replace(plan, frames=B.garbage_frames())
    if endpoint.startswith("anthropic."):
        return replace(
            plan, frames=[b'event: message_start\ndata: {"type": "message_start", "message": {"id": \n\n']
        )
    if endpoint.endswith(".responses"):
        return replace(
            plan, frames=[b'event: response.created\ndata: {"type": "response.created", "response": \n\n']
        )
    return replace(
        plan,
        frames=[b'data: {"id": "chatcmpl-garbage", "choices": [{"delta": {"content": "tru\n\n', P.SSE_DONE],
    )


async def _read_body(receive: Receive) -> bytes | None:
    msg = await receive()
    if msg["type"] == "http.disconnect":
        return None
    body: bytes = msg.get("body", b"")
    if not msg.get("more_body", False):
        return body
    parts = [body]
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return None
        parts.append(msg.get("body", b""))
        if not msg.get("more_body", False):
            return b"".join(parts)


async def _send_json(send: Send, status: int, headers: Headers, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def create_app(config: FakeConfig | None = None) -> FakeUpstream:
    """A new fake upstream (an ASGI app with its own recording)."""
    return FakeUpstream(config)


if __name__ == "__main__":
    from tests.fakes.cli import main

    main()
