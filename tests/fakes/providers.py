"""Response bodies and stream frames of the fake OpenAI / Azure OpenAI / Anthropic endpoints.

Every builder is a pure function of a ``Gen`` (ids, model, usage, text pieces), so bodies are deterministic.
Streams are lists of complete frames (one SSE event each); the app decides how to send them.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.fakes import usage as U
from tests.fakes.usage import Usage

Json = dict[str, Any]

_WORDS = (
    "Hello from the fake upstream provider. This reply is deterministic and every word counts as one token."
).split()


def completion_text(words: int) -> list[str]:
    """The completion as a list of words (one token each)."""
    n = len(_WORDS)
    return [_WORDS[i % n] for i in range(max(0, words))]


def split_pieces(words: list[str], chunks: int) -> list[str]:
    """Split words into at most ``chunks`` stream pieces whose concatenation is ``" ".join(words)``."""
    if not words:
        return []
    chunks = max(1, min(chunks, len(words)))
    size, rem = divmod(len(words), chunks)
    pieces: list[str] = []
    start = 0
    for i in range(chunks):
        end = start + size + (1 if i < rem else 0)
        text = " ".join(words[start:end])
        pieces.append(text if i == 0 else " " + text)
        start = end
    return pieces


@dataclass(slots=True)
class Gen:
    """Everything a builder needs for one response."""

    seq: int
    model: str
    usage: Usage
    pieces: list[str]
    truncated: bool  # the output hit the request's max tokens
    created: int
    first_byte_ms: int = 0
    total_ms: int = 0
    include_usage: bool = False  # OpenAI chat stream_options.include_usage
    full_delta_usage: bool = False  # Anthropic message_delta repeats input/cache fields
    azure_filters: bool = False
    padding: bool = True  # Bedrock event stream "p" field
    request: Json = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def sse(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def sse_event(name: str, obj: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


# --------------------------------------------------------------------------------------------- ids


def openai_request_id(seq: int) -> str:
    return f"req_{seq:032x}"


def anthropic_request_id(seq: int) -> str:
    return f"req_011CFAKE{seq:016d}"


def aws_request_id(seq: int) -> str:
    return f"fa4e0000-0000-4000-8000-{seq:012d}"


# --------------------------------------------------------------------------------------------- OpenAI chat

_SAFE_FILTER = {"filtered": False, "severity": "safe"}
_AZURE_CHOICE_FILTERS = {
    "hate": _SAFE_FILTER,
    "self_harm": _SAFE_FILTER,
    "sexual": _SAFE_FILTER,
    "violence": _SAFE_FILTER,
}
_AZURE_PROMPT_FILTERS = [
    {
        "prompt_index": 0,
        "content_filter_results": {
            **_AZURE_CHOICE_FILTERS,
            "jailbreak": {"filtered": False, "detected": False},
        },
    }
]


def _chat_id(g: Gen) -> str:
    return f"chatcmpl-FAKE{g.seq:025d}"


def _fingerprint() -> str:
    return "fp_fake000001"


def chat_body(g: Gen) -> bytes:
    choice: Json = {
        "index": 0,
        "message": {"role": "assistant", "content": g.text, "refusal": None, "annotations": []},
        "logprobs": None,
        "finish_reason": "length" if g.truncated else "stop",
    }
    body: Json = {
        "id": _chat_id(g),
        "object": "chat.completion",
        "created": g.created,
        "model": g.model,
        "choices": [choice],
        "usage": U.openai_chat(g.usage),
        "service_tier": "default",
        "system_fingerprint": _fingerprint(),
    }
    if g.azure_filters:
        choice["content_filter_results"] = _AZURE_CHOICE_FILTERS
        body["prompt_filter_results"] = _AZURE_PROMPT_FILTERS
    return orjson.dumps(body)


def chat_frames(g: Gen) -> list[bytes]:
    base: Json = {
        "id": _chat_id(g),
        "object": "chat.completion.chunk",
        "created": g.created,
        "model": g.model,
        "service_tier": "default",
        "system_fingerprint": _fingerprint(),
    }
    if g.include_usage:
        base["usage"] = None
    frames: list[bytes] = []
    if g.azure_filters:
        frames.append(
            sse(
                {
                    "choices": [],
                    "created": 0,
                    "id": "",
                    "model": "",
                    "object": "",
                    "prompt_filter_results": _AZURE_PROMPT_FILTERS,
                }
            )
        )

    def chunk(delta: Json, finish: str | None) -> bytes:
        choice: Json = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        if g.azure_filters and finish is None and "content" in delta and delta["content"]:
            choice["content_filter_results"] = _AZURE_CHOICE_FILTERS
        return sse({**base, "choices": [choice]})

    frames.append(chunk({"role": "assistant", "content": "", "refusal": None}, None))
    for piece in g.pieces:
        frames.append(chunk({"content": piece}, None))
    frames.append(chunk({}, "length" if g.truncated else "stop"))
    if g.include_usage:
        frames.append(sse({**base, "choices": [], "usage": U.openai_chat(g.usage)}))
    frames.append(SSE_DONE)
    return frames


def chat_stream_error_frame() -> bytes:
    return sse(
        {
            "error": {
                "message": "The server had an error while processing your request. Sorry about that!",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
    )


# --------------------------------------------------------------------------------------------- OpenAI embeddings


def embedding_vector(dims: int, index: int) -> list[float]:
    """A deterministic unit-ish vector; float32-exact so base64 and float encodings agree."""
    return [
        struct.unpack("<f", struct.pack("<f", ((i * 7 + index * 3) % 17 - 8) / 16.0))[0] for i in range(dims)
    ]


def embeddings_body(g: Gen, count: int, dims: int, encoding: str) -> bytes:
    data: list[Json] = []
    for i in range(count):
        vec = embedding_vector(dims, i)
        emb: Any = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if encoding == "base64" else vec
        data.append({"object": "embedding", "index": i, "embedding": emb})
    return orjson.dumps(
        {"object": "list", "data": data, "model": g.model, "usage": U.openai_embeddings(g.usage)}
    )


# --------------------------------------------------------------------------------------------- OpenAI responses


def _resp_ids(g: Gen) -> tuple[str, str, str]:
    return f"resp_{g.seq:048x}", f"msg_{g.seq:048x}", f"rs_{g.seq:048x}"


def _reasoning_item(g: Gen) -> Json:
    return {"id": _resp_ids(g)[2], "type": "reasoning", "summary": []}


def _text_part(text: str) -> Json:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _message_item(g: Gen, *, done: bool) -> Json:
    return {
        "id": _resp_ids(g)[1],
        "type": "message",
        "status": "completed" if done else "in_progress",
        "content": [_text_part(g.text)] if done else [],
        "role": "assistant",
    }


def _response(g: Gen, *, done: bool) -> Json:
    req = g.request
    output: list[Json] = []
    if done:
        if g.usage.reasoning:
            output.append(_reasoning_item(g))
        output.append(_message_item(g, done=True))
    reasoning_req = req.get("reasoning")
    reasoning: Json = reasoning_req if isinstance(reasoning_req, dict) else {}
    return {
        "id": _resp_ids(g)[0],
        "object": "response",
        "created_at": g.created,
        "status": "completed" if done else "in_progress",
        "background": False,
        "completed_at": g.created + 1 if done else None,
        "error": None,
        "incomplete_details": None,
        "instructions": req.get("instructions"),
        "max_output_tokens": req.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": g.model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": req.get("previous_response_id"),
        "prompt_cache_key": None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": None},
        "safety_identifier": None,
        "service_tier": "default",
        "store": bool(req.get("store", True)),
        "temperature": req.get("temperature", 1.0),
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_logprobs": 0,
        "top_p": req.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": U.openai_responses(g.usage) if done else None,
        "user": None,
        "metadata": req.get("metadata") or {},
    }


def responses_body(g: Gen) -> bytes:
    return orjson.dumps(_response(g, done=True))


def responses_frames(g: Gen) -> list[bytes]:
    frames: list[bytes] = []
    seq = 0

    def ev(name: str, payload: Json) -> None:
        nonlocal seq
        frames.append(sse_event(name, {"type": name, "sequence_number": seq, **payload}))
        seq += 1

    pending = _response(g, done=False)
    ev("response.created", {"response": pending})
    ev("response.in_progress", {"response": pending})
    index = 0
    if g.usage.reasoning:
        ev("response.output_item.added", {"output_index": 0, "item": _reasoning_item(g)})
        ev("response.output_item.done", {"output_index": 0, "item": _reasoning_item(g)})
        index = 1
    msg_id = _resp_ids(g)[1]
    ev("response.output_item.added", {"output_index": index, "item": _message_item(g, done=False)})
    loc = {"item_id": msg_id, "output_index": index, "content_index": 0}
    ev("response.content_part.added", {**loc, "part": _text_part("")})
    for piece in g.pieces:
        ev("response.output_text.delta", {**loc, "delta": piece, "logprobs": []})
    ev("response.output_text.done", {**loc, "text": g.text, "logprobs": []})
    ev("response.content_part.done", {**loc, "part": _text_part(g.text)})
    ev("response.output_item.done", {"output_index": index, "item": _message_item(g, done=True)})
    ev("response.completed", {"response": _response(g, done=True)})
    return frames


def responses_stream_error_frame() -> bytes:
    return sse_event(
        "error",
        {
            "type": "error",
            "code": "server_error",
            "message": "The server had an error while processing your request. Sorry about that!",
            "param": None,
            "sequence_number": 0,
        },
    )


# --------------------------------------------------------------------------------------------- Anthropic


def anthropic_message_id(g: Gen, bedrock: bool = False) -> str:
    return f"msg_bdrk_01FAKE{g.seq:018d}" if bedrock else f"msg_01FAKE{g.seq:018d}"


def anthropic_stop_reason(g: Gen) -> str:
    return "max_tokens" if g.truncated else "end_turn"


def anthropic_message(g: Gen, *, bedrock: bool = False) -> Json:
    return {
        "id": anthropic_message_id(g, bedrock),
        "type": "message",
        "role": "assistant",
        "model": g.model,
        "content": [{"type": "text", "text": g.text}],
        "stop_reason": anthropic_stop_reason(g),
        "stop_sequence": None,
        "usage": U.anthropic_final(g.usage, bedrock=bedrock),
    }


def anthropic_events(g: Gen, *, bedrock: bool = False) -> list[Json]:
    """The stream's event payloads in order (SSE for Anthropic, event stream chunks for Bedrock)."""
    start_msg: Json = {
        "id": anthropic_message_id(g, bedrock),
        "type": "message",
        "role": "assistant",
        "model": g.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": U.anthropic(g.usage, output=min(1, g.usage.output), bedrock=bedrock),
    }
    events: list[Json] = [
        {"type": "message_start", "message": start_msg},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    if not bedrock:
        events.append({"type": "ping"})
    for piece in g.pieces:
        events.append(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        )
    events.append({"type": "content_block_stop", "index": 0})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": anthropic_stop_reason(g), "stop_sequence": None},
            "usage": U.anthropic_delta(g.usage, full=g.full_delta_usage),
        }
    )
    events.append({"type": "message_stop"})
    return events


def anthropic_body(g: Gen) -> bytes:
    return orjson.dumps(anthropic_message(g))


def anthropic_frames(g: Gen) -> list[bytes]:
    return [sse_event(ev["type"], ev) for ev in anthropic_events(g)]


def anthropic_stream_error_frame() -> bytes:
    return sse_event(
        "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )


# --------------------------------------------------------------------------------------------- error bodies

_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request (fake upstream)."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided: sk-fake***. You can find your API key at https://platform.openai.com/account/api-keys.",
    ),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    408: ("server_error", None, "Request timed out."),
    409: ("invalid_request_error", None, "Conflict (fake upstream)."),
    422: ("invalid_request_error", None, "Unprocessable request (fake upstream)."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests (fake upstream). Please try again in 1s.",
    ),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later"),
}


def openai_error(status: int, message: str | None = None) -> bytes:
    typ, code, default = _OPENAI_ERRORS.get(
        status,
        (
            "server_error" if status >= 500 else "invalid_request_error",
            None,
            f"Fake upstream error {status}.",
        ),
    )
    return orjson.dumps({"error": {"message": message or default, "type": typ, "param": None, "code": code}})


_ANTHROPIC_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request (fake upstream)."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: (
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit (fake upstream).",
    ),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


def anthropic_error(status: int, message: str | None = None) -> bytes:
    typ, default = _ANTHROPIC_ERRORS.get(
        status, ("api_error" if status >= 500 else "invalid_request_error", f"Fake upstream error {status}.")
    )
    return orjson.dumps({"type": "error", "error": {"type": typ, "message": message or default}})
