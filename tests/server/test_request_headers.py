"""Reading request headers in one pass, checked against the per-header rules it replaces, for any bytes: the
header check (``middleware.body_limit._header_fault``: at most 256 headers and 64 KiB of names and values; RFC 9110
token names; no NUL, CR or LF in values) and the
attribution headers (``metering.attribution.xproxy_headers`` against Starlette's ``Headers.get``)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from payi_server.middleware import body_limit
from payi_server.middleware.body_limit import _header_fault

_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD = re.compile(rb"[\x00\r\n]")

header_bytes = st.binary(max_size=6) | st.sampled_from([b"a", b"x-y", b"", b":", b"a:b", b"\t", b"ok", b"a\nb"])


@settings(max_examples=2000)
@given(st.lists(st.tuples(header_bytes, header_bytes), max_size=6))
def test_joined_check_refuses_exactly_what_the_per_header_rule_refuses(headers: list[tuple[bytes, bytes]]) -> None:
    expected = any(not _TOKEN.fullmatch(name) or _BAD.search(value) for name, value in headers)
    assert _header_fault(headers) == ("invalid" if expected else None)


@settings(max_examples=500)
@given(st.lists(st.tuples(st.binary(min_size=1, max_size=40), st.binary(max_size=40)), max_size=12),
       st.integers(min_value=0, max_value=300), st.integers(min_value=0, max_value=12))
def test_size_rules_count_each_name_and_value_once(
    headers: list[tuple[bytes, bytes]], max_bytes: int, max_headers: int
) -> None:
    """Too many headers, or names and values over the byte limit (separators not counted), is ``too_large`` before
    anything else; joined once, the count is the per-header sum."""
    saved = body_limit.MAX_HEADER_BYTES, body_limit.MAX_HEADERS
    body_limit.MAX_HEADER_BYTES, body_limit.MAX_HEADERS = max_bytes, max_headers
    try:
        too_large = len(headers) > max_headers or sum(len(n) + len(v) for n, v in headers) > max_bytes
        fault = _header_fault(headers)
        assert (fault == "too_large") == too_large
    finally:
        body_limit.MAX_HEADER_BYTES, body_limit.MAX_HEADERS = saved


@given(st.lists(st.tuples(st.sampled_from([b"xproxy-user-id", b"xproxy-limit-ids", b"x-other", b"xproxy-"]),
                          st.binary(max_size=4)), max_size=8))
def test_xproxy_headers_match_starlettes_lookup(raw: list[tuple[bytes, bytes]]) -> None:
    """The one-pass reading of the attribution headers gives what ``Headers.get`` gives for every name."""
    from starlette.datastructures import Headers

    from payi_server.metering.attribution import xproxy_headers

    found = xproxy_headers(raw)
    headers = Headers(raw=raw)
    for name in ("xproxy-user-id", "xproxy-limit-ids", "xproxy-", "x-other", "xproxy-account-name"):
        assert found.get(name) == (headers.get(name) if name.startswith("xproxy-") else None)


def test_limit_ids_parsed_once_are_given_fresh_and_bad_ones_always_refused() -> None:
    """``parse_limit_ids`` remembers a header value's ids: each call gets its own list (a caller may change it),
    and a value it refused is refused again (refusals are not remembered)."""
    from payi_server.errors import ApiError
    from payi_server.metering.attribution import parse_limit_ids

    first = parse_limit_ids(" a, b ,a,,c ")
    assert first == ["a", "b", "c"]
    first.append("changed")
    assert parse_limit_ids(" a, b ,a,,c ") == ["a", "b", "c"]
    assert parse_limit_ids(" a, b ,a,,c ") is not parse_limit_ids(" a, b ,a,,c ")
    for _ in range(2):
        try:
            parse_limit_ids("x" * 101)
        except ApiError as exc:
            assert exc.code == "invalid_limit_id"
        else:
            raise AssertionError("an over-long limit id was accepted")
