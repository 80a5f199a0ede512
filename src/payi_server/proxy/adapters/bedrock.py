"""AWS Bedrock runtime: InvokeModel, Converse and their binary event streams.

The client signed the request for Bedrock's own host (SigV4), so the proxy forwards path, query, body bytes and
signed headers untouched to the original host (``xProxy-Provider-BaseUri``). Event streams are forwarded byte for
byte as they arrive and decoded on the side for usage; ``xproxy_result`` is added to InvokeModel and Converse
JSON bodies only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from payi.lib.units.bedrock import (
    BedrockInvokeStreamUsage,
    ConverseStreamUsage,
    bedrock_converse_units,
    bedrock_invoke_units,
)

from ...settings import Settings
from ..eventstream import EventStreamDecodeError, EventStreamDecoder
from .base import CallInfo, MakeResult, Usage, parse_json


def _model_and_kind(path: str) -> tuple[str | None, str]:
    parts = path.split("/")
    if len(parts) >= 4 and parts[1] == "model":
        return unquote(parts[2]), parts[3]
    return None, "other"


class BedrockAdapter:
    name = "aws.bedrock"
    category = "system.aws.bedrock"
    strip_prefix = ""
    byte_exact = True  # signed requests: nothing about the request may change

    def default_base(self, settings: Settings) -> str:
        return settings.aws_bedrock_base_url

    def inspect(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> CallInfo:
        model, kind = _model_and_kind(path)
        return CallInfo(
            category=self.category,
            model=model,
            stream=kind in ("invoke-with-response-stream", "converse-stream"),
            body=body,
            request_json=parse_json(body),
            kind=kind,
        )

    def response_usage(self, info: CallInfo, data: Any, headers: Mapping[str, str]) -> Usage:
        body = data if isinstance(data, Mapping) else {}
        if info.kind == "converse":
            units = bedrock_converse_units(body, model_id=info.model)
        else:
            units = bedrock_invoke_units(body, model_id=info.model, headers=headers, request_json=info.request_json)
        return Usage(units=units, response_id=headers.get("x-amzn-requestid"), model=None)

    def stream(self, info: CallInfo, make_result: MakeResult, keep_data: bool) -> _EventStream:
        return _EventStream(info, keep_data)


class _EventStream:
    """Forward every byte as it comes; decode a copy for usage. A stream that stops decoding is still forwarded."""

    def __init__(self, info: CallInfo, keep_data: bool) -> None:
        self._decoder: EventStreamDecoder | None = EventStreamDecoder()
        self._converse = info.kind == "converse-stream"
        self._invoke_usage = BedrockInvokeStreamUsage(model_id=info.model)
        self._converse_usage = ConverseStreamUsage(model_id=info.model)
        self._keep = keep_data
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> bytes:
        if self._decoder is not None:
            try:
                messages = self._decoder.feed(chunk)
            except EventStreamDecodeError as exc:
                messages = exc.messages
                self._decoder = None
            for message in messages:
                if not message.is_event:
                    continue
                if self._converse:
                    if isinstance(message.body, Mapping) and message.event_type:
                        self._converse_usage.feed(message.body, event_type=message.event_type)
                elif isinstance(message.chunk, Mapping):
                    self._invoke_usage.feed(message.chunk)
                if self._keep and message.payload:
                    self._data.append(message.payload.decode("utf-8", "replace"))
        return chunk

    def finish(self) -> bytes:
        return b""

    def usage(self) -> Usage | None:
        tracker: BedrockInvokeStreamUsage | ConverseStreamUsage
        tracker = self._converse_usage if self._converse else self._invoke_usage
        if not tracker.has_usage:
            return None
        return Usage(units=tracker.units(), model=None)

    def data_items(self) -> list[str]:
        return self._data
