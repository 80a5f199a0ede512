"""Gemini usage -> Pay-i units (``payi.lib.units.google``), pure functions."""

from __future__ import annotations

import doctest

import payi.lib.units.google as google_units
from payi.lib.units.google import count_characters, gemini_has_usage, gemini_units


def usage(**fields: object) -> dict[str, object]:
    return {"usage_metadata": fields}


def test_docstring_examples() -> None:
    result = doctest.testmod(google_units)
    assert result.failed == 0 and result.attempted > 0


def test_per_modality_with_cache_and_image_output() -> None:
    response = usage(
        prompt_token_count=300,
        candidates_token_count=50,
        cache_tokens_details=[{"modality": "TEXT", "token_count": 100}, {"modality": "IMAGE", "token_count": 58}],
        prompt_tokens_details=[{"modality": "TEXT", "token_count": 200}, {"modality": "IMAGE", "token_count": 100}],
        candidates_tokens_details=[{"modality": "TEXT", "token_count": 40}, {"modality": "IMAGE", "token_count": 10}],
    )
    assert gemini_units("gemini-2.0-flash", response) == {
        "text_cache_read": {"input": 100},
        "vision_cache_read": {"input": 58},
        "text": {"input": 100, "output": 40},
        "vision": {"input": 42},
        "image": {"output": 10},
    }


def test_large_context_only_for_2_5_pro_above_200k() -> None:
    big = usage(prompt_token_count=200_001, candidates_token_count=3)
    assert gemini_units("google.gemini-2.5-pro", big) == {"text_large_context": {"input": 200_001, "output": 3}}
    assert gemini_units("gemini-2.5-flash", big) == {"text": {"input": 200_001, "output": 3}}
    exact = usage(prompt_token_count=200_000, candidates_token_count=3)
    assert gemini_units("gemini-2.5-pro", exact) == {"text": {"input": 200_000, "output": 3}}


def test_gemini_1_is_billed_by_character() -> None:
    response = {
        **usage(
            prompt_token_count=10,
            candidates_token_count=3,
            prompt_tokens_details=[
                {"modality": "TEXT", "token_count": 10},
                {"modality": "IMAGE", "token_count": 259},
                {"modality": "AUDIO", "token_count": 26},
            ],
        ),
        "candidates": [{"content": {"parts": [{"text": "ab c"}]}}],
    }
    assert gemini_units("gemini-1.5-flash", response, prompt_characters=17) == {
        "text": {"input": 17, "output": 3},
        "vision": {"input": 2},
        "audio": {"input": 2},
    }
    # a stream counts its answer itself; without a prompt count the tokens x 4 stand in
    assert gemini_units("gemini-1.5-pro", response, answer_characters=9)["text"] == {"input": 40, "output": 9}


def test_malformed_usage_never_raises_and_zero_is_omitted() -> None:
    assert gemini_units("gemini-2.0-flash", {"usage_metadata": None}) == {}
    assert gemini_units(None, usage(prompt_token_count="x", candidates_token_count=-3)) == {}
    odd = usage(prompt_token_count=5, candidates_token_count=1, prompt_tokens_details=[{"modality": "DOCUMENT"}, 7])
    assert gemini_units("gemini-2.0-flash", odd) == {"text": {"input": 5, "output": 1}}


def test_usage_presence_and_characters() -> None:
    assert gemini_has_usage(usage(prompt_token_count=1, candidates_token_count=0))
    assert not gemini_has_usage(usage(prompt_token_count=1)) and not gemini_has_usage({})
    assert count_characters(["a b\tc", None, "\n"]) == 3
