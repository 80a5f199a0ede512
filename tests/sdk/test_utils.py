"""Pure helpers: path templating, query and body encoding, custom-header parsing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from payi import NOT_GIVEN, file_from_path, omit
from payi._utils import encode_json, parse_custom_headers, path_template, query_items, strip_omitted
from payi.types import PropertiesResponse


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("system.openai", "system.openai"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("meta/llama", "meta%2Fllama"),
        ("a b?c#d%e", "a%20b%3Fc%23d%25e"),
        ("user@example.com", "user@example.com"),
        ("ünï", "%C3%BCn%C3%AF"),
    ],
)
def test_path_segments_are_escaped(value: str, encoded: str) -> None:
    assert path_template("/api/v1/x/{name}/y", name=value) == f"/api/v1/x/{encoded}/y"


@pytest.mark.parametrize("value", [".", ".."])
def test_dot_segments_are_rejected(value: str) -> None:
    with pytest.raises(ValueError, match="dot-segment"):
        path_template("/a/{x}", x=value)


def test_percent_signs_are_data_not_escapes() -> None:
    assert path_template("/a/{x}", x="%2e") == "/a/%252e"


def test_empty_segments_are_rejected() -> None:
    with pytest.raises(ValueError, match="non-empty value for `use_case_name`"):
        path_template("/a/{use_case_name}", use_case_name="")


def test_query_items() -> None:
    when = datetime(2025, 5, 1, 16, 39, 38, 999504, tzinfo=UTC)
    assert query_items(
        {
            "Active": True,
            "sort_ascending": False,
            "limit": 10,
            "ids": ["a", None, "b"],
            "resetDate": when,
            "day": date(2025, 1, 2),
            "skip_none": None,
            "skip_omit": omit,
            "skip_not_given": NOT_GIVEN,
            "skip_empty": "",
            "nested": {"k": "v"},
        }
    ) == [
        ("Active", "true"),
        ("sort_ascending", "false"),
        ("limit", "10"),
        ("ids", "a,b"),
        ("resetDate", "2025-05-01T16:39:38.999504+00:00"),
        ("day", "2025-01-02"),
        ("nested[k]", "v"),
    ]


def test_strip_omitted_and_encode_json() -> None:
    body = {"a": 1, "b": omit, "c": None, "d": [1, NOT_GIVEN, {"e": omit, "f": "é"}]}
    assert strip_omitted(body) == {"a": 1, "c": None, "d": [1, {"f": "é"}]}
    when = datetime(2025, 1, 1, tzinfo=UTC)
    model = PropertiesResponse(request_id="7")
    assert encode_json({"t": when, "m": model, "s": {1}, "u": "é"}) == (
        '{"t":"2025-01-01T00:00:00+00:00","m":{"request_id":"7"},"s":[1],"u":"é"}'.encode()
    )
    with pytest.raises(TypeError, match="not JSON serializable"):
        encode_json({"x": object()})


def test_parse_custom_headers() -> None:
    text = "X-A: 1\r\nX-B:two: parts \n\nnocolon\n : empty-name\nX-C:"
    assert parse_custom_headers(text) == {"X-A": "1", "X-B": "two: parts", "X-C": ""}


def test_file_from_path(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_bytes(b"{}")
    assert file_from_path(path) == ("prices.json", b"{}")
