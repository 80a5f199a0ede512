"""One instrumented provider call, from the caller's thread to an ingest event.

On the caller's thread the instrumentor does only cheap bookkeeping: it resolves the context, splits the headers,
snapshots the request (a shallow copy), reads the clock and, for streams, appends each chunk to a list. Everything
costly (``model_dump``, units, JSON, the stack trace's text, HTTP) happens in ``Call.build`` on the sender's thread.

``Adapter`` is the contract every provider module implements (``providers/openai.py`` and friends): how to start a
``Call`` from a request, how to hand a result back to the caller (wrapping streams), and, off the caller's thread,
how to read units, ids and the response out of what was recorded.

Example (what a provider wrapper does):
    >>> # def _chat_create(wrapped, instance, args, kwargs):
    >>> #     return invoke_sync(instrumentor(), CHAT_ADAPTER, wrapped, instance, args, kwargs)
"""

from __future__ import annotations

import inspect
import json
import linecache
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

import wrapt

from ..types.ingest_units_params import FunctionCallInfoParam
from ._context import Attribution
from ._sender import Envelope
from .helpers import PayiPropertyNames
from .units import Units, normalize_units

if TYPE_CHECKING:
    from ._instrumentor import Instrumentor

__all__ = [
    "Adapter",
    "Call",
    "capture_headers",
    "capture_headers_async",
    "chunk_json",
    "invoke_async",
    "invoke_sync",
    "to_jsonable",
]

_SKIPPED_DIRS = (os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.path.abspath(wrapt.__file__)))
_SKIP_KWARGS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})
_MAX_STACK_FRAMES = 40
_MAX_PROPERTY_CHARS = 9_000  # the server refuses property values above 10,000 characters
_EXCLUDED_RESPONSE_HEADERS = frozenset({"transfer-encoding"})
_NOT_INSTRUMENTED = "<not_instrumented>"


class Adapter(Protocol):
    """How one provider method is instrumented."""

    supports_headers: bool

    def start(self, call: Call, instance: Any, kwargs: dict[str, Any]) -> None:
        """Fill the call's category, model and provider URI; may adjust ``kwargs`` (e.g. ask for stream usage)."""

    def respond(self, call: Call, result: Any) -> Any:
        """Hand a successful result back to the caller (a stream gets wrapped so its chunks are seen)."""

    def extract(self, call: Call) -> None:
        """Off the caller's thread: read units, model, id, function calls and response JSON from the record."""

    def extract_error(self, call: Call, exc: BaseException) -> None:
        """Off the caller's thread: status, id and body of a failed call."""

    def proxy_result(self, result: Any) -> Any:
        """Proxy mode: the ``xproxy_result`` a response carries, or ``None``."""


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def _capture_stack() -> list[tuple[str, int, str]]:
    """The caller's stack (innermost first), without this package's and wrapt's frames; text is read later."""
    frames: list[tuple[str, int, str]] = []
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and len(frames) < _MAX_STACK_FRAMES:
        code = frame.f_code
        filename = code.co_filename
        if not filename.startswith(_SKIPPED_DIRS):
            frames.append((filename, frame.f_lineno, code.co_name))
        frame = frame.f_back
    return frames


def _format_stack(frames: list[tuple[str, int, str]]) -> str:
    lines = []
    for filename, lineno, name in reversed(frames):  # outermost first, like traceback.format_stack
        text = f'File "{filename}", line {lineno}, in {name}'
        source = linecache.getline(filename, lineno).strip()
        lines.append(f"{text}\n    {source}" if source else text)
    encoded = json.dumps(lines, separators=(",", ":"))
    while len(encoded) > _MAX_PROPERTY_CHARS and len(lines) > 1:
        lines.pop(0)  # keep the frames closest to the call
        encoded = json.dumps(lines, separators=(",", ":"))
    return encoded[:_MAX_PROPERTY_CHARS]


def to_jsonable(value: Any) -> Any:
    """A provider SDK object as plain JSON data (pydantic models, ``to_dict`` objects, bytes, types)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items() if not _is_omitted(v)}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, type):
        return value.__name__
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and hasattr(value, "model_dump"):
        try:  # openai / anthropic models: the fields the API sent, already JSON data
            return to_dict()
        except Exception:  # noqa: BLE001, S110 - fall back to the generic forms
            pass
    for method in ("model_dump", "to_dict"):
        fn = getattr(value, method, None)
        if callable(fn):
            try:
                return to_jsonable(fn())
            except Exception:  # noqa: BLE001, S112 - try the next representation
                continue
    return str(value)


def _is_omitted(value: Any) -> bool:
    return type(value).__name__ in ("Omit", "NotGiven", "NotGivenOr")


def _strip_inline_data(value: Any) -> Any:
    """Base64 payloads (``data:`` URLs, Anthropic base64 image sources) replaced by ``<not_instrumented>``."""
    if isinstance(value, str):
        return _NOT_INSTRUMENTED if value.startswith("data:") and ";base64," in value[:100] else value
    if isinstance(value, list):
        return [_strip_inline_data(v) for v in value]
    if isinstance(value, dict):
        if value.get("type") == "base64" and isinstance(value.get("data"), str):
            return {**value, "data": _NOT_INSTRUMENTED}
        return {k: _strip_inline_data(v) for k, v in value.items()}
    return value


def compact_json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


def chunk_json(chunk: Any) -> str:
    """One stream chunk as compact JSON (pydantic's own serializer when there is one: a stream has many)."""
    dump = getattr(chunk, "model_dump_json", None)
    if callable(dump):
        try:
            return str(dump(exclude_unset=True, by_alias=True))
        except Exception:  # noqa: BLE001, S110 - fall back to the generic form
            pass
    return compact_json(to_jsonable(chunk))


class Call:
    """The record of one provider call in ingest mode (see the module docstring for who fills what, where)."""

    __slots__ = (
        "__weakref__",
        "adapter",
        "attribution",
        "category",
        "chunks",
        "error",
        "event_timestamp",
        "_unclaimed",
        "function_calls",
        "hide",
        "inst",
        "kwargs",
        "latency_ms",
        "model",
        "module",
        "properties",
        "provider_uri",
        "request_headers",
        "resource",
        "resource_scope",
        "response",
        "response_headers",
        "response_id",
        "response_json",
        "stack",
        "status",
        "stream",
        "t0",
        "ttft_ms",
        "units",
        "mappings",
    )

    def __init__(
        self,
        inst: Instrumentor,
        adapter: Adapter,
        kwargs: Mapping[str, Any],
        attribution: Attribution,
        request_headers: Mapping[str, Any] | None,
    ) -> None:
        self.inst = inst
        self.adapter = adapter
        self.attribution = attribution
        self.request_headers = request_headers
        self.kwargs = {
            k: list(v) if isinstance(v, list) else v for k, v in kwargs.items() if k not in _SKIP_KWARGS
        }
        self.stack = _capture_stack()
        self.event_timestamp = time.time()  # formatted off the caller's thread
        self.t0 = time.perf_counter()
        self.category = ""
        self.module = ""
        self.model: str | None = None
        self.provider_uri: str | None = None
        self.mappings: tuple[Any, ...] = ()
        self.stream = False
        self.hide: Callable[[Any], bool] | None = None
        self.chunks: list[Any] | None = None
        self.response: Any = None
        self.response_headers: Any = None
        self.error: BaseException | None = None
        self.status: int | None = None
        self.latency_ms: int | None = None
        self.ttft_ms: int | None = None
        self._unclaimed = [True]  # popped by whoever finishes the call
        # filled off the caller's thread
        self.units: Units = {}
        self.resource: str | None = None
        self.resource_scope: str | None = None
        self.response_id: str | None = None
        self.response_json: str | list[str] | None = None
        self.function_calls: list[FunctionCallInfoParam] = []
        self.properties: dict[str, str | None] = {}

    # ------------------------------------------------------------------------------- the caller's thread

    def _elapsed_ms(self) -> int:
        return int((time.perf_counter() - self.t0) * 1000)

    def _claim(self) -> bool:
        """True for exactly one caller: a stream can be finished by its reader and, concurrently, by the GC.

        ``list.pop`` is atomic, so no lock is needed (and none can be left held across a ``fork``)."""
        try:
            return self._unclaimed.pop()
        except IndexError:
            return False

    @property
    def finished(self) -> bool:
        return not self._unclaimed

    def complete(self, response: Any) -> None:
        """A non-streaming call returned."""
        if not self._claim():
            return
        self.latency_ms = self._elapsed_ms()
        self.status = 200
        self.response = response
        self.inst.submit(self)

    def fail(self, exc: BaseException) -> None:
        """The call (or its stream) raised."""
        if not self._claim():
            return
        self.latency_ms = self._elapsed_ms()
        self.error = exc
        self.inst.submit(self)

    def on_chunk(self, chunk: Any) -> bool:
        """Record one stream chunk; False when the caller must not see it (usage we asked for on its behalf)."""
        try:
            if self.chunks is None:
                self.chunks = []
                self.ttft_ms = self._elapsed_ms()
            self.chunks.append(chunk)
            return self.hide is None or not self.hide(chunk)
        except Exception:  # noqa: BLE001 - never disturb the caller's stream
            self.inst.internal_error("reading a stream chunk")
            return True

    def finish(self, exc: BaseException | None = None) -> None:
        """The stream ended (exhausted, closed, abandoned or failed); idempotent."""
        if exc is not None:
            self.fail(exc)
            return
        if not self._claim():
            return
        self.latency_ms = self._elapsed_ms()
        self.status = 200
        self.inst.submit(self)

    # ------------------------------------------------------------------------------- the sender's thread

    def build(self) -> Envelope:
        """The ingest event of this call (runs on the sender's thread)."""
        attr = self.attribution
        if self.error is None:
            self.adapter.extract(self)
        else:
            self.adapter.extract_error(self, self.error)
            if self.status is None:
                self._semantic_failure(self.error)
        mapping = self.inst.find_mapping(self.mappings, self.model, self.provider_uri)
        category = attr.price_as_category or (mapping.price_as_category if mapping else None)
        category = category or self.inst.host_category(self.provider_uri) or self.category
        resource = attr.price_as_resource or (mapping.price_as_resource if mapping else None)
        resource = resource or self.resource or self.model or "system.unknown_model"
        scope = attr.resource_scope or (mapping.resource_scope if mapping else None) or self.resource_scope
        response_id = self.response_id or f"payi_{uuid.uuid4()}"

        properties: dict[str, str | None] = dict(attr.request_properties or {})
        internal = {**self.properties, "system.stack_trace": _format_stack(self.stack)}
        for key, value in internal.items():
            properties.setdefault(key, value)

        body: dict[str, Any] = {
            "category": category,
            "resource": resource,
            "units": normalize_units(self.units),
            "event_timestamp": _iso(self.event_timestamp),
            "end_to_end_latency_ms": self.latency_ms,
            "http_status_code": self.status or 200,
            "provider_response_id": response_id,
            "properties": properties,
        }
        if self.ttft_ms is not None:
            body["time_to_first_token_ms"] = self.ttft_ms
        if self.provider_uri:
            body["provider_uri"] = self.provider_uri
        if attr.use_case_properties:
            body["use_case_properties"] = dict(attr.use_case_properties)
        if self.request_headers:
            body["provider_request_headers"] = [
                {"name": k, "value": v} for k, v in self.request_headers.items() if isinstance(v, str)
            ]
        headers = self._response_headers()
        if headers:
            body["provider_response_headers"] = headers
        if self.function_calls:
            body["provider_response_function_calls"] = self.function_calls
        if attr.log_prompt_and_response:
            body["provider_request_json"] = compact_json(_strip_inline_data(to_jsonable(self.kwargs)))
            if self.response_json is not None:
                body["provider_response_json"] = self.response_json
        attribution: tuple[tuple[str, Any], ...] = (
            ("limit_ids", list(attr.limit_ids) or None),
            ("use_case_name", attr.use_case_name),
            ("use_case_id", attr.use_case_id),
            ("use_case_version", attr.use_case_version),
            ("use_case_step", attr.use_case_step),
            ("user_id", attr.user_id),
            ("account_name", attr.account_name),
            ("resource_scope", scope),
        )
        for name, value in attribution:
            if value is not None:
                body[name] = value
        event = {
            "body": body,
            "headers": {"xProxy-Instrumented-Module": self.module} if self.module else {},
            "query": {"id": response_id},
        }
        target = (
            self.response
            if self.error is None and self.chunks is None and hasattr(self.response, "__dict__")
            else None
        )
        self.response = self.chunks = None  # release the provider objects early
        return Envelope(event, target)

    def _response_headers(self) -> list[dict[str, str]] | None:
        headers = self.response_headers
        if not headers:
            return None
        items = headers.items() if hasattr(headers, "items") else headers
        return [
            {"name": str(k), "value": str(v)}
            for k, v in items
            if (low := str(k).lower()) not in _EXCLUDED_RESPONSE_HEADERS and not low.startswith("content-")
        ]

    def _semantic_failure(self, exc: BaseException) -> None:
        """An exception without an HTTP status: 299 and ``system.failure`` (official SDK convention)."""
        self.status = 299
        self.properties[PayiPropertyNames.failure] = type(exc).__name__
        fields = []
        for attr in dir(exc):
            if attr.startswith("__"):
                continue
            try:
                value = getattr(exc, attr)
            except Exception:  # noqa: BLE001, S112
                continue
            if value and not callable(value) and not inspect.isroutine(value):
                fields.append(f"{attr}={value}")
        if fields:
            self.properties[PayiPropertyNames.failure_description] = ",".join(fields)[:_MAX_PROPERTY_CHARS]


def http_error_details(call: Call, exc: BaseException) -> None:
    """Status, request id and body text of an openai/anthropic ``APIStatusError``-like exception."""
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        return
    call.status = status
    request_id = getattr(exc, "request_id", None)
    if isinstance(request_id, str) and request_id:
        call.response_id = request_id
    response = getattr(exc, "response", None)
    text = getattr(response, "text", None)
    if isinstance(text, str) and call.attribution.log_prompt_and_response:
        call.response_json = text
    headers = getattr(response, "headers", None)
    if headers is not None:
        call.response_headers = headers


# ------------------------------------------------------------------------------------------- drivers

# The call whose HTTP response is being processed right now (openai / anthropic ``_process_response`` hooks).
_RESPONSE_OF: ContextVar[Call | None] = ContextVar("payi_response_of", default=None)


def capture_headers(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Hook on a provider client's ``_process_response``: keep the HTTP response headers for the current call."""
    call = _RESPONSE_OF.get()
    if call is not None:
        response = kwargs.get("response")
        if response is not None:
            call.response_headers = response.headers
    return wrapped(*args, **kwargs)


async def capture_headers_async(
    wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``capture_headers`` for the async clients."""
    call = _RESPONSE_OF.get()
    if call is not None:
        response = kwargs.get("response")
        if response is not None:
            call.response_headers = response.headers
    return await wrapped(*args, **kwargs)


def invoke_sync(
    inst: Instrumentor | None,
    adapter: Adapter,
    wrapped: Any,
    instance: Any,
    args: Any,
    kwargs: dict[str, Any],
) -> Any:
    """Run a synchronous provider method under instrumentation (pass-through when nothing is tracked)."""
    frame = inst.current() if inst is not None else None
    if inst is None or frame is None:
        return wrapped(*args, **kwargs)
    try:
        call, call_kwargs = inst.prepare(frame, adapter, instance, kwargs)
    except Exception:  # noqa: BLE001
        inst.internal_error("preparing a provider call")
        return wrapped(*args, **kwargs)
    if call is None:  # proxy mode: headers only
        try:
            result = wrapped(*args, **call_kwargs)
        except Exception as exc:
            inst.record_proxy_error(exc)
            raise
        inst.record_proxy_result(adapter, result)
        return result
    token = _RESPONSE_OF.set(call)
    call.t0 = time.perf_counter()
    try:
        result = wrapped(*args, **call_kwargs)
    except Exception as exc:
        inst.safely(call.fail, exc)
        raise
    finally:
        _RESPONSE_OF.reset(token)
    try:
        return adapter.respond(call, result)
    except Exception:  # noqa: BLE001
        inst.internal_error("recording a provider response")
        return result


async def invoke_async(
    inst: Instrumentor | None,
    adapter: Adapter,
    wrapped: Any,
    instance: Any,
    args: Any,
    kwargs: dict[str, Any],
) -> Any:
    """``invoke_sync`` for coroutine methods."""
    frame = inst.current() if inst is not None else None
    if inst is None or frame is None:
        return await wrapped(*args, **kwargs)
    try:
        call, call_kwargs = inst.prepare(frame, adapter, instance, kwargs)
    except Exception:  # noqa: BLE001
        inst.internal_error("preparing a provider call")
        return await wrapped(*args, **kwargs)
    if call is None:
        try:
            result = await wrapped(*args, **call_kwargs)
        except Exception as exc:
            inst.record_proxy_error(exc)
            raise
        inst.record_proxy_result(adapter, result)
        return result
    token = _RESPONSE_OF.set(call)
    call.t0 = time.perf_counter()
    try:
        result = await wrapped(*args, **call_kwargs)
    except Exception as exc:
        inst.safely(call.fail, exc)
        raise
    finally:
        _RESPONSE_OF.reset(token)
    try:
        return adapter.respond(call, result)
    except Exception:  # noqa: BLE001
        inst.internal_error("recording a provider response")
        return result
