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
    """How deeply a parsed JSON value nests (a scalar is 0, ``[]`` is 1), without recursion; counting stops past
    ``MAX_DEPTH``. Level by level, each in one comprehension: a bulk ingest of 1,000 events walks 4,000 containers."""
    if not isinstance(value, (dict, list)):
        return 0
    level, current = 0, [value]
    while current:
        level += 1
        if level > MAX_DEPTH:
            break
        current = [
            child
            for item in current
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, (dict, list))
        ]
    return level


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
