"""Incremental AWS binary event-stream handling for Bedrock stream responses.

``InvokeModelWithResponseStream`` and ``ConverseStream`` answer with ``application/vnd.amazon.eventstream``.
The proxy forwards those bytes unchanged (the client's SigV4-aware botocore parser checks every CRC) and reads
usage from the messages as they pass. Parsing and CRC validation are botocore's ``EventStreamBuffer`` (the same
code the client runs); this module only keeps each message's exact raw bytes next to the parsed result, decodes
the JSON payloads, and unwraps the base64 ``bytes`` of InvokeModel ``chunk`` events into the model's own JSON.

Wire format of one message (integers big-endian)::

    [total length u32][headers length u32][prelude CRC32 u32][headers][payload][message CRC32 u32]

where the prelude CRC covers the first 8 bytes and the message CRC everything before it.
"""

from __future__ import annotations

import base64
import binascii
import struct
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeAlias

import orjson
from botocore.eventstream import EventStreamBuffer, ParserError

__all__ = [
    "CONTENT_TYPE",
    "EventMessage",
    "EventStreamDecodeError",
    "EventStreamDecoder",
    "HeaderValue",
    "encode_chunk_event",
    "encode_headers",
    "encode_json_event",
    "encode_message",
]

CONTENT_TYPE: Final = "application/vnd.amazon.eventstream"

HeaderValue: TypeAlias = bool | int | bytes | str | uuid.UUID | datetime

# botocore's limits (botocore.eventstream._MAX_HEADERS_LENGTH / _MAX_PAYLOAD_LENGTH)
_MAX_HEADERS_LENGTH: Final = 128 * 1024
_MAX_PAYLOAD_LENGTH: Final = 24 * 1024 * 1024
_PRELUDE: Final = struct.Struct("!II")
_U32: Final = struct.Struct("!I")

_TYPE_TRUE: Final = 0
_TYPE_FALSE: Final = 1
_TYPE_INT32: Final = 4
_TYPE_INT64: Final = 5
_TYPE_BYTES: Final = 6
_TYPE_STRING: Final = 7
_TYPE_TIMESTAMP: Final = 8
_TYPE_UUID: Final = 9


@dataclass(frozen=True, slots=True)
class EventMessage:
    """One event-stream message.

    ``raw``: its exact bytes (prelude to message CRC) for byte-for-byte forwarding. ``headers``: as botocore
    decodes them (``:event-type``, ``:message-type``, ``:content-type``, ``:exception-type``, ...).
    ``body``: the JSON-decoded payload, or None when the payload is empty or not JSON. ``chunk``: for an
    InvokeModelWithResponseStream ``chunk`` event, the model's JSON chunk decoded from the base64 ``bytes``
    field (``chunk_bytes`` holds the decoded bytes even when they are not JSON).
    """

    raw: bytes
    headers: dict[str, Any]
    payload: bytes
    body: Any = None
    chunk: Any = None
    chunk_bytes: bytes | None = None

    @property
    def event_type(self) -> str | None:
        value = self.headers.get(":event-type")
        return value if isinstance(value, str) else None

    @property
    def message_type(self) -> str | None:
        value = self.headers.get(":message-type")
        return value if isinstance(value, str) else None

    @property
    def exception_type(self) -> str | None:
        value = self.headers.get(":exception-type")
        return value if isinstance(value, str) else None

    @property
    def is_event(self) -> bool:
        return self.message_type == "event"

    @property
    def is_error(self) -> bool:
        """A modelled exception (``:message-type: exception``) or a service error (``error``)."""
        return self.message_type in ("exception", "error")


class EventStreamDecodeError(ValueError):
    """The stream is corrupt (CRC mismatch, impossible lengths, bad headers).

    ``messages`` are the messages of the failing ``feed`` call that were decoded before the error (their bytes
    are not part of ``unparsed``); ``unparsed`` is every byte received and not returned in a message. The decoder
    cannot continue after this error; a proxy should forward the remaining bytes without decoding them.
    """

    def __init__(self, message: str, messages: list[EventMessage], unparsed: bytes) -> None:
        super().__init__(message)
        self.messages = messages
        self.unparsed = unparsed


def _loads(data: bytes) -> Any:
    if not data:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _build_message(raw: bytes, headers: Mapping[str, Any], payload: bytes) -> EventMessage:
    header_dict = dict(headers)
    body = _loads(payload)
    chunk: Any = None
    chunk_bytes: bytes | None = None
    if (
        header_dict.get(":event-type") == "chunk"
        and header_dict.get(":message-type", "event") == "event"
        and isinstance(body, dict)
        and isinstance(body.get("bytes"), str)
    ):
        try:
            chunk_bytes = base64.b64decode(body["bytes"], validate=True)
        except binascii.Error:
            chunk_bytes = None
        if chunk_bytes is not None:
            chunk = _loads(chunk_bytes)
    return EventMessage(
        raw=raw, headers=header_dict, payload=payload, body=body, chunk=chunk, chunk_bytes=chunk_bytes
    )


class EventStreamDecoder:
    """Feed raw response chunks (split anywhere); get complete messages back. One decoder per stream."""

    __slots__ = ("_buffer", "_failed", "_raw")

    def __init__(self) -> None:
        self._buffer = EventStreamBuffer()
        self._raw = bytearray()
        self._failed = False

    @property
    def pending(self) -> int:
        """Bytes received but not yet returned in a message (a partial message at the end of the stream)."""
        return len(self._raw)

    def feed(self, chunk: bytes) -> list[EventMessage]:
        """Add bytes; return the messages they complete, in order. Raises ``EventStreamDecodeError``."""
        if self._failed:
            raise EventStreamDecodeError("event stream decoder already failed", [], bytes(chunk))
        if not chunk:
            return []
        self._raw += chunk
        self._buffer.add_data(bytes(chunk))
        messages: list[EventMessage] = []
        try:
            for message in self._buffer:
                length = int(message.prelude.total_length)
                raw = bytes(self._raw[:length])
                del self._raw[:length]
                messages.append(_build_message(raw, message.headers, bytes(message.payload)))
        except ParserError as exc:
            self._failed = True
            unparsed = bytes(self._raw)
            self._raw.clear()
            raise EventStreamDecodeError(f"corrupt event stream: {exc}", messages, unparsed) from exc
        return messages


# --------------------------------------------------------------------------------------------- encoding


def _encode_header_value(value: HeaderValue) -> bytes:
    if isinstance(value, bool):
        return bytes((_TYPE_TRUE if value else _TYPE_FALSE,))
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return bytes((_TYPE_INT32,)) + value.to_bytes(4, "big", signed=True)
        return bytes((_TYPE_INT64,)) + value.to_bytes(8, "big", signed=True)
    if isinstance(value, bytes | str):
        data = value.encode("utf-8") if isinstance(value, str) else value
        if len(data) > 0xFFFF:
            raise ValueError("event stream header value longer than 65535 bytes")
        kind = _TYPE_STRING if isinstance(value, str) else _TYPE_BYTES
        return bytes((kind,)) + len(data).to_bytes(2, "big") + data
    if isinstance(value, uuid.UUID):
        return bytes((_TYPE_UUID,)) + value.bytes
    if isinstance(value, datetime):
        millis = int(value.timestamp() * 1000)
        return bytes((_TYPE_TIMESTAMP,)) + millis.to_bytes(8, "big", signed=True)
    raise TypeError(f"unsupported event stream header value: {type(value).__name__}")


def encode_headers(headers: Mapping[str, HeaderValue] | Iterable[tuple[str, HeaderValue]]) -> bytes:
    """Encode headers in order (str -> string, bytes -> byte array, bool, int -> int32/int64, UUID, datetime)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = bytearray()
    for name, value in items:
        raw_name = name.encode("utf-8")
        if not 0 < len(raw_name) <= 255:
            raise ValueError(f"event stream header name must be 1-255 bytes: {name!r}")
        out.append(len(raw_name))
        out += raw_name
        out += _encode_header_value(value)
    if len(out) > _MAX_HEADERS_LENGTH:
        raise ValueError("event stream headers longer than 128 KiB")
    return bytes(out)


def encode_message(
    headers: Mapping[str, HeaderValue] | Iterable[tuple[str, HeaderValue]], payload: bytes
) -> bytes:
    """Frame one message: prelude (total and headers length, prelude CRC32), headers, payload, message CRC32."""
    header_bytes = encode_headers(headers)
    if len(payload) > _MAX_PAYLOAD_LENGTH:
        raise ValueError("event stream payload longer than 24 MiB")
    total = _PRELUDE.size + 4 + len(header_bytes) + len(payload) + 4
    prelude = _PRELUDE.pack(total, len(header_bytes))
    head = prelude + _U32.pack(binascii.crc32(prelude))
    body = head + header_bytes + payload
    return body + _U32.pack(binascii.crc32(body))


def encode_json_event(event_type: str, payload: Any) -> bytes:
    """A normal JSON event as Bedrock sends it (e.g. ConverseStream ``metadata``)."""
    headers = ((":event-type", event_type), (":content-type", "application/json"), (":message-type", "event"))
    return encode_message(headers, orjson.dumps(payload))


def encode_chunk_event(model_chunk: bytes) -> bytes:
    """An InvokeModelWithResponseStream ``chunk`` event wrapping the model's JSON bytes in base64."""
    return encode_json_event("chunk", {"bytes": base64.b64encode(model_chunk).decode("ascii")})
