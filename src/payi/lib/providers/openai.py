"""OpenAI (and Azure OpenAI) instrumentation: chat completions, responses and embeddings, sync and async.

Patched: ``Completions.create/parse``, ``Responses.create/parse``, ``Embeddings.create`` and their async twins
(``.stream()`` helpers call ``create`` and are covered by it), plus ``_process_response`` to keep the HTTP
response headers. ``AzureOpenAI`` clients are ``system.azureopenai``, every other client ``system.openai``.

Streaming chat calls that did not ask for usage get ``stream_options.include_usage`` added, and the extra
usage-only chunk is hidden from the caller. Units come from ``payi.lib.units.openai`` (the proxy's functions), and
the resource is the model the upstream answered with.

Example:
    >>> # payi_instrument(payi); OpenAI().chat.completions.create(model="gpt-4o-mini", messages=[...])
"""

from __future__ import annotations

import logging
from typing import Any

import openai

from ...types.ingest_units_params import FunctionCallInfoParam
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
from ..units.openai import OpenAIChatStreamUsage, OpenAIResponsesStreamUsage, openai_response_units

__all__ = ["install"]

MODULE = f"openai/{openai.__version__}"
_AZURE_CLIENTS = (openai.AzureOpenAI, openai.AsyncAzureOpenAI)


_RESPONSES_KEPT = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "response.output_item.done",
    }
)


def _chat_chunk_matters(chunk: Any) -> bool:
    """A chat chunk with usage, a tool call delta, or an unexpected shape (read as a dict)."""
    if not hasattr(chunk, "model_dump") or getattr(chunk, "usage", None) is not None:
        return True
    for choice in getattr(chunk, "choices", None) or ():
        delta = getattr(choice, "delta", None)
        if delta is not None and (
            getattr(delta, "tool_calls", None) or getattr(delta, "function_call", None)
        ):
            return True
    return False


def _usage_only(chunk: Any) -> bool:
    """The chunk ``include_usage`` adds: usage and no choices."""
    return getattr(chunk, "usage", None) is not None and not getattr(chunk, "choices", None)


def _function_calls_of_message(data: dict[str, Any]) -> list[FunctionCallInfoParam]:
    calls: list[FunctionCallInfoParam] = []
    for choice in data.get("choices") or ():
        message = mapping(mapping(choice).get("message"))
        for tool_call in message.get("tool_calls") or ():
            function = mapping(mapping(tool_call).get("function"))
            if function.get("name"):
                calls.append({"name": function["name"], "arguments": function.get("arguments")})
        legacy = mapping(message.get("function_call"))
        if legacy.get("name"):
            calls.append({"name": legacy["name"], "arguments": legacy.get("arguments")})
    return calls


def _function_calls_of_output(output: Any) -> list[FunctionCallInfoParam]:
    return [
        {"name": item["name"], "arguments": item.get("arguments")}
        for item in output or ()
        if isinstance(item, dict) and item.get("type") == "function_call" and item.get("name")
    ]


class _StreamCalls:
    """Tool calls assembled from chat stream deltas."""

    def __init__(self) -> None:
        self.calls: dict[tuple[int, int], dict[str, str]] = {}

    def feed(self, chunk: dict[str, Any]) -> None:
        for choice in chunk.get("choices") or ():
            choice = mapping(choice)
            delta = mapping(choice.get("delta"))
            index = choice.get("index") or 0
            parts = [
                (mapping(tc).get("index") or 0, mapping(mapping(tc).get("function")))
                for tc in delta.get("tool_calls") or ()
            ]
            if delta.get("function_call"):
                parts.append((-1, mapping(delta.get("function_call"))))
            for position, function in parts:
                entry = self.calls.setdefault((index, position), {"name": "", "arguments": ""})
                entry["name"] += function.get("name") or ""
                entry["arguments"] += function.get("arguments") or ""

    def result(self) -> list[FunctionCallInfoParam]:
        return [{"name": c["name"], "arguments": c["arguments"]} for c in self.calls.values() if c["name"]]


class OpenAIAdapter:
    """One OpenAI method kind: ``chat``, ``responses`` or ``embeddings``."""

    supports_headers = True

    def __init__(self, kind: str) -> None:
        self.kind = kind

    # ---------------------------------------------------------------------------- the caller's thread

    def start(self, call: Call, instance: Any, kwargs: dict[str, Any]) -> None:
        client = getattr(instance, "_client", None)
        call.category = (
            PayiCategories.azure_openai if isinstance(client, _AZURE_CLIENTS) else PayiCategories.openai
        )
        call.module = MODULE
        base_url = getattr(client, "base_url", None)
        call.provider_uri = str(base_url) if base_url is not None else None
        model = kwargs.get("model")
        call.model = model if isinstance(model, str) and model else getattr(client, "_azure_deployment", None)
        call.mappings = call.inst.settings.openai_mappings
        if kwargs.get("stream") is True:
            call.stream = True
            if self.kind == "chat":
                options = kwargs.get("stream_options")
                if not (isinstance(options, dict) and options.get("include_usage")):
                    kwargs["stream_options"] = {
                        **(options if isinstance(options, dict) else {}),
                        "include_usage": True,
                    }
                    call.hide = _usage_only

    def respond(self, call: Call, result: Any) -> Any:
        if isinstance(result, openai.Stream):
            return StreamProxy(result, call)
        if isinstance(result, openai.AsyncStream):
            return AsyncStreamProxy(result, call)
        if is_raw_response(result):  # with_raw_response / with_streaming_response (LangChain's ChatOpenAI)
            return observe_raw(call, result, (openai.Stream, openai.AsyncStream))
        if call.stream or not hasattr(result, "model_dump"):
            call.inst.logger.debug("Pay-i: an unknown OpenAI response type is not instrumented")
            return result
        call.complete(result)
        return result

    def proxy_result(self, result: Any) -> Any:
        extra = getattr(result, "model_extra", None)
        return extra.get("xproxy_result") if isinstance(extra, dict) else None

    # ---------------------------------------------------------------------------- the sender's thread

    def extract(self, call: Call) -> None:
        if call.stream:
            self._extract_stream(call)
            return
        data = to_jsonable(call.response)
        if not isinstance(data, dict):
            return
        call.units = openai_response_units(data)
        if isinstance(data.get("model"), str) and data["model"]:
            call.resource = data["model"]
        if isinstance(data.get("id"), str) and data["id"]:
            call.response_id = data["id"]
        if self.kind == "chat":
            call.function_calls = _function_calls_of_message(data)
        elif self.kind == "responses":
            call.function_calls = _function_calls_of_output(data.get("output"))
        if call.attribution.log_prompt_and_response:
            call.response_json = [compact_json(data)]

    def _extract_stream(self, call: Call) -> None:
        raw = call.chunks or []
        # only the chunks that carry ids, usage or tool calls are turned into dicts (a stream has many)
        usage: OpenAIChatStreamUsage | OpenAIResponsesStreamUsage
        if self.kind == "responses":
            usage = OpenAIResponsesStreamUsage()
            calls: list[FunctionCallInfoParam] = []
            for event in raw:
                if getattr(event, "type", "response.") not in _RESPONSES_KEPT and hasattr(
                    event, "model_dump"
                ):
                    continue
                data = to_jsonable(event)
                usage.feed(data)
                if data.get("type") == "response.output_item.done":
                    calls.extend(_function_calls_of_output([data.get("item")]))
            call.function_calls = calls
        else:
            usage = OpenAIChatStreamUsage()
            tools = _StreamCalls()
            for index, chunk in enumerate(raw):
                if index and not _chat_chunk_matters(chunk):
                    continue
                data = to_jsonable(chunk)
                usage.feed(data)
                tools.feed(data)
            call.function_calls = tools.result()
        call.units = usage.units()
        call.resource = usage.model
        call.response_id = usage.response_id
        if call.attribution.log_prompt_and_response:
            call.response_json = [chunk_json(chunk) for chunk in raw]

    def extract_error(self, call: Call, exc: BaseException) -> None:
        http_error_details(call, exc)


CHAT = OpenAIAdapter("chat")
RESPONSES = OpenAIAdapter("responses")
EMBEDDINGS = OpenAIAdapter("embeddings")


def install(logger: logging.Logger) -> None:
    """Patch the openai package (once per process)."""
    wrap("openai._base_client", "SyncAPIClient._process_response", capture_headers, logger)
    wrap("openai._base_client", "AsyncAPIClient._process_response", capture_headers_async, logger)
    for module, adapter in (
        ("openai.resources.chat.completions", CHAT),
        ("openai.resources.responses", RESPONSES),
    ):
        for method in ("create", "parse"):
            wrap(module, f"{type_name(module, False)}.{method}", sync_wrapper(adapter), logger)
            wrap(module, f"{type_name(module, True)}.{method}", async_wrapper(adapter), logger)
    wrap("openai.resources.embeddings", "Embeddings.create", sync_wrapper(EMBEDDINGS), logger)
    wrap("openai.resources.embeddings", "AsyncEmbeddings.create", async_wrapper(EMBEDDINGS), logger)


def type_name(module: str, is_async: bool) -> str:
    base = "Completions" if module.endswith("completions") else "Responses"
    return f"Async{base}" if is_async else base
