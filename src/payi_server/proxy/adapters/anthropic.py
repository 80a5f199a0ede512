"""Anthropic and Azure (Foundry) Anthropic: messages, JSON and SSE; ``xproxy_result`` rides in ``message_delta``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from payi.lib.units.anthropic import AnthropicStreamUsage, anthropic_resource_scope, anthropic_response_units

from ...settings import Settings
from ..sse import SSEDecoder, SSEEvent
from .base import CallInfo, MakeResult, Usage, parse_json, sse_data


class AnthropicAdapter:
    name = "anthropic"
    category = "system.anthropic"
    strip_prefix = ""

    def default_base(self, settings: Settings) -> str:
        return settings.anthropic_base_url

    def inspect(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> CallInfo:
        request = parse_json(body) if method == "POST" else None
        model = request.get("model") if request else None
        return CallInfo(
            category=self.category,
            model=model if isinstance(model, str) else None,
            stream=bool(request and request.get("stream") is True),
            body=body,
            request_json=request,
            kind="messages" if path.endswith("/messages") else "other",
        )

    def response_usage(self, info: CallInfo, data: Any, headers: Mapping[str, str]) -> Usage:
        body = data if isinstance(data, Mapping) else {}
        usage = body.get("usage") if isinstance(body.get("usage"), Mapping) else None
        return Usage(
            units=anthropic_response_units(body) if usage else {},
            response_id=body.get("id") if isinstance(body.get("id"), str) else None,
            model=body.get("model") if isinstance(body.get("model"), str) else None,
            resource_scope=anthropic_resource_scope(usage) if self.name == "anthropic" else None,
        )

    def stream(self, info: CallInfo, make_result: MakeResult, keep_data: bool) -> _MessagesStream:
        return _MessagesStream(make_result, keep_data, geo_scope=self.name == "anthropic")


class AzureAnthropicAdapter(AnthropicAdapter):
    name = "azure.anthropic"
    category = "system.azure"

    def default_base(self, settings: Settings) -> str:
        return settings.azure_anthropic_base_url


class _MessagesStream:
    def __init__(self, make_result: MakeResult, keep_data: bool, *, geo_scope: bool) -> None:
        self._decoder = SSEDecoder()
        self._usage = AnthropicStreamUsage()
        self._make_result = make_result
        self._geo = geo_scope
        self._keep = keep_data
        self._data: list[str] = []
        self._done = False

    def feed(self, chunk: bytes) -> bytes:
        return b"".join([self._event(ev) for ev in self._decoder.feed(chunk)])

    def finish(self) -> bytes:
        return b"".join([self._event(ev) for ev in self._decoder.flush()])

    def _event(self, ev: SSEEvent) -> bytes:
        if not ev.has_data:
            return ev.raw
        try:
            obj = orjson.loads(ev.data)
        except orjson.JSONDecodeError:
            return ev.raw
        if not isinstance(obj, dict):
            return ev.raw
        if self._keep:
            self._data.append(ev.data)
        self._usage.feed(obj)
        if obj.get("type") == "message_delta" and not self._done:
            self._done = True
            obj["xproxy_result"] = self._make_result(self._usage.units(), self._usage.response_id, self._usage.model)
            return sse_data(obj, ev.event or "message_delta")
        return ev.raw

    def usage(self) -> Usage | None:
        if not self._usage.has_usage:
            return None
        return Usage(
            units=self._usage.units(),
            response_id=self._usage.response_id,
            model=self._usage.model,
            resource_scope=self._usage.resource_scope() if self._geo else None,
        )

    def data_items(self) -> list[str]:
        return self._data
