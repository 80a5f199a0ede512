"""Token usage of the fake upstream: one provider-neutral record and its rendering in every provider's shape.

Conventions (the point of the exercise, see design/traps.md #3):

* ``Usage.input`` is input that was neither read from nor written to a cache.
* OpenAI ``prompt_tokens`` / Responses ``input_tokens`` INCLUDE cached tokens and cache writes
  (``prompt_tokens = input + cache_read + cache writes``). Recent OpenAI APIs report cache writes as
  ``cache_write_tokens`` (Responses: with ``ttl_30m_tokens`` / ``ttl_12h_tokens``); the short-TTL slot of
  ``Usage`` (``cache_write_5m``) maps to OpenAI's 30 min TTL and the long one (``cache_write_1h``) to 12 h.
* OpenAI ``completion_tokens`` / ``output_tokens`` INCLUDE reasoning tokens (``Usage.output`` includes ``reasoning``).
* Anthropic ``input_tokens`` EXCLUDES cache reads and writes; Bedrock ``inputTokens`` / ``inputTokenCount`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

Json = dict[str, Any]

# Keys whose string values count as prompt text when estimating input tokens.
TEXT_KEYS = frozenset({"content", "text", "prompt", "inputText", "input", "instructions", "system"})


@dataclass(frozen=True, slots=True)
class Usage:
    input: int
    output: int
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    reasoning: int = 0
    # total_tokens exactly as a test asked for it (None: computed)
    total: int | None = None
    # keys of an override that the renderer does not know; merged into the final usage object verbatim
    extra: Json = field(default_factory=dict)

    @property
    def cache_write(self) -> int:
        return self.cache_write_5m + self.cache_write_1h

    @property
    def all_input(self) -> int:
        """Every input token, cached or not (OpenAI's ``prompt_tokens``)."""
        return self.input + self.cache_read + self.cache_write


# --------------------------------------------------------------------------------------------- estimation


def count_words(obj: Any, key: str | None = None) -> int:
    """Whitespace-separated words in every string under a TEXT_KEYS key (recursively); ints in an ``input``
    token array count one each (OpenAI embeddings accept token arrays)."""
    if isinstance(obj, str):
        return len(obj.split()) if key in TEXT_KEYS else 0
    if isinstance(obj, dict):
        return sum(count_words(v, k) for k, v in obj.items())
    if isinstance(obj, list):
        total = 0
        for item in obj:
            if isinstance(item, int) and not isinstance(item, bool) and key == "input":
                total += 1
            else:
                total += count_words(item, key)
        return total
    return 0


def estimate_input_tokens(body: Any, factor: int = 1) -> int:
    """Deterministic input token count of a request body: words x factor, at least 1."""
    return max(1, count_words(body) * factor)


# --------------------------------------------------------------------------------------------- overrides


def _int(d: Json, key: str, default: int) -> int:
    value = d.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _sub(d: Json, key: str) -> Json:
    value = d.get(key)
    return value if isinstance(value, dict) else {}


_OPENAI_CHAT_KEYS = frozenset(
    {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
    }
)
_OPENAI_RESPONSES_KEYS = frozenset(
    {"input_tokens", "output_tokens", "total_tokens", "input_tokens_details", "output_tokens_details"}
)
_ANTHROPIC_KEYS = frozenset(
    {
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "cache_creation",
    }
)
_TTL_SHORT = ("5m", "30m")
_BEDROCK_INPUT = (
    "inputTokens",
    "inputTokenCount",
    "prompt_token_count",
    "inputTextTokenCount",
    "input_tokens",
)
_BEDROCK_OUTPUT = (
    "outputTokens",
    "outputTokenCount",
    "generation_token_count",
    "tokenCount",
    "output_tokens",
)
_BEDROCK_CACHE_READ = ("cacheReadInputTokens", "cacheReadInputTokenCount", "cache_read_input_tokens")
_BEDROCK_CACHE_WRITE = ("cacheWriteInputTokens", "cacheWriteInputTokenCount", "cache_creation_input_tokens")
_BEDROCK_KEYS = frozenset(
    _BEDROCK_INPUT
    + _BEDROCK_OUTPUT
    + _BEDROCK_CACHE_READ
    + _BEDROCK_CACHE_WRITE
    + ("totalTokens", "cache_creation", "cacheDetails", "invocationLatency", "firstByteLatency")
)


def _first(d: Json, keys: tuple[str, ...], default: int) -> int:
    for k in keys:
        if k in d:
            return _int(d, k, default)
    return default


def apply_override(kind: str, base: Usage, d: Json) -> Usage:
    """Apply a provider-shaped usage override (``x-fake-usage``) on top of the estimated usage.

    ``kind``: ``openai_chat``, ``openai_embeddings``, ``openai_responses``, ``anthropic`` or ``bedrock``
    (Converse ``usage``, invocation metrics, Nova, Llama, Titan and Anthropic keys are all accepted there).
    Missing fields keep the estimated values.
    """
    if kind in ("openai_chat", "openai_embeddings"):
        details = _sub(d, "prompt_tokens_details")
        cached = _int(details, "cached_tokens", base.cache_read)
        written = _int(details, "cache_write_tokens", base.cache_write_5m)
        prompt = _int(d, "prompt_tokens", base.input + cached + written)
        output = _int(d, "completion_tokens", 0 if kind == "openai_embeddings" else base.output)
        reasoning = _int(
            _sub(d, "completion_tokens_details"), "reasoning_tokens", min(base.reasoning, output)
        )
        total = _int(d, "total_tokens", -1)
        extra = {k: v for k, v in d.items() if k not in _OPENAI_CHAT_KEYS}
        return Usage(
            input=max(0, prompt - cached - written),
            output=output,
            cache_read=cached,
            cache_write_5m=written,
            reasoning=reasoning,
            total=None if total < 0 else total,
            extra=extra,
        )
    if kind == "openai_responses":
        details = _sub(d, "input_tokens_details")
        cached = _int(details, "cached_tokens", base.cache_read)
        ttl = _sub(details, "cache_write_tokens_details")
        written = _int(details, "cache_write_tokens", base.cache_write)
        long_ttl = _int(ttl, "ttl_12h_tokens", 0 if "cache_write_tokens" in details else base.cache_write_1h)
        short_ttl = _int(ttl, "ttl_30m_tokens", max(0, written - long_ttl))
        prompt = _int(d, "input_tokens", base.input + cached + short_ttl + long_ttl)
        output = _int(d, "output_tokens", base.output)
        reasoning = _int(_sub(d, "output_tokens_details"), "reasoning_tokens", min(base.reasoning, output))
        total = _int(d, "total_tokens", -1)
        extra = {k: v for k, v in d.items() if k not in _OPENAI_RESPONSES_KEYS}
        return Usage(
            input=max(0, prompt - cached - short_ttl - long_ttl),
            output=output,
            cache_read=cached,
            cache_write_5m=short_ttl,
            cache_write_1h=long_ttl,
            reasoning=reasoning,
            total=None if total < 0 else total,
            extra=extra,
        )
    if kind == "anthropic":
        w5, w1 = _cache_creation(d, base)
        extra = {k: v for k, v in d.items() if k not in _ANTHROPIC_KEYS}
        return Usage(
            input=_int(d, "input_tokens", base.input),
            output=_int(d, "output_tokens", base.output),
            cache_read=_int(d, "cache_read_input_tokens", base.cache_read),
            cache_write_5m=w5,
            cache_write_1h=w1,
            extra=extra,
        )
    if kind == "bedrock":
        if isinstance(d.get("cacheDetails"), list):
            w5 = w1 = 0
            for item in d["cacheDetails"]:
                if isinstance(item, dict):
                    if item.get("ttl") in _TTL_SHORT:
                        w5 += _int(item, "inputTokens", 0)
                    else:
                        w1 += _int(item, "inputTokens", 0)
        elif "cache_creation" in d or "cache_creation_input_tokens" in d:
            w5, w1 = _cache_creation(d, base)
        else:
            w5, w1 = _first(d, _BEDROCK_CACHE_WRITE, base.cache_write_5m), base.cache_write_1h
        total = _int(d, "totalTokens", -1)
        extra = {k: v for k, v in d.items() if k not in _BEDROCK_KEYS}
        return Usage(
            input=_first(d, _BEDROCK_INPUT, base.input),
            output=_first(d, _BEDROCK_OUTPUT, base.output),
            cache_read=_first(d, _BEDROCK_CACHE_READ, base.cache_read),
            cache_write_5m=w5,
            cache_write_1h=w1,
            total=None if total < 0 else total,
            extra=extra,
        )
    raise ValueError(f"unknown usage kind {kind!r}")


def _cache_creation(d: Json, base: Usage) -> tuple[int, int]:
    cc = d.get("cache_creation")
    if isinstance(cc, dict):
        return _int(cc, "ephemeral_5m_input_tokens", 0), _int(cc, "ephemeral_1h_input_tokens", 0)
    if "cache_creation_input_tokens" in d:
        return _int(d, "cache_creation_input_tokens", 0), 0
    return base.cache_write_5m, base.cache_write_1h


def with_output(u: Usage, output: int) -> Usage:
    return replace(u, output=output, reasoning=min(u.reasoning, output))


# --------------------------------------------------------------------------------------------- rendering


def _merge(d: Json, extra: Json) -> Json:
    if extra:
        d.update(extra)
    return d


def openai_chat(u: Usage) -> Json:
    prompt = u.all_input
    return _merge(
        {
            "prompt_tokens": prompt,
            "completion_tokens": u.output,
            "total_tokens": u.total if u.total is not None else prompt + u.output,
            "prompt_tokens_details": _openai_prompt_details(u),
            "completion_tokens_details": {
                "reasoning_tokens": u.reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        u.extra,
    )


def _openai_prompt_details(u: Usage) -> Json:
    d: Json = {"cached_tokens": u.cache_read, "audio_tokens": 0}
    if u.cache_write:
        d["cache_write_tokens"] = u.cache_write
    return d


def openai_embeddings(u: Usage) -> Json:
    prompt = u.all_input
    return _merge(
        {"prompt_tokens": prompt, "total_tokens": u.total if u.total is not None else prompt}, u.extra
    )


def openai_responses(u: Usage) -> Json:
    prompt = u.all_input
    return _merge(
        {
            "input_tokens": prompt,
            "input_tokens_details": _responses_input_details(u),
            "output_tokens": u.output,
            "output_tokens_details": {"reasoning_tokens": u.reasoning},
            "total_tokens": u.total if u.total is not None else prompt + u.output,
        },
        u.extra,
    )


def _responses_input_details(u: Usage) -> Json:
    d: Json = {"cached_tokens": u.cache_read, "cache_write_tokens": u.cache_write}
    if u.cache_write:
        d["cache_write_tokens_details"] = {
            "ttl_30m_tokens": u.cache_write_5m,
            "ttl_12h_tokens": u.cache_write_1h,
        }
    return d


def anthropic(u: Usage, *, output: int | None = None, bedrock: bool = False) -> Json:
    d: Json = {
        "input_tokens": u.input,
        "cache_creation_input_tokens": u.cache_write,
        "cache_read_input_tokens": u.cache_read,
    }
    if not bedrock:
        d["cache_creation"] = {
            "ephemeral_5m_input_tokens": u.cache_write_5m,
            "ephemeral_1h_input_tokens": u.cache_write_1h,
        }
    d["output_tokens"] = u.output if output is None else output
    if not bedrock:
        d["service_tier"] = "standard"
    return d


def anthropic_final(u: Usage, *, bedrock: bool = False) -> Json:
    """Usage of a non-streamed Anthropic message (extras from an override included)."""
    return _merge(anthropic(u, bedrock=bedrock), u.extra)


def anthropic_delta(u: Usage, *, full: bool) -> Json:
    """``message_delta.usage``: cumulative output; newer API versions repeat the input and cache fields."""
    if full:
        d: Json = {
            "input_tokens": u.input,
            "cache_creation_input_tokens": u.cache_write,
            "cache_read_input_tokens": u.cache_read,
            "output_tokens": u.output,
        }
    else:
        d = {"output_tokens": u.output}
    return _merge(d, u.extra)


def converse(u: Usage) -> Json:
    d: Json = {
        "inputTokens": u.input,
        "outputTokens": u.output,
        "totalTokens": u.total if u.total is not None else u.all_input + u.output,
        "cacheReadInputTokens": u.cache_read,
        "cacheWriteInputTokens": u.cache_write,
    }
    if u.cache_write:  # sorted by TTL, 1h before 5m
        d["cacheDetails"] = [
            {"ttl": ttl, "inputTokens": n}
            for ttl, n in (("1h", u.cache_write_1h), ("5m", u.cache_write_5m))
            if n
        ]
    return _merge(d, u.extra)


def nova(u: Usage) -> Json:
    return {
        "inputTokens": u.input,
        "outputTokens": u.output,
        "totalTokens": u.total if u.total is not None else u.all_input + u.output,
        "cacheReadInputTokenCount": u.cache_read,
        "cacheWriteInputTokenCount": u.cache_write,
    }


def invocation_metrics(u: Usage, *, invocation_latency: int, first_byte_latency: int) -> Json:
    return {
        "inputTokenCount": u.input,
        "outputTokenCount": u.output,
        "invocationLatency": invocation_latency,
        "firstByteLatency": first_byte_latency,
        "cacheReadInputTokenCount": u.cache_read,
        "cacheWriteInputTokenCount": u.cache_write,
    }
