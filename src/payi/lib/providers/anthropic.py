"""Anthropic instrumentation: ``messages.create`` (plain and ``stream=True``) and ``messages.stream``, sync and async.

Patched: ``Messages.create/stream`` and ``AsyncMessages.create/stream`` (and the beta twins), plus
``_process_response`` for the HTTP response headers. ``messages.stream()`` returns its manager wrapped: the request
happens in ``__enter__`` / ``__aenter__``, whose raw event stream is then read as the caller iterates.
Category by client: Bedrock clients ``system.aws.bedrock``, Vertex ``system.google.vertex`` (resource prefixed
``anthropic.``), Foundry ``system.azure``, otherwise ``system.anthropic`` (whose ``usage.inference_geo`` sets the
resource scope ``datazone.<geo>``).

Example:
    >>> # payi_instrument(payi); Anthropic().messages.create(model="claude-3-5-haiku-latest", max_tokens=50, ...)
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anthropic
import anthropic.lib.streaming as _streaming
import wrapt

from .._instrumentor import async_wrapper, sync_wrapper, wrap
from .._invoke import (
    Call,
    capture_headers,
    capture_headers_async,
    chunk_json,
    compact_json,
    http_error_details,
    to_jsonable,
)
from .._streams import AsyncStreamProxy, StreamProxy, is_raw_response, observe_raw
from ..helpers import PayiCategories
from ..units._common import mapping
from ..units.anthropic import AnthropicStreamUsage, anthropic_resource_scope, anthropic_response_units
from ._tools import stream_tool_uses, tool_uses

__all__ = ["install"]

MODULE = f"anthropic/{anthropic.__version__}"


def _clients(*names: str) -> tuple[type, ...]:
    return tuple(cls for name in names if isinstance(cls := getattr(anthropic, name, None), type))


_BEDROCK = _clients(
    "AnthropicBedrock", "AsyncAnthropicBedrock", "AnthropicBedrockMantle", "AsyncAnthropicBedrockMantle"
)
_VERTEX = _clients("AnthropicVertex", "AsyncAnthropicVertex")
_FOUNDRY = _clients("AnthropicFoundry", "AsyncAnthropicFoundry")
_SYNC_MANAGERS = tuple(
    cls
    for cls in (_streaming.MessageStreamManager, getattr(_streaming, "BetaMessageStreamManager", None))
    if isinstance(cls, type)
)
_ASYNC_MANAGERS = tuple(
    cls
    for cls in (
        _streaming.AsyncMessageStreamManager,
        getattr(_streaming, "BetaAsyncMessageStreamManager", None),
    )
    if isinstance(cls, type)
)


class _StreamManagerProxy(wrapt.ObjectProxy[Any]):  # type: ignore[misc]
    """``messages.stream(...)``: the request is made on ``__enter__``; its raw events are then observed."""

    def __init__(self, manager: Any, call: Call) -> None:
        super().__init__(manager)
        self._self_call = call

    def __enter__(self) -> Any:
        call = self._self_call
        call.t0 = time.perf_counter()
        try:
            stream = self.__wrapped__.__enter__()
        except Exception as exc:
            call.inst.safely(call.fail, exc)
            raise
        try:
            raw = stream._raw_stream
            call.response_headers = raw.response.headers
            stream._raw_stream = StreamProxy(raw, call)
        except Exception:  # noqa: BLE001
            call.inst.internal_error("observing a message stream")
        return stream

    def __exit__(self, *exc_info: Any) -> Any:
        return self.__wrapped__.__exit__(*exc_info)


class _AsyncStreamManagerProxy(wrapt.ObjectProxy[Any]):  # type: ignore[misc]
    """``AsyncMessages.stream(...)``: the request is made on ``__aenter__``."""

    def __init__(self, manager: Any, call: Call) -> None:
        super().__init__(manager)
        self._self_call = call

    async def __aenter__(self) -> Any:
        call = self._self_call
        call.t0 = time.perf_counter()
        try:
            stream = await self.__wrapped__.__aenter__()
        except Exception as exc:
            call.inst.safely(call.fail, exc)
            raise
        try:
            raw = stream._raw_stream
            call.response_headers = raw.response.headers
            stream._raw_stream = AsyncStreamProxy(raw, call)
        except Exception:  # noqa: BLE001
            call.inst.internal_error("observing a message stream")
        return stream

    async def __aexit__(self, *exc_info: Any) -> Any:
        return await self.__wrapped__.__aexit__(*exc_info)


def _event_matters(event: Any) -> bool:
    """Events with ids, usage or tool input are read as dicts; text deltas (most of a stream) are not."""
    kind = getattr(event, "type", None)
    if kind is None or not hasattr(event, "model_dump"):
        return True
    if kind == "content_block_delta":
        return getattr(getattr(event, "delta", None), "type", None) == "input_json_delta"
    return bool(kind != "ping")


class AnthropicAdapter:
    """``messages.create`` (``stream`` decided by the argument) or ``messages.stream``."""

    supports_headers = True

    def __init__(self, always_stream: bool) -> None:
        self.always_stream = always_stream

    # ---------------------------------------------------------------------------- the caller's thread

    def start(self, call: Call, instance: Any, kwargs: dict[str, Any]) -> None:
        client = getattr(instance, "_client", None)
        if isinstance(client, _BEDROCK):
            call.category = PayiCategories.aws_bedrock
        elif isinstance(client, _VERTEX):
            call.category = PayiCategories.google_vertex
        elif isinstance(client, _FOUNDRY):
            call.category = PayiCategories.azure
        else:
            call.category = PayiCategories.anthropic
        call.module = MODULE
        base_url = getattr(client, "base_url", None)
        call.provider_uri = str(base_url) if base_url is not None else None
        model = kwargs.get("model")
        call.model = self._resource(call, model) if isinstance(model, str) and model else None
        call.mappings = call.inst.settings.anthropic_mappings
        call.stream = self.always_stream or kwargs.get("stream") is True

    @staticmethod
    def _resource(call: Call, model: str) -> str:
        return f"anthropic.{model}" if call.category == PayiCategories.google_vertex else model

    def respond(self, call: Call, result: Any) -> Any:
        if isinstance(result, anthropic.Stream):
            return StreamProxy(result, call)
        if isinstance(result, anthropic.AsyncStream):
            return AsyncStreamProxy(result, call)
        if isinstance(result, _SYNC_MANAGERS):
            return _StreamManagerProxy(result, call)
        if isinstance(result, _ASYNC_MANAGERS):
            return _AsyncStreamManagerProxy(result, call)
        if is_raw_response(result):  # with_raw_response / with_streaming_response (LangChain's ChatAnthropic)
            return observe_raw(call, result, (anthropic.Stream, anthropic.AsyncStream))
        if call.stream or not hasattr(result, "model_dump"):
            call.inst.logger.debug("Pay-i: an unknown Anthropic response type is not instrumented")
            return result
        call.complete(result)
        return result

    def proxy_result(self, result: Any) -> Any:
        extra = getattr(result, "model_extra", None)
        return extra.get("xproxy_result") if isinstance(extra, dict) else None

    # ---------------------------------------------------------------------------- the sender's thread

    def extract(self, call: Call) -> None:
        log = call.attribution.log_prompt_and_response
        if call.stream:
            raw = call.chunks or []
            events = [to_jsonable(event) for event in raw if _event_matters(event)]
            usage = AnthropicStreamUsage()
            for event in events:
                usage.feed(event)
            call.units = usage.units()
            call.resource = self._resource(call, usage.model) if usage.model else None
            call.response_id = usage.response_id
            call.function_calls = stream_tool_uses(events)
            scope = usage.resource_scope()
            if log:
                call.response_json = [chunk_json(event) for event in raw]
        else:
            data = to_jsonable(call.response)
            if not isinstance(data, dict):
                return
            call.units = anthropic_response_units(data)
            model = data.get("model")
            call.resource = self._resource(call, model) if isinstance(model, str) and model else None
            call.response_id = data.get("id") if isinstance(data.get("id"), str) else None
            call.function_calls = tool_uses(data.get("content"))
            scope = anthropic_resource_scope(mapping(data.get("usage")))
            if log:
                call.response_json = compact_json(data)
        if call.category == PayiCategories.anthropic:
            call.resource_scope = scope

    def extract_error(self, call: Call, exc: BaseException) -> None:
        http_error_details(call, exc)


CREATE = AnthropicAdapter(always_stream=False)
STREAM = AnthropicAdapter(always_stream=True)


def install(logger: logging.Logger) -> None:
    """Patch the anthropic package (once per process)."""
    wrap("anthropic._base_client", "SyncAPIClient._process_response", capture_headers, logger)
    wrap("anthropic._base_client", "AsyncAPIClient._process_response", capture_headers_async, logger)
    for module in ("anthropic.resources.messages", "anthropic.resources.beta.messages"):
        wrap(module, "Messages.create", sync_wrapper(CREATE), logger)
        wrap(module, "Messages.stream", sync_wrapper(STREAM), logger)
        wrap(module, "AsyncMessages.create", async_wrapper(CREATE), logger)
        wrap(
            module, "AsyncMessages.stream", sync_wrapper(STREAM), logger
        )  # returns a manager, not a coroutine
