"""Gemini usage (google-genai, Gemini API or Vertex AI) -> Pay-i units.

``usage_metadata`` (snake_case, as google-genai's models dump it): ``prompt_token_count`` INCLUDES
``cached_content_token_count``; ``candidates_token_count`` EXCLUDES ``thoughts_token_count``. Units (the official
SDK's ``VertexRequest.compute_usage``):

* token-billed models, per modality (``TEXT``, ``IMAGE`` -> ``vision`` on input, ``AUDIO``, ``VIDEO``):
  ``<modality>_cache_read`` input = the cached count of ``cache_tokens_details``; ``<modality>`` input = the count of
  ``prompt_tokens_details`` less its cached part; ``<modality>`` output from ``candidates_tokens_details`` (an
  ``IMAGE`` output is ``image``); ``reasoning`` output = ``thoughts_token_count``.
* ``gemini-1.x`` (billed by character): ``text`` input = the prompt's non-space characters, output = the answer's;
  ``vision`` = ceil(tokens / 258) images, ``video`` = ceil(tokens / 285) s, ``audio`` = ceil(tokens / 25) s.
* ``_large_context`` on every unit: ``gemini-2.5-pro`` above 200,000 prompt tokens; ``gemini-1.x`` above 128,000.

Beyond the official SDK: without per-modality details the totals are still split (``text`` input = prompt less
cached, ``text_cache_read`` = cached, ``text`` output = candidates, ``reasoning`` = thoughts) where the official
SDK sends ``text`` = prompt and candidates x 4, and drops ``text`` altogether when thoughts are present.

Example:
    >>> usage = {"prompt_token_count": 120, "cached_content_token_count": 100, "candidates_token_count": 30,
    ...          "thoughts_token_count": 7}
    >>> gemini_units("gemini-2.5-flash", {"usage_metadata": usage})
    {'text_cache_read': {'input': 100}, 'text': {'input': 20, 'output': 30}, 'reasoning': {'output': 7}}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final

from . import Units, as_int, put_unit
from ._common import mapping

__all__ = ["count_characters", "gemini_has_usage", "gemini_units"]

_MODALITIES: Final = frozenset({"TEXT", "IMAGE", "VISION", "AUDIO", "VIDEO"})
_LARGE: Final = "_large_context"
# gemini-1.x bills non-text input by the item or second: tokens per image / per second of video / of audio
_PER_ITEM: Final = {"IMAGE": ("vision", 258), "VIDEO": ("video", 285), "AUDIO": ("audio", 25)}


def count_characters(texts: Iterable[Any]) -> int:
    """Non-space characters of the strings in ``texts`` (how gemini-1.x bills text)."""
    return sum(sum(1 for char in text if not char.isspace()) for text in texts if isinstance(text, str))


def gemini_has_usage(response: Mapping[str, Any]) -> bool:
    """Whether a response (or stream chunk) carries the final usage (Gemini repeats cumulative usage per chunk)."""
    usage = mapping(response.get("usage_metadata"))
    return "prompt_token_count" in usage and "candidates_token_count" in usage


def _details(usage: Mapping[str, Any], key: str) -> list[tuple[str, int]]:
    found = []
    for item in usage.get(key) or ():
        item = mapping(item)
        modality = item.get("modality")
        if isinstance(modality, str) and modality in _MODALITIES:
            found.append((modality, as_int(item.get("token_count"))))
    return found


def _answer_texts(response: Mapping[str, Any]) -> list[Any]:
    return [
        mapping(part).get("text")
        for candidate in response.get("candidates") or ()
        for part in mapping(mapping(candidate).get("content")).get("parts") or ()
    ]


def gemini_units(
    model: str | None,
    response: Mapping[str, Any],
    *,
    prompt_characters: int = 0,
    answer_characters: int | None = None,
) -> Units:
    """The units of one Gemini response (or a stream's last chunk, with ``answer_characters`` of the whole stream)."""
    model = (model or "").removeprefix("google.")
    usage = mapping(response.get("usage_metadata"))
    prompt = as_int(usage.get("prompt_token_count"))
    candidates = as_int(usage.get("candidates_token_count"))
    units: Units = {}
    if model.startswith("gemini-1."):
        suffix = _LARGE if prompt > 128_000 else ""
        for modality, count in _details(usage, "prompt_tokens_details"):
            if modality == "TEXT":
                answer = answer_characters
                if answer is None:
                    answer = count_characters(_answer_texts(response))
                put_unit(
                    units, "text" + suffix, prompt_characters or prompt * 4, answer or candidates * 4
                )
            elif modality in _PER_ITEM:
                name, per = _PER_ITEM[modality]
                put_unit(units, name + suffix, math.ceil(count / per))
        if not units:
            put_unit(units, "text" + suffix, prompt_characters or prompt * 4, candidates * 4)
        return units
    suffix = _LARGE if model.startswith("gemini-2.5-pro") and prompt > 200_000 else ""

    def unit_of(modality: str, side: str) -> str:
        if modality == "IMAGE" and side == "input":
            modality = "VISION"
        return modality.lower()

    cached: dict[str, int] = {}
    for modality, count in _details(usage, "cache_tokens_details"):
        key = unit_of(modality, "input")
        cached[key] = cached.get(key, 0) + count
        put_unit(units, f"{key}_cache_read{suffix}", count)
    prompt_details = _details(usage, "prompt_tokens_details")
    for modality, count in prompt_details:
        key = unit_of(modality, "input")
        put_unit(units, key + suffix, max(0, count - cached.pop(key, 0)))
    output_details = _details(usage, "candidates_tokens_details")
    for modality, count in output_details:
        put_unit(units, unit_of(modality, "output") + suffix, output=count)
    if not prompt_details:
        cached_total = as_int(usage.get("cached_content_token_count"))
        if not cached:
            put_unit(units, "text_cache_read" + suffix, cached_total)
        put_unit(units, "text" + suffix, max(0, prompt - cached_total))
    if not output_details:
        put_unit(units, "text" + suffix, output=candidates)
    put_unit(units, "reasoning" + suffix, output=as_int(usage.get("thoughts_token_count")))
    return units
