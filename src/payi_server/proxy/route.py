"""The proxy route: ``/api/v1/proxy/<provider>/<path>``, any method, query string kept.

One request: authenticate (application keys) -> read attribution -> check the upstream -> let the adapter read
the request -> admit it through ``metering.gate`` (its estimate held on the named limits; a blocked call never
reaches the provider) -> forward -> answer with the provider's response plus ``xproxy_result`` (streams chunk by
chunk, never buffered) -> record through the one metering path after the response (the holds settle there,
whatever happened: success, provider error, timeout, client disconnect). The route knows HTTP and the providers'
formats; everything about money is the gate's.

A plain ASGI endpoint, not a FastAPI route: the hot path skips dependency injection and response models.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any

import aiohttp
import orjson
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send
from yarl import URL

from ..auth.cache import Principal
from ..auth.dependency import authenticate_key
from ..auth.keys import KeyKind
from ..errors import api_error
from ..metering.attribution import from_headers, xproxy_headers
from ..metering.event import Payload, Units
from ..metering.gate import Estimate, MeteredCall
from ..middleware.body_limit import read_body
from ..pricing.catalog import PriceVersion
from ..state import AppState
from .adapters import ADAPTERS
from .adapters.base import Adapter, CallInfo, StreamProcessor, Usage
from .estimate import estimate_async, prepare_exact, quick_estimate
from .upstream import HostCheck, Upstream, make_session, parse_base

log = logging.getLogger("payi_server.proxy")

PATH = "/api/v1/proxy/{provider}/{rest:path}"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"proxy-connection",
    b"te",
    b"trailer",
    b"trailers",
    b"transfer-encoding",
    b"upgrade",
    b"host",
    b"content-length",
}
# The provider's response headers not passed on (framing and hop-by-hop: the server sets its own), as the lower-case
# bytes ``raw_headers`` are matched in.
_RESPONSE_DROP = frozenset({
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"transfer-encoding",
    b"upgrade",
    b"content-length",
    b"content-encoding",
    b"date",
    b"server",
})
_STREAM_TYPES = ("text/event-stream", "application/vnd.amazon.eventstream")


class ProxyEndpoint:
    """The ASGI app behind the proxy route (``payi_access``: application keys only)."""

    payi_access = frozenset({KeyKind.APPLICATION})

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self.hosts = HostCheck()

    def session(self, state: AppState) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            s = state.settings
            self._session = make_session(
                allow_private=s.allow_private_provider_hosts,
                connect_timeout=s.upstream_connect_timeout,
                read_timeout=s.upstream_timeout,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: AppState = scope["app"].state.payi
        xproxy = xproxy_headers(scope["headers"])  # the key, the attribution and the provider's address
        principal = await authenticate_key(scope, xproxy.get("xproxy-api-key"), self.payi_access)
        provider = scope["path_params"]["provider"]
        adapter = ADAPTERS.get(provider)
        if adapter is None:
            raise api_error("not_found", "provider")
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        prefix = f"/api/v1/proxy/{provider}{adapter.strip_prefix}".encode()
        if not raw_path.startswith(prefix + b"/"):
            raise api_error("not_found", "proxy_path")
        call = _Call(state, principal, adapter, scope, receive, send, raw_path[len(prefix) :].decode("latin-1"))
        await call.run(xproxy, self.session(state), self.hosts)


class _Call:
    """One proxied call."""

    def __init__(
        self,
        state: AppState,
        principal: Principal,
        adapter: Adapter,
        scope: Scope,
        receive: Receive,
        send: Send,
        path: str,
    ) -> None:
        self.state = state
        self.principal = principal
        self.adapter = adapter
        self.scope = scope
        self.receive = receive
        self.send = send
        self.path = path
        self.t0 = time.perf_counter()
        self.first_byte_ms: int | None = None
        self.disconnected = False
        self.response_started = False
        self.info: CallInfo | None = None
        self.size = 0  # the request body's bytes
        self.metered: MeteredCall | None = None  # the call's metering, once the adapter has read the request

    # --- request side ------------------------------------------------------------------------------
    def _upstream(self, xproxy: dict[str, str]) -> Upstream:
        settings = self.state.settings
        given = xproxy.get("xproxy-provider-baseuri") or xproxy.get("xproxy-provider-baseurl")
        if given:
            return parse_base(
                given,
                patterns=settings.provider_hosts,
                allow_private=settings.allow_private_provider_hosts,
                trusted=False,
            )
        default = self.adapter.default_base(settings)
        if not default:
            raise api_error("header_is_missing")
        return parse_base(default, patterns=(), allow_private=True, trusted=True)

    def _forward_headers(self) -> list[tuple[str, str]]:
        exact = getattr(self.adapter, "byte_exact", False)
        out: list[tuple[str, str]] = []
        for name, value in self.scope["headers"]:
            lname = name.lower()
            if lname in _HOP:
                continue
            if lname.startswith(b"xproxy-"):
                forwarded = lname[15:]
                # Never lets a caller set Host, framing or hop-by-hop headers, or smuggle an xProxy header.
                if lname.startswith(b"xproxy-forward-") and forwarded and forwarded not in _HOP and not forwarded.startswith(b"xproxy-"):
                    out.append((name[15:].decode("latin-1"), value.decode("latin-1")))
                continue
            if not exact and lname == b"accept-encoding":
                continue
            out.append((name.decode("latin-1"), value.decode("latin-1")))
        if not exact:
            out.append(("Accept-Encoding", "identity"))
        return out

    # --- metering (``metering.gate``) ------------------------------------------------------------------------
    def _finish(self, status: int, usage: Usage | None, payload: Payload | None) -> None:
        """Record the call after the response (settling its holds), unless that happened already."""
        if self.metered is not None:
            self.metered.finish(status, usage, payload, first_byte_ms=self.first_byte_ms)

    def _result(self, usage: Usage, status: int) -> dict[str, Any]:
        assert self.metered is not None
        return self.metered.price(usage, status)

    # --- sending ------------------------------------------------------------------------------------
    async def _send(self, message: Message) -> None:
        if self.disconnected:
            return
        try:
            await self.send(message)
        except Exception:  # noqa: BLE001 - the client went away; keep reading upstream to charge for it
            self.disconnected = True

    async def _start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.response_started = True
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def _watch_disconnect(self) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                return

    # --- the call -----------------------------------------------------------------------------------
    async def run(self, xproxy: dict[str, str], session: aiohttp.ClientSession, hosts: HostCheck) -> None:
        attribution = from_headers(xproxy)
        gate = self.state.gate
        gate.check(self.principal, attribution)
        upstream = self._upstream(xproxy)
        if not upstream.trusted and not self.state.settings.allow_private_provider_hosts:
            await hosts.check(upstream.host)  # before anything is held or sent
        body = await read_body(self.receive)
        self.info = info = self.adapter.inspect(self.scope["method"], self.path, body, Headers(scope=self.scope))
        self.metered = metered = gate.call(
            self.principal, attribution, category=info.category, named_model=info.model,
            store=self.principal.store_prompts, message_on_top=self.adapter.name == "aws.bedrock",
        )
        self.size = len(body)
        if not metered.admit_at_once(self._estimate):  # the usual case: nothing to tokenize, nothing to await
            await metered.admit(self._estimate, self._prepare)
        metered.started()  # journaled: a crash from here on cannot lose the call (see metering.journal)
        try:
            await self._forward(upstream, body, session)
        finally:
            if not metered.recorded:
                # An unexpected error or a cancellation after admission: the provider may have been called, so the
                # call is recorded (and its holds settled) all the same.
                self._finish(502, None, None)

    def _estimate(self, model: str, version: PriceVersion, exact: bool) -> Estimate | Awaitable[Estimate]:
        """The gate's estimator (``metering.gate.Estimator``) for this call's request."""
        assert self.info is not None
        if not exact and (quick := quick_estimate(model, self.info.request_json, self.size, version)) is not None:
            return quick[0], quick[1], False  # the usual case: nothing to tokenize, nothing to await
        return self._exact_estimate(model, version)

    async def _exact_estimate(self, model: str, version: PriceVersion) -> Estimate:
        assert self.info is not None
        estimated, units = await estimate_async(model, self.info.request_json, self.size, version, exact=True)
        return estimated, units, True

    def _prepare(self, model: str) -> None:
        """Build ahead what this call's exact estimates tokenize with (the gate asks near a limit's max)."""
        assert self.info is not None
        prepare_exact(model, self.info.request_json, self.size)

    async def _forward(self, upstream: Upstream, body: bytes, session: aiohttp.ClientSession) -> None:
        info = self.info
        assert info is not None
        query = self.scope.get("query_string", b"")
        url = upstream.origin + upstream.path + self.path + ("?" + query.decode("latin-1") if query else "")
        sent = time.perf_counter()
        try:
            response = await session.request(
                self.scope["method"],
                URL(url, encoded=True),
                data=info.body if info.body else None,
                headers=self._forward_headers(),
                allow_redirects=False,
            )
        except TimeoutError:
            self._finish(504, None, None)
            raise api_error("provider_error", "timeout", status=504) from None
        except aiohttp.ClientConnectorDNSError:
            if upstream.trusted:
                self._finish(502, None, None)
                raise api_error("provider_error", "unresolved", status=502) from None
            # Resolved to a non-public address at connect time (re-pointed since HostCheck), or vanished.
            self._finish(400, None, None)
            raise api_error("invalid_provider_host") from None
        except (aiohttp.ClientError, OSError) as exc:
            self._finish(502, None, None)
            log.warning("upstream unreachable: %s", type(exc).__name__)
            raise api_error("provider_error", status=502) from None
        # payi_upstream_seconds: the provider's time to response headers (timed here: an aiohttp trace costs every
        # request a callback per signal, 5% of the proxy's time)
        metrics = self.state.metrics
        metrics.pending(metrics.upstream_latency, info.category).observe(time.perf_counter() - sent)
        try:
            content_type = response.headers.get("content-type", "")
            if response.status < 400 and any(t in content_type for t in _STREAM_TYPES):
                await self._stream(response, body)
            else:
                await self._whole(response, body)
        finally:
            response.release()

    def _response_headers(self, response: aiohttp.ClientResponse, length: int | None) -> list[tuple[bytes, bytes]]:
        # As received (bytes): no decoding and encoding again, and a value that is not Latin-1 passes unchanged
        out = [(name.lower(), value) for name, value in response.raw_headers if name.lower() not in _RESPONSE_DROP]
        if length is not None:
            out.append((b"content-length", str(length).encode()))
        return out

    def _payload(self, body: bytes, response: Any) -> Payload | None:
        if self.metered is None or not self.metered.store:
            return None
        return Payload(
            provider_request_json=body.decode("utf-8", "replace") if body else None,
            provider_response_json=response,
        )

    async def _whole(self, response: aiohttp.ClientResponse, body: bytes) -> None:
        try:
            data = await response.read()
        except TimeoutError:
            self._finish(504, None, None)
            raise api_error("provider_error", "timeout", status=504) from None
        except (aiohttp.ClientError, OSError):
            self._finish(502, None, None)
            raise api_error("provider_error", "cut_off", status=502) from None
        self.first_byte_ms = int((time.perf_counter() - self.t0) * 1000)
        assert self.info is not None
        parsed: Any = None
        if data[:1] in (b"{", b"["):
            try:
                parsed = orjson.loads(data)
            except orjson.JSONDecodeError:
                parsed = None
        status = response.status
        usage = self.adapter.response_usage(self.info, parsed, response.headers) if status < 400 else Usage(units={})
        if usage.response_id is None:
            usage.response_id = response.headers.get("x-request-id") or response.headers.get("x-amzn-requestid")
        result = self._result(usage, status)
        out = data
        if isinstance(parsed, dict):
            parsed["xproxy_result"] = result
            out = orjson.dumps(parsed)
        await self._start(status, self._response_headers(response, len(out)))
        await self._send({"type": "http.response.body", "body": out})
        self._finish(status, usage, self._payload(body, data.decode("utf-8", "replace")))

    async def _stream(self, response: aiohttp.ClientResponse, body: bytes) -> None:
        assert self.info is not None
        status = response.status

        def make_result(units: Units, response_id: str | None, model: str | None) -> dict[str, Any]:
            return self._result(Usage(units=units, response_id=response_id, model=model), status)

        assert self.metered is not None
        processor: StreamProcessor = self.adapter.stream(self.info, make_result, self.metered.store)
        await self._start(status, self._response_headers(response, None))
        drain_deadline: float | None = None
        loop = asyncio.get_running_loop()
        failed_status = None
        tail: bytes | None = None
        # Only a stream watches for the client leaving (to stop reading early; a whole answer is read at once), and
        # only once it is read in more than one piece: a short answer often comes whole, and needs no task
        watcher: asyncio.Task[None] | None = None
        try:
            async for chunk in response.content.iter_any():
                if self.first_byte_ms is None:
                    self.first_byte_ms = int((time.perf_counter() - self.t0) * 1000)
                out = processor.feed(chunk)
                if response.content.at_eof():
                    # the upstream ended with this chunk (a short stream often comes in one piece): one message
                    # forwards it and ends the response, where two would cost a second write
                    tail = out + processor.finish()
                    break
                if watcher is None:
                    watcher = asyncio.create_task(self._watch_disconnect())
                if out:
                    await self._send({"type": "http.response.body", "body": out, "more_body": True})
                if self.disconnected:
                    # The client left: keep reading (bounded) so the tokens produced are charged.
                    if drain_deadline is None:
                        drain_deadline = loop.time() + self.state.settings.disconnect_drain_timeout
                    elif loop.time() > drain_deadline:
                        break
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            failed_status = 504 if isinstance(exc, TimeoutError) else 502
            log.warning("upstream stream broke off: %s", type(exc).__name__)
        finally:
            if watcher is not None:
                watcher.cancel()
        if tail is None:
            tail = processor.finish()
        await self._send({"type": "http.response.body", "body": tail, "more_body": False})
        usage = processor.usage()
        if usage is not None and usage.response_id is None:  # Bedrock streams: only the headers carry it
            usage.response_id = response.headers.get("x-request-id") or response.headers.get("x-amzn-requestid")
        items = processor.data_items()
        self._finish(failed_status or status, usage, self._payload(body, items) if items else self._payload(body, None))
