"""OpenAI (and Azure OpenAI, and OpenAI-compatible) usage -> Pay-i units.

Covers the three usage shapes:

* Chat Completions / embeddings: ``prompt_tokens`` (INCLUDES ``prompt_tokens_details.cached_tokens`` and
  ``audio_tokens``), ``completion_tokens`` (INCLUDES ``completion_tokens_details.reasoning_tokens`` and
  ``audio_tokens``).
* Responses API: ``input_tokens`` (INCLUDES ``input_tokens_details.cached_tokens``), ``output_tokens``
  (INCLUDES ``output_tokens_details.reasoning_tokens``).

Units produced (official SDK ``OpenAIInstrumentor._OpenAiProviderRequest.add_usage_units`` and
``ProviderRequest.update_for_vision``):

* ``text``            input = prompt - cached - audio in (- vision), output = completion - reasoning - audio out
* ``text_cache_read`` input = cached
* ``text_cache_write`` input = ``cache_write_tokens`` (newer usage objects; not in the official SDK, which leaves
  them inside ``text``): models that bill cache writes above input are priced right, and a server without a
  cache-write price for the model prices them as ``text`` input
* ``reasoning``       output = reasoning
* ``audio``           input = prompt audio tokens, output = completion audio tokens (not in the official SDK)
* ``vision``          input = image tokens: the provider's ``prompt_tokens_details.image_tokens`` when reported,
  else ``prompt - cached - text estimate`` when the caller passes a text estimate of an image-bearing prompt.
  OpenAI never uses ``vision_large_context`` (the official SDK only sets large context for Anthropic and Gemini).

"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from . import Units, as_int, put_unit
from ._common import CountTextTokens, estimate_text_tokens, mapping, non_empty_str, split_vision

__all__ = [
    "RESPONSES_USAGE_EVENTS",
    "OpenAIChatStreamUsage",
    "OpenAIResponsesStreamUsage",
    "estimate_prompt_text_tokens",
    "estimate_vision_tokens",
    "openai_response_units",
    "openai_usage_units",
]

_CHAT_KEYS: Final = (
    "prompt_tokens",
    "completion_tokens",
    "prompt_tokens_details",
    "completion_tokens_details",
)
_RESPONSES_KEYS: Final = ("input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details")

RESPONSES_USAGE_EVENTS: Final = frozenset({"response.completed", "response.incomplete", "response.failed"})
"""Responses API stream events whose ``response`` carries the final ``usage``."""


def openai_usage_units(usage: Mapping[str, Any] | None, *, text_token_estimate: int | None = None) -> Units:
    """Units of an OpenAI ``usage`` object (Chat Completions, embeddings or Responses; detected by its keys).

    ``text_token_estimate``: tokens of the prompt's text when the request contains images (see
    ``estimate_prompt_text_tokens``); the rest of the uncached prompt is reported as ``vision``.
    """
    units: Units = {}
    if not isinstance(usage, Mapping) or not usage:
        return units
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        in_key, out_key, in_details_key, out_details_key = _CHAT_KEYS
    else:
        in_key, out_key, in_details_key, out_details_key = _RESPONSES_KEYS

    prompt = as_int(usage.get(in_key))
    completion = as_int(usage.get(out_key))
    in_details = mapping(usage.get(in_details_key))
    out_details = mapping(usage.get(out_details_key))

    cached = as_int(in_details.get("cached_tokens"))
    cache_write = as_int(in_details.get("cache_write_tokens"))
    audio_in = as_int(in_details.get("audio_tokens"))
    image_in = as_int(in_details.get("image_tokens"))
    reasoning = as_int(out_details.get("reasoning_tokens"))
    audio_out = as_int(out_details.get("audio_tokens"))

    cache_write = min(cache_write, max(0, prompt - cached))
    text_in = max(0, prompt - cached - cache_write - audio_in)
    if image_in:
        vision = min(image_in, text_in)
        text_in -= vision
    else:
        text_in, vision = split_vision(text_in, text_token_estimate)
    text_out = max(0, completion - reasoning - audio_out)

    put_unit(units, "text", text_in, text_out)
    put_unit(units, "text_cache_read", cached)
    put_unit(units, "text_cache_write", cache_write)
    put_unit(units, "reasoning", output=reasoning)
    put_unit(units, "audio", audio_in, audio_out)
    put_unit(units, "vision", vision)
    return units


def openai_response_units(body: Mapping[str, Any] | None, *, text_token_estimate: int | None = None) -> Units:
    """Units of a whole non-streaming response body (chat completion, embedding list or Responses object)."""
    if not isinstance(body, Mapping):
        return {}
    return openai_usage_units(mapping(body.get("usage")), text_token_estimate=text_token_estimate)


# --------------------------------------------------------------------------------------------- vision


def estimate_prompt_text_tokens(
    request_json: Mapping[str, Any] | None,
    count_text_tokens: CountTextTokens | None,
    *,
    all_messages: bool = False,
) -> int | None:
    """Text tokens of a Chat Completions (``messages``) or Responses (``input``) request that contains images.

    Returns ``None`` when there is no counter, no image, or no text. Computed once from the request, before the
    response arrives, and passed to ``openai_usage_units`` / the stream accumulators as ``text_token_estimate``.
    By default only the text parts of messages that hold an image count (official SDK rule); ``all_messages``
    also counts every other message, the system prompt and ``instructions``.
    """
    if count_text_tokens is None or not isinstance(request_json, Mapping):
        return None
    messages = request_json.get("messages")
    if isinstance(messages, list):
        return estimate_text_tokens(
            (mapping(m).get("content") for m in messages),
            image_types=frozenset({"image_url"}),
            text_types=frozenset({"text"}),
            count_text_tokens=count_text_tokens,
            all_messages=all_messages,
        )
    items = request_json.get("input")
    if isinstance(items, list):
        return estimate_text_tokens(
            (mapping(item).get("content") for item in items),
            image_types=frozenset({"input_image"}),
            text_types=frozenset({"input_text", "output_text"}),
            count_text_tokens=count_text_tokens,
            all_messages=all_messages,
            extra_texts=(request_json.get("instructions"),),
        )
    return None


def estimate_vision_tokens(
    request_json: Mapping[str, Any] | None,
    prompt_tokens: int,
    count_text_tokens: CountTextTokens | None,
    *,
    all_messages: bool = False,
) -> int:
    """Image tokens of a prompt: ``prompt_tokens`` (uncached prompt tokens) minus the text estimate; 0 without a
    counter, without images, or when the estimate is not below ``prompt_tokens``."""
    estimate = estimate_prompt_text_tokens(request_json, count_text_tokens, all_messages=all_messages)
    return split_vision(max(0, prompt_tokens), estimate)[1]


# --------------------------------------------------------------------------------------------- streams


class OpenAIChatStreamUsage:
    """Accumulates a Chat Completions stream: feed each parsed ``data:`` chunk (not ``[DONE]``).

    The usage chunk (``stream_options.include_usage``; usually ``choices: []``) is picked whenever it arrives;
    ``units()`` then equals ``openai_response_units`` of the non-streaming response with the same usage.
    ``model`` is the upstream's resolved model from the chunks (price from it, never from a client alias).
    """

    __slots__ = ("model", "response_id", "text_token_estimate", "usage")

    def __init__(self, *, text_token_estimate: int | None = None) -> None:
        self.text_token_estimate = text_token_estimate
        self.model: str | None = None
        self.response_id: str | None = None
        self.usage: dict[str, Any] | None = None

    def feed(self, chunk: Mapping[str, Any]) -> bool:
        """Record one chunk; True when it carried usage."""
        if not isinstance(chunk, Mapping):
            return False
        if self.response_id is None:
            self.response_id = non_empty_str(chunk.get("id"))
        model = non_empty_str(chunk.get("model"))
        if model is not None:
            self.model = model
        usage = chunk.get("usage")
        if isinstance(usage, Mapping) and usage:
            self.usage = dict(usage)
            return True
        return False

    @property
    def has_usage(self) -> bool:
        return self.usage is not None

    def units(self) -> Units:
        return openai_usage_units(self.usage, text_token_estimate=self.text_token_estimate)


class OpenAIResponsesStreamUsage:
    """Accumulates a Responses API stream: feed each parsed event (``{"type": "response.…", ...}``).

    ``response.created`` / ``response.in_progress`` give the id and model; ``response.completed``,
    ``response.incomplete`` and ``response.failed`` carry ``response.usage`` (any event whose ``response``
    has usage is taken, like the official SDK).
    """

    __slots__ = ("finished", "model", "response_id", "status", "text_token_estimate", "usage")

    def __init__(self, *, text_token_estimate: int | None = None) -> None:
        self.text_token_estimate = text_token_estimate
        self.model: str | None = None
        self.response_id: str | None = None
        self.status: str | None = None
        self.usage: dict[str, Any] | None = None
        self.finished = False

    def feed(self, event: Mapping[str, Any]) -> bool:
        """Record one event; True when it carried usage."""
        if not isinstance(event, Mapping):
            return False
        if event.get("type") in RESPONSES_USAGE_EVENTS:
            self.finished = True
        response = event.get("response")
        if not isinstance(response, Mapping):
            return False
        if self.response_id is None:
            self.response_id = non_empty_str(response.get("id"))
        model = non_empty_str(response.get("model"))
        if model is not None:
            self.model = model
        status = non_empty_str(response.get("status"))
        if status is not None:
            self.status = status
        usage = response.get("usage")
        if isinstance(usage, Mapping) and usage:
            self.usage = dict(usage)
            return True
        return False

    @property
    def has_usage(self) -> bool:
        return self.usage is not None

    def units(self) -> Units:
        return openai_usage_units(self.usage, text_token_estimate=self.text_token_estimate)
