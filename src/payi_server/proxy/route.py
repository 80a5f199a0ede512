"""The proxy route: ``/api/v1/proxy/<provider>/<path>``, any method, query string kept.

One request: authenticate (application keys) -> read attribution -> check the upstream -> let the adapter read
the request -> reserve the estimated cost on the named limits (a blocked call never reaches the provider) ->
forward -> answer with the provider's response plus ``xproxy_result`` (streams chunk by chunk, never buffered)
-> record through the one metering path after the response (the reservation is settled there, whatever happened:
success, provider error, timeout, client disconnect).

A plain ASGI endpoint, not a FastAPI route: the hot path skips dependency injection and response models.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import orjson
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send
from yarl import URL

from ..auth.cache import Principal
from ..auth.dependency import authenticate_request
from ..auth.keys import KeyKind
from ..errors import ApiError
from ..limits.leases import Hold, LeaseBook
from ..limits.model import state_after
from ..metering.attribution import from_headers
from ..metering.event import Attribution, Event, Payload, Units
from ..metering.recorder import Pending, request_values
from ..metering.results import build_result
from ..state import AppState
from ..store.changes import utcnow
from .adapters import ADAPTERS
from .adapters.base import Adapter, CallInfo, StreamProcessor, Usage
from .estimate import estimate_async
from .upstream import HostCheck, Upstream, make_session, parse_base

log = logging.getLogger("payi_server.proxy")

PATH = "/api/v1/proxy/{provider}/{rest:path}"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
LIMIT_REACHED = "Insufficient limit for the requested operation"

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
_RESPONSE_DROP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-encoding",
    "date",
    "server",
}
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
        request = Request(scope, receive)
        state: AppState = scope["app"].state.payi
        principal = await authenticate_request(request, self.payi_access)
        provider = scope["path_params"]["provider"]
        adapter = ADAPTERS.get(provider)
        if adapter is None:
            raise ApiError(404, "not_found", "No proxy route for this provider")
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        prefix = f"/api/v1/proxy/{provider}{adapter.strip_prefix}".encode()
        if not raw_path.startswith(prefix + b"/"):
            raise ApiError(404, "not_found", "No such proxy path")
        call = _Call(state, principal, adapter, scope, receive, send, raw_path[len(prefix) :].decode("latin-1"))
        await call.run(request, self.session(state), self.hosts)


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
        self.started_at = utcnow()
        self.t0 = time.perf_counter()
        self.first_byte_ms: int | None = None
        self.holds: list[Hold] | None = None
        self.request_id: int | None = None  # set when the call is journaled, before the provider is called
        self.estimate_units: Units = {}
        self.pending: Pending | None = None
        self.recorded = False
        self.disconnected = False
        self.response_started = False
        self.attribution: Attribution = Attribution()
        self.info: CallInfo | None = None
        self.store = False

    # --- request side ------------------------------------------------------------------------------
    def _upstream(self, headers: Any) -> Upstream:
        settings = self.state.settings
        given = headers.get("xproxy-provider-baseuri") or headers.get("xproxy-provider-baseurl")
        if given:
            return parse_base(
                given,
                patterns=settings.provider_hosts,
                allow_private=settings.allow_private_provider_hosts,
                trusted=False,
            )
        default = self.adapter.default_base(settings)
        if not default:
            raise ApiError(400, "header_is_missing", "Required header 'xProxy-Provider-BaseUri' is missing")
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

    def _resource(self, usage_model: str | None = None) -> str:
        """What the call is priced as: price-as, the model the provider reported, the model the application mapped
        the named deployment to, the name the request gave."""
        assert self.info is not None
        if self.attribution.price_as_resource or usage_model:
            return self.attribution.price_as_resource or usage_model or ""
        named = self.info.model
        if not named:
            return "system.unknown_model"
        return self.state.deployments.model_for(self.principal.app_id, self.info.category, named) or named

    def _model_for_estimate(self) -> str:
        """The resource an estimate prices: price-as, the model the application mapped the named deployment to
        (``pricing.deployments``), what the provider reported the last time this application called the same
        deployment (Azure names deployments, not models), or the request's model."""
        assert self.info is not None
        if self.attribution.price_as_resource:
            return self.attribution.price_as_resource
        named = self.info.model or ""
        key = (self.principal.app_id, self.info.category, named)
        mapped = self.state.deployments.model_for(self.principal.app_id, self.info.category, named)
        return mapped or self.state.reported_models.get(key, named)

    async def _admit(self, body_size: int) -> None:
        """Hold the call's estimate on every named block limit, in memory, from this process's budget leases."""
        attr = self.attribution
        if not attr.limit_ids:
            return
        assert self.info is not None and self.principal.app_id is not None
        category = attr.price_as_category or self.info.category
        model = self._model_for_estimate()
        resolved = self.state.book.resolve(self.principal.org_id, category, model or "system.unknown_model", self.started_at)
        estimate = None
        if resolved is not None:
            estimate, self.estimate_units = await estimate_async(
                model, self.info.request_json, body_size, resolved.version
            )
        admission = await self.state.leases.admit(self.principal.app_id, attr.limit_ids, estimate)
        if admission.missing:
            raise ApiError(
                400,
                "invalid_limit_ids",
                "Some or all of passed limit-ids either do not exist or they are not related to the Application",
            )
        if admission.unpriceable:
            self._refuse(
                {i: ("blocked" if i in admission.unpriceable else "blocked_external") for i in attr.limit_ids},
                "limit_estimate_unavailable",
                f"The cost of a call to '{(model or 'an unnamed model')[:200]}' cannot be bounded before it is made, "
                f"so the strict limit(s) {', '.join(admission.unpriceable[:10])} cannot admit it: name a priced "
                "model, or send xProxy-PriceAs-Resource",
            )
        if admission.blocked:
            self._refuse(admission.states, "limit_reached", LIMIT_REACHED)
        self.holds = admission.holds

    def _refuse(self, states: dict[str, str], code: str, message: str) -> None:
        """Record a refused call (its limits count it as blocked) and answer 400 with its states."""
        attr = self.attribution
        event = self._event({}, http_status=400)
        event.blocked = True
        pending = self.state.meter.prepare(self.principal, event, now=self.started_at, blocked_states=states)
        pending.count_blocked = True
        self.state.meter.record_later(pending)
        result = build_result(request_values(pending, attr.limit_ids), states)
        raise ApiError(
            400, code, message, xproxy_result=result,
            top_message=message if self.adapter.name == "aws.bedrock" else None,
        )

    # --- metering ------------------------------------------------------------------------------------
    def _event(self, units: Units, *, http_status: int | None, usage: Usage | None = None) -> Event:
        assert self.info is not None
        attribution = self.attribution
        if usage is not None and usage.resource_scope and not attribution.resource_scope:
            attribution.resource_scope = usage.resource_scope
        return Event(
            source="proxy",
            category=self.info.category,
            resource=self._resource(usage.model if usage else None),
            units=units,
            event_timestamp=self.started_at,
            attribution=attribution,
            http_status_code=http_status,
            provider_response_id=usage.response_id if usage else None,
            provider_uri=None,
        )

    async def _result(self, usage: Usage, status: int) -> dict[str, Any]:
        """Price the call and build the ``xproxy_result`` the client sees, from memory: the call is recorded (its
        limits charged, its holds settled) after the response. Limit states are this process's view: the spend it
        last read plus what it settled since, plus this call."""
        pending = self._price(usage, status)
        if usage.model and self.info is not None and self.info.model != usage.model:
            self._learn_model(usage.model)
        return self._provisional(pending)

    def _learn_model(self, reported: str) -> None:
        assert self.info is not None
        known = self.state.reported_models
        if len(known) >= 10_000:
            known.clear()
        known[(self.principal.app_id, self.info.category, self.info.model or "")] = reported

    def _price(self, usage: Usage, status: int) -> Pending:
        event = self._event(usage.units, http_status=status, usage=usage)
        pending = self.state.meter.prepare(
            self.principal, event, now=self.started_at, holds=self.holds, request_id=self.request_id
        )
        if self.request_id is not None and self.state.journal is not None:
            self.state.journal.answered(self.request_id, event)
        if self.holds:
            LeaseBook.priced(self.holds, pending.cost_total)
        pending.lenient_limits = True  # the provider was called: record it even if a named limit vanished since
        self.pending = pending
        return pending

    def _provisional(self, pending: Pending) -> dict[str, Any]:
        event = pending.event
        states = {}
        assert self.principal.app_id is not None
        for limit_id in self.attribution.limit_ids:
            view = self.state.leases.view(self.principal.app_id, limit_id)
            if event.failed or view is None:
                states[limit_id] = "failed" if event.failed else "ok"
            else:
                spent, maximum, threshold = view  # this call's cost is in it already (``LeaseBook.priced``)
                states[limit_id] = state_after(spent, maximum, threshold)
        return build_result(request_values(pending, self.attribution.limit_ids), states)

    def _finish(self, status: int, usage: Usage | None, payload: Payload | None) -> None:
        """Record the call after the response (settling its reservation), unless that happened already."""
        if self.recorded:
            return
        if self.pending is None or (usage is not None and usage.units and not self.pending.event.units):
            self._price(usage or Usage(units={}), status)
        pending = self.pending
        assert pending is not None
        pending.event.end_to_end_latency_ms = int((time.perf_counter() - self.t0) * 1000)
        pending.event.time_to_first_token_ms = self.first_byte_ms
        if payload is not None and self.store:
            pending.event.payload = payload
            pending.store_payload = True
        self.recorded = True
        self.state.meter.record_later(pending)

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
    async def run(self, request: Request, session: aiohttp.ClientSession, hosts: HostCheck) -> None:
        headers = request.headers
        self.attribution = from_headers(headers)
        if self.attribution.price_as_category:
            # Checked now, not when the answer is priced: by then the provider has been called (and a stream
            # has started), and the call could not be recorded.
            self.state.meter.check_category(self.principal, self.attribution.price_as_category)
        upstream = self._upstream(headers)
        if not upstream.trusted and not self.state.settings.allow_private_provider_hosts:
            await hosts.check(upstream.host)  # before anything is reserved or sent
        body = await request.body()
        self.info = info = self.adapter.inspect(self.scope["method"], self.path, body, headers)
        self.store = self.principal.store_prompts and not self.attribution.logging_disabled
        await self._admit(len(body))
        journal = self.state.journal
        if journal is not None:
            # Before the provider is called: a crash from here on cannot lose the call (see metering.journal).
            assert self.principal.app_id is not None
            self.request_id = self.state.ids.next()
            journal.started(
                self.request_id, self.principal.app_id, self.principal.org_id, self._event({}, http_status=None),
                self.estimate_units,
            )
        try:
            await self._forward(upstream, body, session)
        finally:
            if not self.recorded:
                # An unexpected error or a cancellation after admission: the provider may have been called, so the
                # call is recorded (and its holds settled) all the same.
                self._finish(502, None, None)

    async def _forward(self, upstream: Upstream, body: bytes, session: aiohttp.ClientSession) -> None:
        info = self.info
        assert info is not None
        query = self.scope.get("query_string", b"")
        url = upstream.origin + upstream.path + self.path + ("?" + query.decode("latin-1") if query else "")
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
            raise ApiError(504, "provider_error", "The provider did not answer in time") from None
        except aiohttp.ClientConnectorDNSError:
            if upstream.trusted:
                self._finish(502, None, None)
                raise ApiError(502, "provider_error", "The provider's host could not be resolved") from None
            # Resolved to a non-public address at connect time (re-pointed since HostCheck), or vanished.
            self._finish(400, None, None)
            raise ApiError(400, "invalid_provider_host", "The provider host is not allowed by this server") from None
        except (aiohttp.ClientError, OSError) as exc:
            self._finish(502, None, None)
            log.warning("upstream unreachable: %s", type(exc).__name__)
            raise ApiError(502, "provider_error", "The downstream provider could not be reached") from None
        watcher = asyncio.create_task(self._watch_disconnect())
        try:
            content_type = response.headers.get("content-type", "")
            if response.status < 400 and any(t in content_type for t in _STREAM_TYPES):
                await self._stream(response, body)
            else:
                await self._whole(response, body)
        finally:
            watcher.cancel()
            response.release()

    def _response_headers(self, response: aiohttp.ClientResponse, length: int | None) -> list[tuple[bytes, bytes]]:
        out = [
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in response.headers.items()
            if k.lower() not in _RESPONSE_DROP
        ]
        if length is not None:
            out.append((b"content-length", str(length).encode()))
        return out

    def _payload(self, body: bytes, response: Any) -> Payload | None:
        if not self.store:
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
            raise ApiError(504, "provider_error", "The provider did not answer in time") from None
        except (aiohttp.ClientError, OSError):
            self._finish(502, None, None)
            raise ApiError(502, "provider_error", "The provider's response was cut off") from None
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
        result = await self._result(usage, status)
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

        async def make_result(units: Units, response_id: str | None, model: str | None) -> dict[str, Any]:
            return await self._result(Usage(units=units, response_id=response_id, model=model), status)

        processor: StreamProcessor = self.adapter.stream(self.info, make_result, self.store)
        await self._start(status, self._response_headers(response, None))
        drain_deadline: float | None = None
        loop = asyncio.get_running_loop()
        failed_status = None
        try:
            async for chunk in response.content.iter_any():
                if self.first_byte_ms is None:
                    self.first_byte_ms = int((time.perf_counter() - self.t0) * 1000)
                out = await processor.feed(chunk)
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
        tail = await processor.finish()
        await self._send({"type": "http.response.body", "body": tail, "more_body": False})
        usage = processor.usage()
        items = processor.data_items()
        self._finish(failed_status or status, usage, self._payload(body, items) if items else self._payload(body, None))
