"""``jsonio.depth`` (the nesting bound on every client JSON) against a recursive reference, on any JSON value."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payi_server.jsonio import MAX_DEPTH, depth, loads

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=80,
)


def reference(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((reference(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((reference(v) for v in value), default=0)
    return 0


@settings(max_examples=500)
@given(json_values)
def test_depth_is_the_nesting_depth(value: Any) -> None:
    assert depth(value) == reference(value)


def _nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def test_loads_takes_max_depth_and_refuses_one_more() -> None:
    assert depth(loads(_nested(MAX_DEPTH))) == MAX_DEPTH
    with pytest.raises(orjson.JSONDecodeError):
        loads(_nested(MAX_DEPTH + 1))
    with pytest.raises(orjson.JSONDecodeError):
        loads(b'{"a": ' + _nested(500) + b"}")  # far past it: counting stops, nothing recurses
