"""Response bodies of the fake AWS Bedrock runtime (InvokeModel per model family, Converse, both streams)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import orjson

from tests.fakes import eventstream as es
from tests.fakes import providers as P
from tests.fakes import usage as U
from tests.fakes.providers import Gen

Json = dict[str, Any]

OPERATIONS = {
    "invoke": "bedrock.invoke",
    "invoke-with-response-stream": "bedrock.invoke_stream",
    "converse": "bedrock.converse",
    "converse-stream": "bedrock.converse_stream",
}

_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_REGION_PREFIXES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")


def parse_path(raw_path: str) -> tuple[str, str] | None:
    """``(endpoint, model id)`` for ``.../model/{modelId}/{operation}``; the id is percent-decoded
    (inference-profile ARNs arrive with ``%2F``, so split the raw path, not the decoded one)."""
    segments = raw_path.split("/")
    if len(segments) < 4:
        return None
    endpoint = OPERATIONS.get(segments[-1])
    if endpoint is None:
        return None
    for i in range(len(segments) - 3, -1, -1):
        if segments[i] == "model":
            return endpoint, unquote("/".join(segments[i + 1 : -1]))
    return None


def family(model_id: str, body: Any) -> str | None:
    """``anthropic``, ``nova``, ``llama``, ``titan_text``, ``titan_embed`` or None (unsupported body)."""
    mid = model_id.rsplit("/", 1)[-1].lower()
    if "anthropic." in mid or "claude" in mid:
        return "anthropic"
    if "nova" in mid:
        return "nova"
    if "llama" in mid:
        return "llama"
    if "titan-embed" in mid:
        return "titan_embed"
    if "titan" in mid:
        return "titan_text"
    if isinstance(body, dict):
        if "anthropic_version" in body:
            return "anthropic"
        if "messages" in body:
            return "nova"
        if "prompt" in body:
            return "llama"
        if "inputText" in body:
            return "titan_text"
    return None


def response_model_name(model_id: str) -> str:
    """``us.anthropic.claude-3-5-haiku-20241022-v1:0`` -> ``claude-3-5-haiku-20241022`` (what Claude reports)."""
    name = model_id.rsplit("/", 1)[-1]
    for prefix in _REGION_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    name = name.removeprefix("anthropic.")
    head, sep, tail = name.rpartition("-v")
    if sep and tail[:1].isdigit():
        name = head
    return name


def max_tokens(fam: str | None, body: Any) -> int | None:
    if not isinstance(body, dict):
        return None
    value: Any = None
    if fam == "anthropic":
        value = body.get("max_tokens")
    elif fam == "nova":
        cfg = body.get("inferenceConfig") or {}
        value = cfg.get("max_new_tokens", cfg.get("maxTokens")) if isinstance(cfg, dict) else None
    elif fam == "llama":
        value = body.get("max_gen_len")
    elif fam == "titan_text":
        cfg = body.get("textGenerationConfig") or {}
        value = cfg.get("maxTokenCount") if isinstance(cfg, dict) else None
    elif fam == "converse":
        cfg = body.get("inferenceConfig") or {}
        value = cfg.get("maxTokens") if isinstance(cfg, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _metrics(g: Gen) -> Json:
    return U.invocation_metrics(g.usage, invocation_latency=g.total_ms, first_byte_latency=g.first_byte_ms)


def _stop(g: Gen) -> str:
    return "max_tokens" if g.truncated else "end_turn"


# --------------------------------------------------------------------------------------------- InvokeModel


def invoke_body(fam: str, g: Gen, embed_dims: int) -> bytes:
    u = g.usage
    if fam == "anthropic":
        return orjson.dumps(P.anthropic_message(g, bedrock=True))
    if fam == "nova":
        return orjson.dumps(
            {
                "output": {"message": {"content": [{"text": g.text}], "role": "assistant"}},
                "stopReason": _stop(g),
                "usage": U.nova(u),
            }
        )
    if fam == "llama":
        return orjson.dumps(
            {
                "generation": g.text,
                "prompt_token_count": u.input,
                "generation_token_count": u.output,
                "stop_reason": "length" if g.truncated else "stop",
            }
        )
    if fam == "titan_text":
        return orjson.dumps(
            {
                "inputTextTokenCount": u.input,
                "results": [
                    {
                        "tokenCount": u.output,
                        "outputText": g.text,
                        "completionReason": "LENGTH" if g.truncated else "FINISH",
                    }
                ],
            }
        )
    if fam == "titan_embed":
        return orjson.dumps({"embedding": P.embedding_vector(embed_dims, 0), "inputTextTokenCount": u.input})
    raise ValueError(fam)


def invoke_headers(g: Gen) -> list[tuple[bytes, bytes]]:
    u = g.usage
    return [
        (b"x-amzn-bedrock-invocation-latency", str(g.total_ms).encode()),
        (b"x-amzn-bedrock-output-token-count", str(u.output).encode()),
        (b"x-amzn-bedrock-input-token-count", str(u.input).encode()),
        (b"x-amzn-bedrock-cache-read-input-token-count", str(u.cache_read).encode()),
        (b"x-amzn-bedrock-cache-write-input-token-count", str(u.cache_write).encode()),
    ]


def invoke_stream_chunks(fam: str, g: Gen) -> list[Json]:
    """The model's JSON chunks; the last one carries ``amazon-bedrock-invocationMetrics``."""
    u = g.usage
    chunks: list[Json]
    if fam == "anthropic":
        chunks = P.anthropic_events(g, bedrock=True)
    elif fam == "nova":
        chunks = [{"messageStart": {"role": "assistant"}}]
        chunks += [{"contentBlockDelta": {"delta": {"text": p}, "contentBlockIndex": 0}} for p in g.pieces]
        chunks += [
            {"contentBlockStop": {"contentBlockIndex": 0}},
            {"messageStop": {"stopReason": _stop(g)}},
            {
                "metadata": {
                    "usage": {"inputTokens": u.input, "outputTokens": u.output},
                    "metrics": {},
                    "trace": {},
                }
            },
        ]
    elif fam == "llama":
        chunks = []
        produced = 0
        pieces = g.pieces or [""]
        for i, p in enumerate(pieces):
            produced = u.output if i == len(pieces) - 1 else min(u.output, produced + max(1, len(p.split())))
            chunks.append(
                {
                    "generation": p,
                    "prompt_token_count": u.input if i == 0 else None,
                    "generation_token_count": produced,
                    "stop_reason": None,
                }
            )
        chunks.append(
            {
                "generation": "",
                "prompt_token_count": None,
                "generation_token_count": u.output,
                "stop_reason": "length" if g.truncated else "stop",
            }
        )
    elif fam == "titan_text":
        chunks = [
            {
                "outputText": p,
                "index": 0,
                "totalOutputTextTokenCount": None,
                "completionReason": None,
                "inputTextTokenCount": u.input if i == 0 else None,
            }
            for i, p in enumerate(g.pieces)
        ]
        chunks.append(
            {
                "outputText": "",
                "index": 0,
                "totalOutputTextTokenCount": u.output,
                "completionReason": "LENGTH" if g.truncated else "FINISH",
                "inputTextTokenCount": None,
            }
        )
    else:
        raise ValueError(fam)
    chunks[-1] = {**chunks[-1], "amazon-bedrock-invocationMetrics": _metrics(g)}
    return chunks


def invoke_stream_frames(fam: str, g: Gen) -> list[bytes]:
    headers = es.event_headers("chunk")
    out: list[bytes] = []
    for i, chunk in enumerate(invoke_stream_chunks(fam, g)):
        pad = _PADDING[: 1 + (i * 7) % len(_PADDING)] if g.padding else None
        out.append(es.encode_message_raw(headers, es.chunk_payload(orjson.dumps(chunk), pad)))
    return out


# --------------------------------------------------------------------------------------------- Converse


def converse_body(g: Gen) -> bytes:
    return orjson.dumps(
        {
            "output": {"message": {"role": "assistant", "content": [{"text": g.text}]}},
            "stopReason": _stop(g),
            "usage": U.converse(g.usage),
            "metrics": {"latencyMs": g.total_ms},
        }
    )


def converse_stream_frames(g: Gen) -> list[bytes]:
    events: list[tuple[str, Json]] = [("messageStart", {"role": "assistant"})]
    events += [("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}}) for p in g.pieces]
    events += [
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("messageStop", {"stopReason": _stop(g)}),
        ("metadata", {"usage": U.converse(g.usage), "metrics": {"latencyMs": g.total_ms}}),
    ]
    out: list[bytes] = []
    for i, (name, payload) in enumerate(events):
        if g.padding:
            payload = {**payload, "p": _PADDING[: 1 + (i * 5) % len(_PADDING)]}
        out.append(es.encode_event(name, payload))
    return out


def stream_error_frame() -> bytes:
    return es.encode_message_raw(
        es.exception_headers("modelStreamErrorException"),
        orjson.dumps(
            {
                "message": "Model stream error (fake upstream).",
                "originalStatusCode": 500,
                "originalMessage": "internal",
            }
        ),
    )


def garbage_frames() -> list[bytes]:
    good = es.encode_event("chunk", {"bytes": "e30="})
    broken = bytearray(good)
    broken[-1] ^= 0xFF  # bad message CRC
    return [bytes(broken)]


# --------------------------------------------------------------------------------------------- errors

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("ValidationException", "Malformed input request, please reformat your input and try again."),
    403: ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
    404: (
        "ResourceNotFoundException",
        "Could not resolve the foundation model from the provided model identifier.",
    ),
    408: ("ModelTimeoutException", "Model has timed out in processing the request."),
    424: ("ModelErrorException", "The model returned an error (fake upstream)."),
    429: ("ThrottlingException", "Too many requests, please wait before trying again."),
    500: ("InternalServerException", "The server encountered an internal error (fake upstream)."),
    503: ("ServiceUnavailableException", "Bedrock is unable to process your request."),
}


def error(
    status: int, message: str | None = None, error_type: str | None = None
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    default_type, default_msg = _ERRORS.get(
        status,
        (
            "InternalServerException" if status >= 500 else "ValidationException",
            f"Fake upstream error {status}.",
        ),
    )
    typ = error_type or default_type
    headers = [(b"x-amzn-errortype", f"{typ}:http://internal.amazon.com/coral/com.amazon.bedrock/".encode())]
    return orjson.dumps({"message": message or default_msg}), headers
