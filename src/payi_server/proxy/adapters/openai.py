"""OpenAI and Azure OpenAI: chat completions, responses, embeddings; JSON and SSE streams."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from payi.lib.units.openai import OpenAIChatStreamUsage, OpenAIResponsesStreamUsage, openai_response_units

from ...settings import Settings
from ..sse import SSEDecoder, SSEEvent
from .base import CallInfo, MakeResult, Usage, parse_json, sse_data

_RESPONSES_DONE = ("response.completed", "response.incomplete", "response.failed")


def _kind(path: str) -> str:
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/responses"):
        return "responses"
    if path.endswith("/embeddings"):
        return "embeddings"
    return "other"


def _deployment(path: str) -> str | None:
    parts = path.split("/")
    if "deployments" in parts:
        index = parts.index("deployments")
        if index + 1 < len(parts):
            return parts[index + 1]
    return None


class OpenAIAdapter:
    name = "openai"
    category = "system.openai"
    strip_prefix = "/v1"

    def default_base(self, settings: Settings) -> str:
        return settings.openai_base_url

    def inspect(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> CallInfo:
        kind = _kind(path)
        request = parse_json(body) if method == "POST" else None
        model = request.get("model") if request else None
        stream = bool(request and request.get("stream") is True)
        info = CallInfo(
            category=self.category,
            model=model if isinstance(model, str) else _deployment(path),
            stream=stream,
            body=body,
            request_json=request,
            kind=kind,
        )
        if stream and kind == "chat" and request is not None:
            options = request.get("stream_options")
            if not (isinstance(options, dict) and options.get("include_usage") is True):
                # Ask upstream for usage; the usage-only chunk is hidden from the client.
                request = dict(request)
                request["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
                info.body = orjson.dumps(request)
                info.added_usage = True
        return info

    def response_usage(self, info: CallInfo, data: Any, headers: Mapping[str, str]) -> Usage:
        body = data if isinstance(data, Mapping) else {}
        model = body.get("model") if isinstance(body.get("model"), str) else None
        return Usage(
            units=openai_response_units(body) if body.get("usage") else {},
            response_id=body.get("id") if isinstance(body.get("id"), str) else None,
            model=model,
        )

    def stream(self, info: CallInfo, make_result: MakeResult, keep_data: bool) -> _ChatStream | _ResponsesStream:
        if info.kind == "responses":
            return _ResponsesStream(make_result, keep_data)
        return _ChatStream(make_result, keep_data, hide_usage=info.added_usage)


class AzureOpenAIAdapter(OpenAIAdapter):
    name = "azure.openai"
    category = "system.azureopenai"
    strip_prefix = ""

    def default_base(self, settings: Settings) -> str:
        return settings.azure_openai_base_url


class _ChatStream:
    """Chat completions SSE: ``xproxy_result`` rides in a chunk before ``[DONE]``.

    If the client asked for usage, it is added to the usage chunk. If the proxy asked for it, the usage-only
    chunk is hidden and the result is merged into the last chunk the client would have received anyway (the one
    with ``finish_reason``, held back only until the usage chunk follows it).
    """

    def __init__(self, make_result: MakeResult, keep_data: bool, *, hide_usage: bool) -> None:
        self._decoder = SSEDecoder()
        self._usage = OpenAIChatStreamUsage()
        self._make_result = make_result
        self._hide = hide_usage
        self._held: dict[str, Any] | None = None
        self._held_raw = b""
        self._done = False
        self._keep = keep_data
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> bytes:
        if self._passes(chunk):
            return chunk
        if self._decoder.pending or b"\r" in chunk:
            return self._cut(chunk)
        # A read of many events (a short answer often comes whole): the first (its id and model), the plain run
        # after it, and the rest from the first event that may matter (a finish, usage, ``[DONE]``), each in turn
        # passed whole or cut into events. Where the parts are cut only decides what passes whole: each is
        # checked as any read is.
        return b"".join([part if self._passes(part) else self._cut(part) for part in self._parts(chunk)])

    def _cut(self, chunk: bytes) -> bytes:
        return b"".join([self._event(ev) for ev in self._decoder.feed(chunk)])

    def _parts(self, chunk: bytes) -> list[bytes]:
        start = 0
        parts = []
        if self._usage.response_id is None or self._usage.model is None:
            start = chunk.find(b"\n\n") + 2
            if start < 2:
                return [chunk]
            parts.append(chunk[:start])
        marks = [at for at in (chunk.find(b'"finish_reason":"', start), chunk.find(b'"usage":{', start),
                               chunk.find(b"[DONE]", start)) if at >= 0]
        cut = len(chunk)
        if marks:
            before = chunk.rfind(b"\n\n", start, min(marks))  # the end of the event before the first that may matter
            cut = before + 2 if before >= 0 else start
        parts += [part for part in (chunk[start:cut], chunk[cut:]) if part]
        return parts

    def _passes(self, chunk: bytes) -> bool:
        """True when ``chunk`` is whole events that :meth:`_unchanged` would each pass on unparsed: it is forwarded
        as it came, without being cut into events (a read from the provider holds many; each event cut and checked
        on its own cost about 2 us). Whole events, each one ``data:`` line: the decoder holds nothing, the chunk
        starts with ``data: `` and ends in a blank line, and has two line ends per event and no ``\r``. What
        ``_unchanged`` asks of each event, asked of all at once: every ``usage``, every ``finish_reason`` (while
        one may be held back) null, every ``model`` the known one. (An event naming ``"usage":null`` twice would
        be parsed there, and give the same: no usage, the same model.) No ``[DONE]``, nothing held back."""
        usage = self._usage
        if self._keep or usage.response_id is None or usage.model is None or self._held is not None:
            return False
        decoder = self._decoder
        if decoder.pending or not decoder.started or not chunk.startswith(b"data: ") or not chunk.endswith(b"\n\n"):
            return False
        if b"[DONE]" in chunk:  # (first: the tail of a stream read whole fails here, before any count)
            return False
        events = chunk.count(b"\n\n")
        if chunk.count(b"\n") != 2 * events or chunk.count(b"\n\ndata: ") != events - 1 or b"\r" in chunk:
            return False
        if chunk.count(b'"usage"') != chunk.count(b'"usage":null'):
            return False
        if chunk.count(b'"model"') != chunk.count(b'"model":"' + usage.model.encode() + b'"'):
            return False
        return not (self._hide and not self._done
                    and chunk.count(b'"finish_reason"') != chunk.count(b'"finish_reason":null'))

    def finish(self) -> bytes:
        tail = b"".join([self._event(ev) for ev in self._decoder.flush()])
        return tail + self._release()

    def _release(self) -> bytes:
        raw, self._held, self._held_raw = self._held_raw, None, b""
        return raw

    def _event(self, ev: SSEEvent) -> bytes:
        if not ev.has_data:
            return ev.raw
        data = ev.data
        if data.strip() == "[DONE]":
            return self._release() + ev.raw
        if self._unchanged(data):
            return ev.raw
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return ev.raw
        if not isinstance(obj, dict):
            return ev.raw
        if self._keep:
            self._data.append(data)
        if self._usage.feed(obj) and not self._done:
            self._done = True
            result = self._make_result(self._usage.units(), self._usage.response_id, self._usage.model)
            if self._hide and not obj.get("choices"):
                if self._held is not None:
                    held = self._held
                    self._held, self._held_raw = None, b""
                    held["xproxy_result"] = result
                    return sse_data(held)
                return b""
            obj["xproxy_result"] = result
            return sse_data(obj)
        if self._hide and not self._done and any(
            isinstance(c, dict) and c.get("finish_reason") for c in obj.get("choices") or []
        ):
            released = self._release()
            self._held, self._held_raw = obj, ev.raw
            return released
        return ev.raw

    def _unchanged(self, data: str) -> bool:
        """True when parsing this chunk could change nothing: its id and model are known and it names the same
        model (or none), its only ``usage`` is null and, while a finishing chunk may be held back, every
        ``finish_reason`` is null. Read from the text: a quote inside a JSON string is escaped, so ``"usage":null``
        there is a key and its value. Anything else (other spacing included) is parsed as before."""
        usage = self._usage
        if self._keep or usage.response_id is None or usage.model is None:
            return False
        if data.count('"usage"') != data.count('"usage":null') or data.count('"usage"') > 1:
            return False
        models = data.count('"model"')
        if models > 1 or (models == 1 and f'"model":"{usage.model}"' not in data):
            return False
        if self._hide and not self._done and data.count('"finish_reason"') != data.count('"finish_reason":null'):
            return False
        return True

    def usage(self) -> Usage | None:
        if not self._usage.has_usage:
            return None
        return Usage(units=self._usage.units(), response_id=self._usage.response_id, model=self._usage.model)

    def data_items(self) -> list[str]:
        return self._data


class _ResponsesStream:
    """Responses API SSE: ``xproxy_result`` is added to the ``response.completed`` event."""

    def __init__(self, make_result: MakeResult, keep_data: bool) -> None:
        self._decoder = SSEDecoder()
        self._usage = OpenAIResponsesStreamUsage()
        self._make_result = make_result
        self._done = False
        self._keep = keep_data
        self._data: list[str] = []

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
        if obj.get("type") in _RESPONSES_DONE and not self._done and self._usage.has_usage:
            self._done = True
            obj["xproxy_result"] = self._make_result(self._usage.units(), self._usage.response_id, self._usage.model)
            return sse_data(obj, ev.event)
        return ev.raw

    def usage(self) -> Usage | None:
        if not self._usage.has_usage:
            return None
        return Usage(units=self._usage.units(), response_id=self._usage.response_id, model=self._usage.model)

    def data_items(self) -> list[str]:
        return self._data
