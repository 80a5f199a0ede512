"""A Chat Completions stream's chunks that cannot change what the proxy tracks are passed on without being parsed
(``_ChatStream._unchanged``). Whatever the chunks, the bytes sent to the client, the usage, the model and the
response id are those of parsing every chunk."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from payi_server.proxy.adapters.openai import _ChatStream

MODELS = ["gpt-4o", "gpt-4o-mini", "gpt-4o-2024-08-06", "o/slash"]


def _result(units: Any, response_id: str | None, model: str | None) -> dict[str, Any]:
    return {"units": units, "response_id": response_id, "model": model}


@st.composite
def chunks(draw: st.DrawFn) -> dict[str, Any]:
    chunk: dict[str, Any] = {}
    if draw(st.booleans()):
        chunk["id"] = draw(st.sampled_from(["chatcmpl-1", "chatcmpl-2", ""]))
    if draw(st.integers(0, 5)):
        chunk["model"] = draw(st.sampled_from(MODELS))
    choice: dict[str, Any] = {"index": 0, "delta": {"content": draw(st.sampled_from(["hi", '"usage":{}', ""]))}}
    if draw(st.booleans()):
        choice["finish_reason"] = draw(st.sampled_from([None, None, "stop", "length"]))
    if draw(st.integers(0, 4)) == 0:
        choice["delta"]["model"] = draw(st.sampled_from(MODELS))  # a nested key of the same name
    chunk["choices"] = [] if draw(st.integers(0, 6)) == 0 else [choice]
    usage = draw(st.sampled_from(["absent", "null", "null", "object", "empty"]))
    if usage != "absent":
        chunk["usage"] = {"null": None, "object": {"prompt_tokens": 3, "completion_tokens": 5}, "empty": {}}[usage]
    return chunk


def _encode(chunk: dict[str, Any], spaced: bool) -> bytes:
    text = orjson.dumps(chunk).decode()
    if spaced:
        text = text.replace('":', '": ')
    return f"data: {text}\n\n".encode()


def _run(events: list[bytes], splits: list[int], *, fast: bool, hide: bool, keep: bool) -> tuple[Any, ...]:
    stream = _ChatStream(_result, keep, hide_usage=hide)
    if not fast:
        stream._unchanged = lambda data: False  # type: ignore[method-assign]
        stream._passes = lambda chunk: False  # type: ignore[method-assign]
    body = b"".join(events) + b"data: [DONE]\n\n"
    out = []
    start = 0
    for cut in sorted(set(splits)) + [len(body)]:
        if cut > start:
            out.append(stream.feed(body[start:cut]))
            start = cut
    out.append(stream.finish())
    usage = stream.usage()
    return b"".join(out), usage, stream.data_items()


HEAD = {"id": "chatcmpl-7", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"role": "assistant"}}], "usage": None}
FINISH = {"id": "chatcmpl-7", "model": "gpt-4o", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
          "usage": None}
USAGE = {"id": "chatcmpl-7", "model": "gpt-4o", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 5}}


@settings(max_examples=300, deadline=None)
@given(
    st.booleans(),
    st.lists(st.tuples(chunks(), st.booleans()), max_size=10),
    st.lists(st.sampled_from([FINISH, USAGE]), max_size=3),
    st.lists(st.integers(0, 4000), max_size=6),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_passing_chunks_unparsed_changes_nothing(
    head: bool,
    middle: list[tuple[dict[str, Any], bool]],
    tail: list[dict[str, Any]],
    splits: list[int],
    spaced: bool,
    hide: bool,
    keep: bool,
) -> None:
    """A stream shaped like OpenAI's (a first chunk with id and model, content, a finishing chunk, the usage chunk),
    with any chunks in between and any cuts between reads."""
    events = ([_encode(HEAD, spaced)] if head else []) + [_encode(c, sp) for c, sp in middle]
    events += [_encode(c, spaced) for c in tail]
    fast = _run(events, splits, fast=True, hide=hide, keep=keep)
    slow = _run(events, splits, fast=False, hide=hide, keep=keep)
    assert fast == slow


PLAIN = [
    {"id": "chatcmpl-7", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}],
     "usage": None},
    {"id": "chatcmpl-7", "choices": [{"index": 0, "delta": {"content": "y"}}]},
    {"id": "chatcmpl-7", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": '"usage":null'}}],
     "usage": None},
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.one_of(chunks(), st.sampled_from(PLAIN), st.sampled_from(PLAIN)),
                       st.sampled_from([False, False, False, True])), max_size=12),
    st.lists(st.sampled_from([FINISH, USAGE]), max_size=3),
    st.lists(st.integers(0, 16), max_size=10),
    st.booleans(),
    st.booleans(),
)
def test_passing_whole_reads_unparsed_changes_nothing(
    middle: list[tuple[dict[str, Any], bool]], tail: list[dict[str, Any]], cuts: list[int], hide: bool, keep: bool
) -> None:
    """The same, with reads that end between events (as a provider's reads do), so that whole reads pass on."""
    events = [_encode(HEAD, False)] + [_encode(c, sp) for c, sp in middle] + [_encode(c, False) for c in tail]
    ends = [0]
    for event in events:
        ends.append(ends[-1] + len(event))
    splits = [ends[i] for i in cuts if i < len(ends)]
    assert _run(events, splits, fast=True, hide=hide, keep=keep) == _run(events, splits, fast=False, hide=hide, keep=keep)


def test_a_read_of_plain_chunks_passes_whole() -> None:
    stream = _ChatStream(_result, False, hide_usage=True)
    first = {"id": "chatcmpl-9", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": "a"}}], "usage": None}
    stream.feed(_encode(first, False))
    plain = [{**first, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in "bcd"]
    read = b"".join(_encode(c, False) for c in plain)
    assert stream._passes(read) and stream.feed(read) == read
    for changed in ({**plain[0], "model": "gpt-4o-mini"}, {**plain[0], "usage": {"prompt_tokens": 1}},
                    {**plain[0], "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}):
        assert not stream._passes(read + _encode(changed, False))
    assert not stream._passes(read + b"data: [DONE]\n\n")
    assert not stream._passes(read[:-1])  # an event not whole
    assert not stream._passes(read.replace(b"\n", b"\r\n"))
    assert not stream._passes(read + b": ping\n\n")


def test_a_plain_chunk_after_the_first_is_not_parsed() -> None:
    stream = _ChatStream(_result, False, hide_usage=True)
    first = {"id": "chatcmpl-9", "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": "a"}}], "usage": None}
    later = {**first, "choices": [{"index": 0, "delta": {"content": "b"}, "finish_reason": None}]}
    stream.feed(_encode(first, False))
    assert stream._unchanged(orjson.dumps(later).decode())
    assert not stream._unchanged(orjson.dumps({**later, "model": "gpt-4o-mini"}).decode())
    assert not stream._unchanged(orjson.dumps({**later, "usage": {"prompt_tokens": 1}}).decode())
    stopping = {**later, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    assert not stream._unchanged(orjson.dumps(stopping).decode())
