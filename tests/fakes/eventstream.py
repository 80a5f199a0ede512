"""AWS binary event stream (``application/vnd.amazon.eventstream``): an encoder and a small decoder.

Wire format of one message (all integers big-endian)::

    [total length: u32][headers length: u32][prelude CRC32: u32]
    [headers ...][payload ...]
    [message CRC32: u32]   # CRC32 of everything before it, prelude CRC included

Each header is ``[name length: u8][name][type: u8][value]``; type 7 is a UTF-8 string with a u16 length.
botocore's ``botocore.eventstream.EventStreamBuffer`` is the decoder we must satisfy; the decoder here
delegates to it so tests check against the real thing.
"""

from __future__ import annotations

import base64
import struct
from binascii import crc32
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

CONTENT_TYPE = "application/vnd.amazon.eventstream"

_HEADER_TYPE_STRING = 7
_PRELUDE = struct.Struct("!II")
_U32 = struct.Struct("!I")


def encode_headers(headers: Iterable[tuple[str, str]]) -> bytes:
    """Encode string headers (type 7) in the given order."""
    out = bytearray()
    for name, value in headers:
        raw_name = name.encode("utf-8")
        raw_value = value.encode("utf-8")
        if len(raw_name) > 255 or len(raw_value) > 0xFFFF:
            raise ValueError(f"event stream header too long: {name!r}")
        out.append(len(raw_name))
        out += raw_name
        out.append(_HEADER_TYPE_STRING)
        out += len(raw_value).to_bytes(2, "big")
        out += raw_value
    return bytes(out)


def encode_message_raw(header_bytes: bytes, payload: bytes) -> bytes:
    """Frame already-encoded headers and a payload into one event stream message."""
    total = 12 + len(header_bytes) + len(payload) + 4
    prelude = _PRELUDE.pack(total, len(header_bytes))
    prelude_crc = crc32(prelude) & 0xFFFFFFFF
    body = prelude + _U32.pack(prelude_crc) + header_bytes + payload
    return body + _U32.pack(crc32(body) & 0xFFFFFFFF)


def encode_message(headers: Iterable[tuple[str, str]], payload: bytes) -> bytes:
    return encode_message_raw(encode_headers(headers), payload)


def event_headers(event_type: str) -> bytes:
    """Headers of a normal event as Bedrock sends them."""
    return encode_headers(
        ((":event-type", event_type), (":content-type", "application/json"), (":message-type", "event"))
    )


def exception_headers(exception_type: str) -> bytes:
    """Headers of a modelled exception inside the stream (botocore raises ``EventStreamError``)."""
    return encode_headers(
        (
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        )
    )


def encode_event(event_type: str, payload: Any) -> bytes:
    """One JSON event, e.g. ``encode_event("messageStart", {"role": "assistant"})``."""
    return encode_message_raw(event_headers(event_type), orjson.dumps(payload))


def chunk_payload(model_chunk: bytes, padding: str | None = None) -> bytes:
    """The JSON payload of an InvokeModelWithResponseStream ``chunk`` event: ``{"bytes": base64(model JSON)}``."""
    obj: dict[str, str] = {"bytes": base64.b64encode(model_chunk).decode("ascii")}
    if padding is not None:
        obj["p"] = padding
    return orjson.dumps(obj)


# --------------------------------------------------------------------------------------------- decoding


def decode_messages(data: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """Decode a complete event stream body into ``(headers, payload)`` pairs with botocore's decoder.

    Raises ``botocore.eventstream.ParserError`` subclasses on corrupt input; trailing partial data is an error too.
    """
    from botocore.eventstream import EventStreamBuffer

    buf = EventStreamBuffer()
    buf.add_data(data)
    out: list[tuple[dict[str, Any], bytes]] = []
    consumed = 0
    for msg in buf:
        out.append((dict(msg.headers), bytes(msg.payload)))
        consumed += msg.prelude.total_length
    if consumed != len(data):
        raise ValueError(f"event stream has {len(data) - consumed} trailing bytes")
    return out


def iter_invoke_chunks(data: bytes) -> Iterator[dict[str, Any]]:
    """Model JSON chunks of an InvokeModelWithResponseStream body (base64 ``bytes`` decoded and parsed)."""
    for headers, payload in decode_messages(data):
        if headers.get(":message-type") != "event" or headers.get(":event-type") != "chunk":
            raise ValueError(f"unexpected event stream message: {headers!r} {payload[:200]!r}")
        part = orjson.loads(payload)
        yield orjson.loads(base64.b64decode(part["bytes"]))


def iter_converse_events(data: bytes) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(event type, payload)`` of a ConverseStream body."""
    for headers, payload in decode_messages(data):
        if headers.get(":message-type") != "event":
            raise ValueError(f"unexpected event stream message: {headers!r} {payload[:200]!r}")
        yield str(headers[":event-type"]), orjson.loads(payload)
