"""Incremental SSE decoding for the proxy: byte-exact events, any split point, all line endings."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai._streaming import SSEDecoder as OpenAIClientSSEDecoder

from payi.lib.units.anthropic import AnthropicStreamUsage, anthropic_usage_units
from payi.lib.units.openai import OpenAIChatStreamUsage
from payi_server.proxy.sse import _parse, _parse_lines
from payi_server.proxy.sse import SSEDecoder, SSEEvent, encode_event

# An Anthropic-style stream (event + data lines), as sent by the Messages API, with a comment, a multi-line
# data field, an id/retry and multi-byte UTF-8 thrown in.
ANTHROPIC_STREAM = (
    b"event: message_start\n"
    b'data: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","content":[],'
    b'"model":"claude-sonnet-4-5-20250929","stop_reason":null,"stop_sequence":null,'
    b'"usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":2051,"output_tokens":2}}}\n'
    b"\n"
    b": ping from a proxy\n"
    b"\n"
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
    + '"text":"Gr\u00fc\u00dfe \u2014 \U0001f30d \u65e5\u672c"}}\n'.encode()
    + b"\n"
    b"id: 42\n"
    b"retry: 3000\n"
    b"event: multi\n"
    b"data: first line\n"
    b"data:second line\n"
    b"data\n"
    b"\n"
    b"event: message_delta\n"
    b'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
    b'"usage":{"output_tokens":89}}\n'
    b"\n"
    b"event: message_stop\n"
    b'data: {"type":"message_stop"}\n'
    b"\n"
)

EXPECTED = [
    ("message_start", True),
    (None, False),  # the comment block is still forwarded
    ("content_block_delta", True),
    ("multi", True),
    ("message_delta", True),
    ("message_stop", True),
]


def decode(chunks: Iterable[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.flush())
    assert decoder.pending == 0
    return events


def with_line_endings(payload: bytes, eol: bytes) -> bytes:
    return payload.replace(b"\n", eol)


# --------------------------------------------------------------------------------------------- parsing


def test_whole_payload() -> None:
    events = decode([ANTHROPIC_STREAM])
    assert [(e.event, e.has_data) for e in events] == EXPECTED
    assert b"".join(e.raw for e in events) == ANTHROPIC_STREAM
    assert all(e.complete for e in events)
    start = json.loads(events[0].data)
    assert start["message"]["usage"]["input_tokens"] == 472
    assert events[0].raw.endswith(b"}}}\n\n")
    assert events[1].data == "" and events[1].raw == b": ping from a proxy\n\n"
    assert json.loads(events[2].data)["delta"]["text"] == "Gr\u00fc\u00dfe \u2014 \U0001f30d \u65e5\u672c"
    multi = events[3]
    assert multi.data == "first line\nsecond line\n"  # "data" without a colon is an empty data line
    assert multi.id == "42" and multi.retry == 3000


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_split_at_every_byte_offset(eol: bytes) -> None:
    payload = with_line_endings(ANTHROPIC_STREAM, eol)
    reference = decode([payload])
    assert [(e.event, e.has_data) for e in reference] == EXPECTED
    for offset in range(len(payload) + 1):
        events = decode([payload[:offset], payload[offset:]])
        assert events == reference, f"split at {offset}"
        assert b"".join(e.raw for e in events) == payload


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_byte_by_byte(eol: bytes) -> None:
    payload = with_line_endings(ANTHROPIC_STREAM, eol)
    events = decode(payload[i : i + 1] for i in range(len(payload)))
    assert events == decode([payload])


def test_split_inside_a_multibyte_character_never_decodes_half_a_character() -> None:
    payload = "data: \U0001f30d\U0001f30d\n\n".encode()
    for offset in range(len(payload) + 1):
        (event,) = decode([payload[:offset], payload[offset:]])
        assert event.data == "\U0001f30d\U0001f30d"


def test_mixed_line_endings_in_one_stream() -> None:
    payload = b"data: a\r\n\r\ndata: b\n\ndata: c\r\rdata: d\r\n\ndata: e\n\r\n: x\r\r\n"
    reference = decode([payload])
    assert [(e.data, e.has_data) for e in reference] == [
        ("a", True),
        ("b", True),
        ("c", True),
        ("d", True),
        ("e", True),
        ("", False),
    ]
    assert [e.raw for e in reference] == [
        b"data: a\r\n\r\n",
        b"data: b\n\n",
        b"data: c\r\r",
        b"data: d\r\n\n",
        b"data: e\n\r\n",
        b": x\r\r\n",
    ]
    for offset in range(len(payload) + 1):
        assert decode([payload[:offset], payload[offset:]]) == reference


def test_crlf_split_between_cr_and_lf_waits_for_the_lf() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r\n\r") == []  # the final "\r" may be the start of "\r\n"
    (event,) = decoder.feed(b"\ndata: y")
    assert event.raw == b"data: x\r\n\r\n"
    assert decoder.pending == len(b"data: y")


def test_cr_at_the_very_end_is_final_on_flush() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r\r") == []
    (event,) = decoder.flush()
    assert event.raw == b"data: x\r\r" and event.complete and event.data == "x"


def test_flush_returns_an_unterminated_event_as_incomplete() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a": 1}\n\ndata: [DONE]\n') != []
    (tail,) = decoder.flush()
    assert tail.data == "[DONE]" and not tail.complete and tail.raw == b"data: [DONE]\n"
    assert decoder.flush() == []


def test_bom_is_ignored_but_forwarded() -> None:
    payload = b"\xef\xbb\xbfdata: hi\n\n"
    (event,) = decode([payload[:2], payload[2:]])
    assert event.data == "hi" and event.raw == payload


def test_extra_blank_lines_are_forwarded() -> None:
    payload = b"data: a\n\n\n\ndata: b\n\n"
    events = decode([payload])
    assert b"".join(e.raw for e in events) == payload
    assert [e.data for e in events if e.has_data] == ["a", "b"]


def test_field_parsing_details() -> None:
    (event,) = decode([b"event:x\ndata:  two spaces\nid: bad\x00id\nretry: soon\nunknown: y\n\n"])
    assert event.event == "x"
    assert event.data == " two spaces"  # only one leading space is removed
    assert event.id is None and event.retry is None


# --------------------------------------------------------------------------------------------- encoding


@pytest.mark.parametrize(
    ("name", "data"),
    [
        (None, '{"id":"chatcmpl-1","choices":[]}'),
        ("message_delta", '{"type":"message_delta","usage":{"output_tokens":9}}'),
        ("multi", "line one\nline two\r\nline three"),
        (None, ""),
    ],
)
def test_encode_event_round_trips(name: str | None, data: str) -> None:
    raw = encode_event(name, data)
    (event,) = decode([raw])
    assert event.event == name
    assert event.data == data.replace("\r\n", "\n")
    assert event.raw == raw and event.has_data


def test_encode_event_with_id_and_validation() -> None:
    raw = encode_event("e", "d", id="7")
    assert raw == b"event: e\nid: 7\ndata: d\n\n"
    assert encode_event(None, '{"a":1}') == b'data: {"a":1}\n\n'
    with pytest.raises(ValueError):
        encode_event("bad\nname", "x")
    with pytest.raises(ValueError):
        encode_event(None, "x", id="a\rb")


# --------------------------------------------------------------------------------------------- cross-checks


def test_same_events_as_the_openai_client_parser() -> None:
    payload = with_line_endings(ANTHROPIC_STREAM, b"\r\n")
    theirs = [(s.event, s.data) for s in OpenAIClientSSEDecoder().iter_bytes(iter([payload])) if s.data]
    ours = [(e.event, e.data) for e in decode([payload]) if e.has_data and e.data]
    assert ours == theirs


def test_usage_read_from_passing_events_anthropic() -> None:
    acc = AnthropicStreamUsage()
    decoder = SSEDecoder()
    forwarded = bytearray()
    for i in range(0, len(ANTHROPIC_STREAM), 17):
        for event in decoder.feed(ANTHROPIC_STREAM[i : i + 17]):
            forwarded += event.raw
            if event.has_data and event.data.startswith("{"):
                acc.feed(json.loads(event.data))
    for event in decoder.flush():
        forwarded += event.raw
    assert bytes(forwarded) == ANTHROPIC_STREAM
    assert acc.units() == anthropic_usage_units(
        {
            "input_tokens": 472,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 2051,
            "output_tokens": 89,
        }
    )
    assert acc.units() == {"text": {"input": 472, "output": 89}, "text_cache_read": {"input": 2051}}


def test_usage_read_from_passing_events_openai() -> None:
    chunks = [
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
        },
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-2024-08-06",
            "choices": [],
            "usage": {
                "prompt_tokens": 1200,
                "completion_tokens": 5,
                "total_tokens": 1205,
                "prompt_tokens_details": {"cached_tokens": 1024},
            },
        },
    ]
    payload = b"".join(encode_event(None, json.dumps(c)) for c in chunks) + b"data: [DONE]\n\n"
    acc = OpenAIChatStreamUsage()
    for event in decode([payload]):
        if event.data != "[DONE]":
            acc.feed(json.loads(event.data))
    assert acc.units() == {"text": {"input": 176, "output": 5}, "text_cache_read": {"input": 1024}}
    assert acc.model == "gpt-4o-2024-08-06"


# --------------------------------------------------------------------------------------------- properties and speed


@settings(max_examples=200, deadline=None, database=None)
@given(
    eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=len(ANTHROPIC_STREAM) * 2), max_size=12),
)
def test_property_any_chunking_gives_the_same_events(eol: bytes, cuts: list[int]) -> None:
    payload = with_line_endings(ANTHROPIC_STREAM, eol)
    points = sorted({min(c, len(payload)) for c in cuts})
    pieces = [payload[a:b] for a, b in zip([0, *points], [*points, len(payload)], strict=True)]
    assert decode(pieces) == decode([payload])


@settings(max_examples=400, deadline=None)
@given(
    head=st.sampled_from([b"data: ", b"data:", b"data:  ", b"event: x\ndata: ", b"", b": c\ndata: "]),
    body=st.lists(
        st.sampled_from([b"x", b"\r", b"\n", b"\n\n", b"\xef\xbb\xbf", b":", b" ", b"\xff", "\u00e9".encode()])
        | st.binary(max_size=8),
        max_size=10,
    ).map(b"".join),
    tail=st.sampled_from([b"\n\n", b"\n", b"", b"\r\n\r\n", b"\n\r\n", b"\ndata: y\n\n"]),
    complete=st.booleans(),
    strip_bom=st.booleans(),
)
def test_the_one_data_line_shortcut_gives_what_the_rules_give(
    head: bytes, body: bytes, tail: bytes, complete: bool, strip_bom: bool
) -> None:
    """``_parse`` takes the usual event (one ``data: `` line ended by a blank line) without splitting lines; for
    any bytes, shortcut or not, it gives exactly the event the general rules give."""
    raw = head + body + tail
    assert _parse(raw, complete=complete, strip_bom=strip_bom) == _parse_lines(
        raw, complete=complete, strip_bom=strip_bom
    )


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_decoding_is_linear_not_quadratic(eol: bytes) -> None:
    # 20k events (~4 MB) fed in 1 KiB chunks: a per-byte loop or a rescan of the buffer would take far longer
    event = with_line_endings(
        encode_event(None, json.dumps({"choices": [{"delta": {"content": "x" * 150}}]})), eol
    )
    payload = event * 20_000
    decoder = SSEDecoder()
    started = time.perf_counter()
    count = 0
    for i in range(0, len(payload), 1024):
        count += len(decoder.feed(payload[i : i + 1024]))
    elapsed = time.perf_counter() - started
    assert count == 20_000
    assert elapsed < 5.0, elapsed
