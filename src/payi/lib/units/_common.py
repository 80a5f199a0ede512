"""Small private helpers shared by the provider modules (standard library only)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

CountTextTokens: TypeAlias = Callable[[str], int]
"""Counts the tokens of a piece of prompt text. Injected by the caller (the SDK or the server decide which
tokenizer to use: the official SDK uses tiktoken's encoding for the model, else ``o200k_base``, for OpenAI and
``cl100k_base`` for Anthropic)."""

_EMPTY: Mapping[str, Any] = {}


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one (JSON ``null`` / missing objects)."""
    return value if isinstance(value, Mapping) else _EMPTY


def non_empty_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def estimate_text_tokens(
    contents: Iterable[Any],
    *,
    image_types: frozenset[str],
    text_types: frozenset[str],
    count_text_tokens: CountTextTokens,
    all_messages: bool,
    extra_texts: Iterable[Any] = (),
) -> int | None:
    """Estimated text tokens of a prompt that contains images, or ``None`` when there is no image (or no text).

    ``contents`` are the ``content`` values of the request's messages: a string or a list of typed parts.
    With ``all_messages=False`` (the official SDK's rule) only the text parts of messages that themselves hold an
    image are counted; with ``all_messages=True`` every string content, every text part and ``extra_texts``
    (system prompt, instructions) are counted as well.
    """
    has_image = False
    total = 0
    for content in contents:
        if isinstance(content, str):
            if all_messages:
                total += count_text_tokens(content)
            continue
        if not isinstance(content, list):
            continue
        parts = [part for part in content if isinstance(part, Mapping)]
        message_has_image = any(part.get("type") in image_types for part in parts)
        if message_has_image:
            has_image = True
        if message_has_image or all_messages:
            for part in parts:
                if part.get("type") in text_types:
                    text = part.get("text")
                    if isinstance(text, str):
                        total += count_text_tokens(text)
    if not has_image:
        return None
    if all_messages:
        for extra in extra_texts:
            if isinstance(extra, str):
                total += count_text_tokens(extra)
            elif isinstance(extra, list):
                for part in extra:
                    text = mapping(part).get("text")
                    if isinstance(text, str):
                        total += count_text_tokens(text)
    return total if total > 0 else None


def split_vision(text_input: int, text_token_estimate: int | None) -> tuple[int, int]:
    """``(text, vision)`` input tokens: everything above the text estimate is attributed to images.

    Mirrors the official SDK's ``_ProviderRequest.update_for_vision``: only applied when an estimate exists and
    the prompt holds more tokens than the estimate.
    """
    if text_token_estimate and text_token_estimate > 0:
        vision = text_input - text_token_estimate
        if vision > 0:
            return text_token_estimate, vision
    return text_input, 0
