"""The contract between the proxy route and a provider adapter.

An adapter turns a provider's wire format into what the one metering path needs: from the request, the model,
whether it streams, and the body to send upstream (``inspect``); from a JSON response, the units
(``response_usage``); from a stream, a ``StreamProcessor`` that forwards every chunk as it arrives, reads usage
as it passes, and puts ``xproxy_result`` where the provider's clients expect it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from ...metering.event import Units
from ...metering.event import Usage as Usage
from ...settings import Settings

# Called once, when a stream's final usage is known: (units, response id, upstream model) -> xproxy_result.
MakeResult = Callable[[Units, str | None, str | None], dict[str, Any]]


@dataclass(slots=True)
class CallInfo:
    """What the adapter learnt from a request."""

    category: str
    model: str | None
    stream: bool
    body: bytes
    request_json: dict[str, Any] | None = None
    kind: str = "other"
    added_usage: bool = False  # the proxy asked upstream for usage the client did not ask for


class StreamProcessor(Protocol):
    def feed(self, chunk: bytes) -> bytes:
        """Bytes to forward now for this upstream chunk (nothing is held longer than it must be)."""

    def finish(self) -> bytes:
        """Bytes still to forward when the upstream stream ends."""

    def usage(self) -> Usage | None:
        """The usage read so far (``None``: none arrived)."""

    def data_items(self) -> list[str]:
        """The stream's data payloads, for prompt/response logging."""


class Adapter(Protocol):
    name: str
    category: str
    strip_prefix: str

    def default_base(self, settings: Settings) -> str: ...

    def inspect(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> CallInfo: ...

    def response_usage(self, info: CallInfo, data: Any, headers: Mapping[str, str]) -> Usage: ...

    def stream(self, info: CallInfo, make_result: MakeResult, keep_data: bool) -> StreamProcessor: ...


def parse_json(body: bytes) -> dict[str, Any] | None:
    if not body:
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def sse_data(obj: Any, event: str | None = None) -> bytes:
    prefix = b"event: " + event.encode() + b"\n" if event else b""
    return prefix + b"data: " + orjson.dumps(obj) + b"\n\n"
