"""Anthropic Messages usage -> Pay-i units (Anthropic API, and Claude on Bedrock InvokeModel, Vertex, Foundry).

Anthropic's ``input_tokens`` EXCLUDES cache reads and cache writes (design/traps.md row 3). Units produced
(official SDK ``AnthropicInstrumentor.anthropic_process_compute_input_cost`` and
``anthropic_process_synchronous_response``):

* ``text``                input = ``input_tokens`` (- vision), output = ``output_tokens``
* ``text_cache_read``     input = ``cache_read_input_tokens``
* ``text_cache_write``    input = ``cache_creation.ephemeral_5m_input_tokens``, or the whole
  ``cache_creation_input_tokens`` when there is no (non-zero) TTL breakdown
* ``text_cache_write_1h`` input = ``cache_creation.ephemeral_1h_input_tokens``
* ``vision``              input = ``input_tokens`` - text estimate, when the caller passes an estimate for a
  prompt with images
* ``web_search_request``  output = ``server_tool_use.web_search_requests``

All of the above except ``web_search_request`` get the ``_large_context`` suffix when
``input_tokens + cache_creation_input_tokens + cache_read_input_tokens >= 200_000``, for every model (the official
SDK applies the rule regardless of the model).

Beyond the official SDK: when the cumulative ``cache_creation_input_tokens`` exceeds the TTL breakdown (a stream's
``message_delta`` repeats the cumulative total but never the breakdown), the difference is still billed: to
``text_cache_write_1h`` if the breakdown only held 1h writes, else to ``text_cache_write``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from . import Units, as_int, put_unit
from ._common import CountTextTokens, estimate_text_tokens, mapping, non_empty_str, split_vision

__all__ = [
    "LARGE_CONTEXT_THRESHOLD",
    "AnthropicStreamUsage",
    "anthropic_resource_scope",
    "anthropic_response_units",
    "anthropic_usage_units",
    "cache_aware_units",
    "estimate_prompt_text_tokens",
    "estimate_vision_tokens",
    "is_large_context",
    "merge_usage",
    "total_input_tokens",
]

LARGE_CONTEXT_THRESHOLD: Final = 200_000
LARGE_CONTEXT_SUFFIX: Final = "_large_context"

_NO_SCOPE_GEOS: Final = frozenset({"global", "not_available"})


def total_input_tokens(usage: Mapping[str, Any]) -> int:
    """Every input token of the call: uncached + cache writes + cache reads."""
    return (
        as_int(usage.get("input_tokens"))
        + as_int(usage.get("cache_creation_input_tokens"))
        + as_int(usage.get("cache_read_input_tokens"))
    )


def is_large_context(usage: Mapping[str, Any]) -> bool:
    return total_input_tokens(usage) >= LARGE_CONTEXT_THRESHOLD


def anthropic_usage_units(
    usage: Mapping[str, Any] | None, *, text_token_estimate: int | None = None
) -> Units:
    """Units of an Anthropic ``usage`` object (a final / merged one; see ``AnthropicStreamUsage`` for streams)."""
    if not isinstance(usage, Mapping) or not usage:
        return {}
    breakdown = mapping(usage.get("cache_creation"))
    units = cache_aware_units(
        input_tokens=as_int(usage.get("input_tokens")),
        output_tokens=as_int(usage.get("output_tokens")),
        cache_read=as_int(usage.get("cache_read_input_tokens")),
        cache_write=as_int(usage.get("cache_creation_input_tokens")),
        cache_write_5m=as_int(breakdown.get("ephemeral_5m_input_tokens")),
        cache_write_1h=as_int(breakdown.get("ephemeral_1h_input_tokens")),
        large_context_rule=True,
        text_token_estimate=text_token_estimate,
    )
    put_unit(
        units,
        "web_search_request",
        output=as_int(mapping(usage.get("server_tool_use")).get("web_search_requests")),
    )
    return units


def cache_aware_units(
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read: int,
    cache_write: int,
    cache_write_5m: int = 0,
    cache_write_1h: int = 0,
    large_context_rule: bool,
    text_token_estimate: int | None = None,
) -> Units:
    """Units from counts where ``input_tokens`` EXCLUDES cache reads and writes (Anthropic, Bedrock).

    ``cache_write`` is the total cache write; ``cache_write_5m`` / ``cache_write_1h`` its optional TTL breakdown
    (a total above the breakdown is attributed as described in the module docstring). With
    ``large_context_rule`` every token unit gets ``_large_context`` at >= 200k total input tokens.
    """
    large = large_context_rule and input_tokens + cache_write + cache_read >= LARGE_CONTEXT_THRESHOLD
    suffix = LARGE_CONTEXT_SUFFIX if large else ""
    unattributed = cache_write - cache_write_5m - cache_write_1h
    if unattributed > 0:
        if cache_write_1h and not cache_write_5m:
            cache_write_1h += unattributed
        else:
            cache_write_5m += unattributed

    units: Units = {}
    text_in, vision = split_vision(input_tokens, text_token_estimate)
    put_unit(units, "text" + suffix, text_in, output_tokens)
    put_unit(units, "text_cache_read" + suffix, cache_read)
    put_unit(units, "text_cache_write" + suffix, cache_write_5m)
    put_unit(units, "text_cache_write_1h" + suffix, cache_write_1h)
    put_unit(units, "vision" + suffix, vision)
    return units


def anthropic_response_units(
    body: Mapping[str, Any] | None, *, text_token_estimate: int | None = None
) -> Units:
    """Units of a non-streaming Messages response body (``{"type": "message", ..., "usage": {...}}``)."""
    if not isinstance(body, Mapping):
        return {}
    return anthropic_usage_units(mapping(body.get("usage")), text_token_estimate=text_token_estimate)


def anthropic_resource_scope(usage: Mapping[str, Any] | None) -> str | None:
    """``datazone.<geo>`` from ``usage.inference_geo`` unless it is ``global`` / ``not_available`` / missing.

    The official SDK applies this to the Anthropic API only (not Bedrock, Vertex or Foundry), and only when no
    price-as scope was configured; the caller decides that.
    """
    geo = non_empty_str(mapping(usage).get("inference_geo"))
    if geo is None or geo in _NO_SCOPE_GEOS:
        return None
    return f"datazone.{geo}"


def merge_usage(base: dict[str, Any], update: Mapping[str, Any]) -> None:
    """Merge a later, cumulative usage object into ``base`` in place.

    Values present in ``update`` REPLACE those in ``base`` (they are running totals: never add them); keys that
    are missing or ``null`` in ``update`` keep ``base``'s values. Nested objects merge key by key.
    """
    for key, value in update.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            current = base.get(key)
            nested: dict[str, Any] = dict(current) if isinstance(current, Mapping) else {}
            merge_usage(nested, value)
            base[key] = nested
        else:
            base[key] = value


class AnthropicStreamUsage:
    """Accumulates a Messages stream: feed the parsed data of each SSE event (any order of event types).

    ``message_start`` supplies ``message.usage`` (input and cache fields, a provisional ``output_tokens``), each
    ``message_delta`` supplies ``usage`` with cumulative values that override (never add to) what came before;
    newer API versions repeat ``input_tokens`` and the cache totals there. ``units()`` equals
    ``anthropic_response_units`` of the non-streaming response with the same final usage.
    """

    __slots__ = ("finished", "model", "response_id", "saw_delta", "text_token_estimate", "usage")

    def __init__(self, *, text_token_estimate: int | None = None) -> None:
        self.text_token_estimate = text_token_estimate
        self.model: str | None = None
        self.response_id: str | None = None
        self.usage: dict[str, Any] | None = None
        self.saw_delta = False
        self.finished = False

    def feed(self, event: Mapping[str, Any]) -> bool:
        """Record one event; True when it carried usage."""
        if not isinstance(event, Mapping):
            return False
        kind = event.get("type")
        if kind == "message_start":
            message = mapping(event.get("message"))
            if self.response_id is None:
                self.response_id = non_empty_str(message.get("id"))
            model = non_empty_str(message.get("model"))
            if model is not None:
                self.model = model
            usage = message.get("usage")
            if isinstance(usage, Mapping):
                self._merge(usage)
                return True
        elif kind == "message_delta":
            usage = event.get("usage")
            if isinstance(usage, Mapping):
                self.saw_delta = True
                self._merge(usage)
                return True
        elif kind == "message_stop":
            self.finished = True
        return False

    def _merge(self, usage: Mapping[str, Any]) -> None:
        if self.usage is None:
            self.usage = {}
        merge_usage(self.usage, usage)

    @property
    def has_usage(self) -> bool:
        return self.usage is not None

    def units(self) -> Units:
        return anthropic_usage_units(self.usage, text_token_estimate=self.text_token_estimate)

    def resource_scope(self) -> str | None:
        return anthropic_resource_scope(self.usage)


# --------------------------------------------------------------------------------------------- vision


def estimate_prompt_text_tokens(
    request_json: Mapping[str, Any] | None,
    count_text_tokens: CountTextTokens | None,
    *,
    all_messages: bool = False,
) -> int | None:
    """Text tokens of a Messages request that contains ``image`` blocks (``None``: no counter/image/text).

    Default: the official SDK's rule (only text blocks of messages that hold an image; it counts with tiktoken
    ``cl100k_base``). ``all_messages`` also counts other messages and ``system``.
    """
    if count_text_tokens is None or not isinstance(request_json, Mapping):
        return None
    messages = request_json.get("messages")
    if not isinstance(messages, list):
        return None
    return estimate_text_tokens(
        (mapping(m).get("content") for m in messages),
        image_types=frozenset({"image"}),
        text_types=frozenset({"text"}),
        count_text_tokens=count_text_tokens,
        all_messages=all_messages,
        extra_texts=(request_json.get("system"),),
    )


def estimate_vision_tokens(
    request_json: Mapping[str, Any] | None,
    prompt_tokens: int,
    count_text_tokens: CountTextTokens | None,
    *,
    all_messages: bool = False,
) -> int:
    """Image tokens of a prompt: ``prompt_tokens`` (Anthropic ``input_tokens``) minus the text estimate."""
    estimate = estimate_prompt_text_tokens(request_json, count_text_tokens, all_messages=all_messages)
    return split_vision(max(0, prompt_tokens), estimate)[1]
