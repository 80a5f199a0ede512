"""Small pure helpers: URL path templating, query and body encoding, header parsing.

Example:
    >>> from payi._utils import path_template
    >>> path_template("/api/v1/categories/{category}/resources/{resource}", category="system.openai", resource="a/b:c")
    '/api/v1/categories/system.openai/resources/a%2Fb:c'
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pydantic

from ._types import NotGiven, Omit

__all__ = [
    "encode_json",
    "file_from_path",
    "is_given",
    "parse_custom_headers",
    "path_template",
    "query_items",
    "strip_omitted",
]

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_DOT_SEGMENT = re.compile(r"^(?:\.|%2[eE]){1,2}$")


def is_given(value: object) -> bool:
    """False for the ``omit`` / ``NOT_GIVEN`` sentinels, True for anything else (``None`` included)."""
    return not isinstance(value, (NotGiven, Omit))


def path_template(template: str, /, **values: str) -> str:
    """Fill ``{name}`` placeholders, percent-encoding each value as one path segment (RFC 3986 ``pchar``).

    ``/`` is encoded, ``:`` and ``@`` are not. Empty values and ``.``/``..`` segments are rejected, as in the
    official SDK.
    """

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        value = values[name]
        if not value:
            raise ValueError(f"Expected a non-empty value for `{name}` but received {value!r}")
        return quote(str(value), safe="!$&'()*+,;=:@")

    path = _PLACEHOLDER.sub(fill, template)
    for segment in path.split("/"):
        if _DOT_SEGMENT.match(segment):
            raise ValueError(
                f"Constructed path {path!r} contains dot-segment {segment!r} which is not allowed"
            )
    return path


def _query_value(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def query_items(params: Mapping[str, object]) -> list[tuple[str, str]]:
    """Encode query parameters the Pay-i way: arrays comma-joined, booleans ``true``/``false``, datetimes ISO-8601.

    ``None``, empty and omitted values are dropped; mappings become ``key[sub]=...``.
    """
    items: list[tuple[str, str]] = []
    for key, value in params.items():
        if not is_given(value):
            continue
        if isinstance(value, Mapping):
            items.extend(query_items({f"{key}[{sub}]": subvalue for sub, subvalue in value.items()}))
            continue
        if isinstance(value, (list, tuple)):
            text = ",".join(_query_value(item) for item in value if item is not None)
        else:
            text = _query_value(value)
        if text:
            items.append((key, text))
    return items


def strip_omitted(value: Any) -> Any:
    """Drop ``omit`` / ``NOT_GIVEN`` values from (nested) mappings and lists; everything else is kept."""
    if isinstance(value, Mapping):
        return {key: strip_omitted(item) for key, item in value.items() if is_given(item)}
    if isinstance(value, (list, tuple)):
        return [strip_omitted(item) for item in value if is_given(item)]
    return value


def _json_default(value: object) -> object:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode_json(value: object) -> bytes:
    """Compact UTF-8 JSON; datetimes as ISO-8601, pydantic models by alias."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode("utf-8")


def parse_custom_headers(text: str) -> dict[str, str]:
    """Parse ``PAYI_CUSTOM_HEADERS``: one ``Name: value`` per line, split at the first colon, lines without one ignored."""
    headers: dict[str, str] = {}
    for line in text.splitlines():
        name, colon, value = line.partition(":")
        if colon and name.strip():
            headers[name.strip()] = value.strip()
    return headers


def file_from_path(path: str | os.PathLike[str]) -> tuple[str, bytes]:
    """Read a file into the ``(file name, content)`` pair that multipart uploads take.

    Example:
        >>> from payi import file_from_path
        >>> # name, content = file_from_path("prices.json")
    """
    file = Path(path)
    return file.name, file.read_bytes()
