"""AWS event-stream handling for Bedrock streams: byte-exact messages at any split, encoder checked by botocore."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import botocore.parsers
import botocore.session
import pytest
from botocore.eventstream import EventStream, EventStreamBuffer

from payi.lib.units.bedrock import (
    BedrockInvokeStreamUsage,
    ConverseStreamUsage,
    bedrock_converse_units,
    bedrock_invoke_units,
)
from payi_server.proxy.eventstream import (
    EventMessage,
    EventStreamDecodeError,
    EventStreamDecoder,
    encode_chunk_event,
    encode_json_event,
    encode_message,
)

CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"
_SERVICE = botocore.session.get_session().get_service_model("bedrock-runtime")

# --------------------------------------------------------------------------------------------- fixtures

CLAUDE_CHUNKS: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_bdrk_01Lh5Zr3hXqD1rGk7Yb9QzQe",
            "type": "message",
            "role": "assistant",
            "model": "claude-3-5-haiku-20241022",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 25,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 1800,
                "output_tokens": 1,
            },
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "Waves fold on \u00e9cume"},
    },
    {"type": "content_block_stop", "index": 0},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 17},
    },
    {
        "type": "message_stop",
        "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": 25,
            "outputTokenCount": 17,
            "invocationLatency": 903,
            "firstByteLatency": 402,
            "cacheReadInputTokenCount": 1800,
            "cacheWriteInputTokenCount": 0,
        },
    },
]

CLAUDE_BODY: dict[str, Any] = {
    **CLAUDE_CHUNKS[0]["message"],
    "content": [{"type": "text", "text": "Waves fold on \u00e9cume"}],
    "stop_reason": "end_turn",
    "usage": {
        "input_tokens": 25,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 1800,
        "output_tokens": 17,
    },
}

CONVERSE_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("messageStart", {"role": "assistant"}),
    ("contentBlockDelta", {"delta": {"text": "A haiku"}, "contentBlockIndex": 0}),
    ("contentBlockStop", {"contentBlockIndex": 0}),
    ("messageStop", {"stopReason": "end_turn"}),
    (
        "metadata",
        {
            "usage": {
                "inputTokens": 30,
                "outputTokens": 628,
                "totalTokens": 2158,
                "cacheReadInputTokens": 1500,
                "cacheWriteInputTokens": 0,
            },
            "metrics": {"latencyMs": 1275},
        },
    ),
]


def invoke_stream_bytes(chunks: list[dict[str, Any]]) -> bytes:
    return b"".join(encode_chunk_event(json.dumps(c).encode()) for c in chunks)


def converse_stream_bytes(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    return b"".join(encode_json_event(kind, payload) for kind, payload in events)


def decode(pieces: Iterable[bytes]) -> list[EventMessage]:
    decoder = EventStreamDecoder()
    out: list[EventMessage] = []
    for piece in pieces:
        out.extend(decoder.feed(piece))
    assert decoder.pending == 0
    return out


class _RawStream:
    """What botocore's EventStream reads from: an object with ``stream()``."""

    def __init__(self, data: bytes, size: int = 7) -> None:
        self._data = data
        self._size = size

    def stream(self) -> Iterator[bytes]:
        for i in range(0, len(self._data), self._size):
            yield self._data[i : i + self._size]

    def close(self) -> None:
        pass


def boto3_events(operation: str, member: str, data: bytes) -> list[dict[str, Any]]:
    """Parse a stream body exactly as the boto3 client does."""
    shape = _SERVICE.operation_model(operation).output_shape.members[member]
    return list(EventStream(_RawStream(data), shape, botocore.parsers.EventStreamJSONParser(), operation))


# --------------------------------------------------------------------------------------------- decoding


def test_invoke_stream_chunks_are_unwrapped() -> None:
    data = invoke_stream_bytes(CLAUDE_CHUNKS)
    messages = decode([data])
    assert [m.chunk for m in messages] == CLAUDE_CHUNKS
    assert b"".join(m.raw for m in messages) == data
    first = messages[0]
    assert first.event_type == "chunk" and first.message_type == "event" and first.is_event
    assert first.exception_type is None and not first.is_error
    assert first.headers[":content-type"] == "application/json"
    assert isinstance(first.body, dict) and set(first.body) == {"bytes"}
    assert first.chunk_bytes == json.dumps(CLAUDE_CHUNKS[0]).encode()


def test_split_at_every_byte_offset() -> None:
    data = invoke_stream_bytes(CLAUDE_CHUNKS[:3]) + converse_stream_bytes(CONVERSE_EVENTS[:2])
    reference = decode([data])
    assert len(reference) == 5
    for offset in range(len(data) + 1):
        messages = decode([data[:offset], data[offset:]])
        assert messages == reference, f"split at {offset}"
        assert b"".join(m.raw for m in messages) == data


def test_byte_by_byte_and_random_chunking() -> None:
    data = converse_stream_bytes(CONVERSE_EVENTS)
    reference = decode([data])
    assert decode(data[i : i + 1] for i in range(len(data))) == reference
    for size in (2, 3, 5, 11, 64, 1000):
        assert decode(data[i : i + size] for i in range(0, len(data), size)) == reference


def test_partial_message_stays_pending() -> None:
    data = encode_json_event("messageStart", {"role": "assistant"})
    decoder = EventStreamDecoder()
    assert decoder.feed(data[:-1]) == []
    assert decoder.pending == len(data) - 1
    (message,) = decoder.feed(data[-1:])
    assert message.raw == data and message.body == {"role": "assistant"}
    assert decoder.pending == 0


def test_modelled_exception_in_the_stream() -> None:
    headers = {
        ":exception-type": "modelStreamErrorException",
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    payload = b'{"message":"The model stream failed","originalStatusCode":500}'
    data = encode_chunk_event(b'{"type":"ping"}') + encode_message(headers, payload)
    messages = decode([data])
    error = messages[1]
    assert error.is_error and not error.is_event
    assert error.exception_type == "modelStreamErrorException"
    assert error.body == {"message": "The model stream failed", "originalStatusCode": 500}
    assert error.chunk is None
    with pytest.raises(botocore.exceptions.EventStreamError, match="modelStreamErrorException"):
        boto3_events("InvokeModelWithResponseStream", "body", data)


def test_corrupt_message_crc_raises_with_what_was_decoded() -> None:
    good = encode_json_event("messageStart", {"role": "assistant"})
    bad = bytearray(encode_json_event("metadata", {"usage": {"inputTokens": 1}}))
    bad[-1] ^= 0xFF
    decoder = EventStreamDecoder()
    with pytest.raises(EventStreamDecodeError) as info:
        decoder.feed(good + bytes(bad))
    assert [m.raw for m in info.value.messages] == [good]
    assert info.value.unparsed == bytes(bad)
    with pytest.raises(EventStreamDecodeError):
        decoder.feed(b"more")


def test_corrupt_prelude_is_detected_as_soon_as_it_arrives() -> None:
    data = bytearray(encode_json_event("messageStart", {"role": "assistant"}))
    data[9] ^= 0x01  # prelude CRC
    with pytest.raises(EventStreamDecodeError):
        EventStreamDecoder().feed(bytes(data[:12]))


def test_non_json_payloads() -> None:
    raw = encode_message({":event-type": "chunk", ":message-type": "event"}, b'{"bytes":"bm90IGpzb24="}')
    (message,) = decode([raw])
    assert message.chunk_bytes == b"not json" and message.chunk is None
    raw = encode_message({":event-type": "blob", ":message-type": "event"}, b"\x00\x01binary")
    (message,) = decode([raw])
    assert message.body is None and message.payload == b"\x00\x01binary"
    raw = encode_message({":event-type": "chunk", ":message-type": "event"}, b'{"bytes":"%%%"}')
    (message,) = decode([raw])
    assert message.chunk_bytes is None and message.chunk is None


# --------------------------------------------------------------------------------------------- encoding


def test_encode_message_round_trips_through_botocore_with_every_header_type() -> None:
    headers: dict[str, Any] = {
        ":event-type": "chunk",
        ":message-type": "event",
        "flag-true": True,
        "flag-false": False,
        "int32": -123_456,
        "int64": 2**40,
        "bytes": b"\x00\xffraw",
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "time": datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        "unicode": "caf\u00e9 \U0001f30d",
    }
    payload = json.dumps({"bytes": base64.b64encode(b'{"type":"ping"}').decode()}).encode()
    data = encode_message(headers, payload)
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    (message,) = list(buffer)
    assert message.payload == payload
    assert message.prelude.total_length == len(data)
    parsed = dict(message.headers)
    assert parsed[":event-type"] == "chunk"
    assert parsed["flag-true"] is True and parsed["flag-false"] is False
    assert parsed["int32"] == -123_456 and parsed["int64"] == 2**40
    assert parsed["bytes"] == b"\x00\xffraw"
    assert parsed["uuid"] == uuid.UUID("12345678-1234-5678-1234-567812345678").bytes
    assert parsed["time"] == 1735787045678
    assert parsed["unicode"] == "caf\u00e9 \U0001f30d"
    # and our decoder sees the same
    (ours,) = decode([data])
    assert ours.headers == parsed and ours.raw == data


def test_encode_message_crcs_follow_the_spec() -> None:
    data = encode_message([(":event-type", "x")], b"{}")
    total, headers_length = int.from_bytes(data[0:4], "big"), int.from_bytes(data[4:8], "big")
    assert total == len(data) and headers_length == len(data) - 16 - 2
    assert int.from_bytes(data[8:12], "big") == binascii.crc32(data[:8])
    assert int.from_bytes(data[-4:], "big") == binascii.crc32(data[:-4])


def test_encode_message_validation() -> None:
    with pytest.raises(ValueError):
        encode_message({"": "x"}, b"")
    with pytest.raises(ValueError):
        encode_message({"n" * 256: "x"}, b"")
    with pytest.raises(ValueError):
        encode_message({"v": "x" * 70_000}, b"")
    with pytest.raises(TypeError):
        encode_message({"v": 1.5}, b"")  # type: ignore[dict-item]


def test_boto3_reads_what_we_encode() -> None:
    invoke = boto3_events("InvokeModelWithResponseStream", "body", invoke_stream_bytes(CLAUDE_CHUNKS))
    assert [json.loads(e["chunk"]["bytes"]) for e in invoke] == CLAUDE_CHUNKS
    converse = boto3_events("ConverseStream", "stream", converse_stream_bytes(CONVERSE_EVENTS))
    assert converse == [{kind: payload} for kind, payload in CONVERSE_EVENTS]


# --------------------------------------------------------------------------------------------- usage from streams


def test_invoke_stream_usage_through_the_decoder_equals_non_stream() -> None:
    data = invoke_stream_bytes(CLAUDE_CHUNKS)
    acc = BedrockInvokeStreamUsage(model_id=CLAUDE)
    forwarded = bytearray()
    decoder = EventStreamDecoder()
    for i in range(0, len(data), 50):
        for message in decoder.feed(data[i : i + 50]):
            forwarded += message.raw
            if message.chunk is not None:
                acc.feed(message.chunk)
    assert bytes(forwarded) == data
    assert acc.units() == bedrock_invoke_units(CLAUDE_BODY, model_id=CLAUDE)
    assert acc.units() == {"text": {"input": 25, "output": 17}, "text_cache_read": {"input": 1800}}
    assert acc.model == "claude-3-5-haiku-20241022"


def test_converse_stream_usage_through_the_decoder_equals_boto3_and_non_stream() -> None:
    data = converse_stream_bytes(CONVERSE_EVENTS)
    proxy_side = ConverseStreamUsage(model_id=CLAUDE)
    for message in decode([data]):
        assert message.event_type is not None
        proxy_side.feed(message.body, event_type=message.event_type)
    client_side = ConverseStreamUsage(model_id=CLAUDE)
    for event in boto3_events("ConverseStream", "stream", data):
        client_side.feed(event)
    non_stream = bedrock_converse_units({"usage": CONVERSE_EVENTS[-1][1]["usage"]}, model_id=CLAUDE)
    assert proxy_side.units() == client_side.units() == non_stream
    assert non_stream == {"text": {"input": 30, "output": 628}, "text_cache_read": {"input": 1500}}
