"""JSON encoding for responses: orjson, with datetimes as ISO-8601 and Decimals as JSON numbers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import JSONResponse


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


MAX_DEPTH = 64
"""The deepest nesting a request's JSON may have (body or header). orjson reads 1024 levels but writes only 254,
and Python code walking a value recurses: a properties header nested 500 deep was a 500 (RecursionError)."""


def depth(value: Any) -> int:
    """How deeply a parsed JSON value nests (a scalar is 0, ``[]`` is 1), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        level += 1
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        stack.extend((child, level) for child in item if isinstance(child, (dict, list)))
    return deepest


def loads(raw: bytes | str) -> Any:
    """Strict JSON from a client (orjson: no NaN, no lone surrogates), at most ``MAX_DEPTH`` deep; else
    ``orjson.JSONDecodeError``."""
    value = orjson.loads(raw)
    if isinstance(value, (dict, list)) and depth(value) > MAX_DEPTH:
        raise orjson.JSONDecodeError(f"JSON nested deeper than {MAX_DEPTH} levels", "", 0)
    return value


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=orjson.OPT_UTC_Z)


class ORJSONResponse(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
