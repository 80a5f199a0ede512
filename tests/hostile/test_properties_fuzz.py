"""Property-based: random values in every numeric and text field of an ingest body (single and bulk), in every
``xProxy-*`` header (on ingest and on the proxy) and in every numeric path id never get a 5xx, and never leave a
partial record: a refused request writes nothing (table row counts are compared), an accepted ingest writes
exactly its records and they read back.

Each run uses one app in-process and one event loop of its own (a sync test, as in ``tests/server/limits``), on
SQLite and PostgreSQL. ``PAYI_FUZZ_EXAMPLES`` sets the examples per property (default 60), ``PAYI_FUZZ_RANDOM=1``
draws new ones instead of the fixed, derandomized set.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from payi_server.app import create_app
from payi_server.state import AppState
from tests.conftest import make_settings
from tests.fakes.config import FakeConfig
from tests.fakes.serve import serve_app
from tests.fakes.upstream import FakeUpstream
from tests.fakes.upstream import create_app as create_fake

from .conftest import Answer, Tenants, add_tenants, asgi_call, assert_payi_error, row_counts
from .test_hostile_input import _set

EXAMPLES = int(os.environ.get("PAYI_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("PAYI_FUZZ_RANDOM"),
                database=None, suppress_health_check=list(HealthCheck))
_JSON = [(b"content-type", b"application/json")]
_PROXY = "/api/v1/proxy/openai/v1/chat/completions"
_CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "alpha beta"}]}

# --- values ----------------------------------------------------------------------------------------------------
_EDGES = [0, 1, -1, 2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**12, 10**12 + 1, 10**30, -(2**63)]
NUMBERS = st.one_of(
    st.sampled_from(_EDGES),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 5e-324, 0.5, 1e-11, 99.99, 1e9]),
    st.booleans(),
    st.sampled_from(["1", "1e3", "", "NaN", "١"]),
)
_LENGTHS = [1, 63, 64, 65, 99, 100, 101, 199, 200, 201, 299, 300, 301, 499, 500, 501, 2000, 10_000, 10_001]
TEXTS = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), max_size=40),  # NUL, controls, bidi, astral
    st.builds(lambda n, c: c * n, st.sampled_from(_LENGTHS), st.sampled_from(["x", "é", "\U0001f600", "\x00"])),
    st.sampled_from(["\ud800", "a\ud800b", "\x00", " ", "../../etc", "%00", "{", "system.openai"]),
)
_SCALARS = st.none() | st.booleans() | NUMBERS | TEXTS
JSON_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3), max_leaves=12
)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


ANY_VALUE = st.one_of(NUMBERS, TEXTS, JSON_VALUES, st.sampled_from([70, 300, 1100]).map(_nested))

_BASE: dict[str, Any] = {
    "category": "system.openai", "resource": "gpt-4o", "units": {"text": {"input": 3, "output": 1}},
    "end_to_end_latency_ms": 10, "time_to_first_token_ms": 5, "time_to_first_completion_token_ms": 6,
    "http_status_code": 200, "provider_response_id": None, "provider_uri": "https://api.openai.com/v1/",
    "provider_request_json": '{"a": 1}', "provider_request_reasoning_json": "r", "provider_response_json": ["c"],
    "properties": {"team": "a"}, "use_case_properties": {"step": "b"},
    "provider_request_headers": [{"name": "n", "value": "v"}], "provider_response_headers": [{"name": "n", "value": "v"}],
    "provider_response_function_calls": [{"name": "f", "arguments": "{}"}],
}
_BULK_EXTRA: dict[str, Any] = {
    "use_case_name": "uc.bulk", "use_case_id": "id-1", "use_case_version": 1, "use_case_step": "s", "user_id": "u",
    "account_name": "acc", "scope": "global", "resource_scope": "global", "price_as_category": "system.openai",
    "price_as_resource": "gpt-4o", "request_tags": ["t"], "limit_ids": ["l1"],
}
# Where a value can go: "a.b.0" paths into the body; "<key>" replaces a dict's key instead of its value.
_NUMERIC_FIELDS = [
    "units.text.input", "units.text.output", "units.text", "end_to_end_latency_ms", "time_to_first_token_ms",
    "time_to_first_completion_token_ms", "http_status_code",
]
_TEXT_FIELDS = [
    "category", "resource", "units.<key>", "provider_response_id", "provider_uri", "provider_request_json",
    "provider_request_reasoning_json", "provider_response_json", "provider_response_json.0", "properties.team",
    "properties.<key>", "use_case_properties.step", "use_case_properties.<key>", "provider_request_headers.0.name",
    "provider_request_headers.0.value", "provider_response_headers.0.value", "provider_response_function_calls.0.name",
    "provider_response_function_calls.0.arguments", "event_timestamp",
]
_BULK_NUMERIC = [*_NUMERIC_FIELDS, "use_case_version"]
_BULK_TEXT = [*_TEXT_FIELDS, *(f for f in _BULK_EXTRA if f != "use_case_version"), "request_tags.0", "limit_ids.0"]


def _changes(numeric: list[str], text: list[str]) -> st.SearchStrategy[list[tuple[str, Any]]]:
    """One to three fields changed: numbers into numeric fields, text into text fields, anything anywhere."""
    change = st.one_of(
        st.tuples(st.sampled_from(numeric), NUMBERS),
        st.tuples(st.sampled_from(text), TEXTS),
        st.tuples(st.sampled_from(numeric + text + ["properties", "units"]), ANY_VALUE),
    )
    return st.lists(change, min_size=1, max_size=3)


_XPROXY = [
    "xProxy-UseCase-Name", "xProxy-UseCase-ID", "xProxy-UseCase-Version", "xProxy-UseCase-Step", "xProxy-User-ID",
    "xProxy-Account-Name", "xProxy-Limit-IDs", "xProxy-Request-Tags", "xProxy-Request-Properties",
    "xProxy-UseCase-Properties", "xProxy-PriceAs-Category", "xProxy-PriceAs-Resource", "xProxy-RouteAs-Resource",
    "xProxy-Resource-Scope", "xProxy-Logging-Disable", "xProxy-Instrumented-Module", "xProxy-Experience-Name",
    "xProxy-Experience-ID",
]
_HEADER_TEXT = st.one_of(
    st.sampled_from([str(e) for e in _EDGES]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f"), min_size=1, max_size=80),
    NUMBERS.map(str),
    JSON_VALUES.map(lambda v: json.dumps(v)),
    st.sampled_from([70, 300, 1100]).map(lambda d: json.dumps(_nested(d))),
    st.sampled_from([70, 300, 1100]).map(lambda d: base64.b64encode(json.dumps(_nested(d)).encode()).decode()),
    st.builds(lambda n: "v" * n, st.sampled_from(_LENGTHS)),
)
HEADERS = st.dictionaries(st.sampled_from(_XPROXY), _HEADER_TEXT, min_size=1, max_size=4)


def _apply(body: Any, changes: list[tuple[str, Any]]) -> Any:
    for path, value in changes:
        if path.endswith("<key>") and not isinstance(value, str):
            value = str(value)
        try:
            body = _set(body, path, value)
        except (KeyError, IndexError, TypeError, AttributeError, StopIteration, ValueError):  # parent replaced before
            pass
    return body


def _encode(body: Any) -> bytes:
    try:
        return json.dumps(body).encode()  # ensure_ascii: a lone surrogate stays an escape
    except (RecursionError, ValueError):
        return b"{"


# --- the app ---------------------------------------------------------------------------------------------------
@dataclass
class Target:
    app: Any
    state: AppState
    tenants: Tenants
    fake: FakeUpstream
    runner: asyncio.Runner
    request_id: str

    def call(self, method: str, path: str, headers: list[tuple[bytes, bytes]] | None = None, body: bytes = b"",
             kind: str = "app") -> Answer:
        # Changes go to the other organisation's objects: a random id may name a real key or application, and
        # app A's key must keep working for the next example.
        key = self.tenants.app_a_key if kind == "app" else self.tenants.org_b_key
        raw = path.encode("utf-8", "surrogateescape")
        return self.runner.run(asgi_call(self.app, method, raw, [(b"xproxy-api-key", key.encode()), *(headers or [])], body))

    def counts(self) -> dict[str, int]:
        return self.runner.run(row_counts(self.state.db))

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> int:
        """The number of request records once it reaches ``count`` (the proxy records after it answers)."""

        async def wait() -> int:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while (seen := (await row_counts(self.state.db))["requests"]) < count and loop.time() < deadline:
                await asyncio.sleep(0.01)
            return seen

        return self.runner.run(wait())

    def secrets(self) -> list[str]:
        t = self.tenants
        return [t.org_a_key, t.app_a_key, t.app_b_key, t.org_b_key, t.app_c_key]


@pytest.fixture
def target(database_url: str, tmp_path: Path) -> Iterator[Target]:
    fake = create_fake(FakeConfig())
    with serve_app(fake) as fake_url, asyncio.Runner() as runner:
        app_settings = make_settings(database_url, tmp_path / "data", openai_base_url=f"{fake_url}/v1",
                                     allow_private_provider_hosts=False, max_body_bytes=1 << 20)
        app = create_app(app_settings)
        lifespan = app.router.lifespan_context(app)
        runner.run(lifespan.__aenter__())
        try:
            state: AppState = app.state.payi

            async def setup() -> Tenants:
                boot = await state.tenancy.bootstrap()
                assert boot is not None
                return await add_tenants(state.tenancy, state.db, boot.org_id, boot.org_key.plaintext,
                                         str(boot.app["app_id"]), boot.app_keys[0].plaintext)

            tenants = runner.run(setup())
            seeded = runner.run(asgi_call(app, "POST", b"/api/v1/ingest", [*_JSON, (b"xproxy-api-key",
                                          tenants.app_a_key.encode())], json.dumps(_BASE).encode()))
            assert seeded.status == 200, seeded.body
            yield Target(app, state, tenants, fake, runner, seeded.json()["request_id"])
        finally:
            runner.run(lifespan.__aexit__(None, None, None))


def _checked(target: Target, answer: Answer) -> int:
    assert answer.status < 500, (answer.status, answer.body[:400])
    assert b"Traceback" not in answer.body
    if answer.status >= 400:
        assert_payi_error(answer.status, answer.json(), *target.secrets())
    return answer.status


def _reads_back(target: Target, request_id: str) -> None:
    found = target.call("GET", f"/api/v1/requests/{request_id}/result")
    assert found.status == 200, found.body[:300]
    assert found.json()["xproxy_result"]["request_id"] == request_id


# --- the properties --------------------------------------------------------------------------------------------
def _ingest(target: Target, body: bytes, headers: dict[str, str]) -> None:
    sent = [(k.lower().encode(), v.encode("latin-1", "replace")) for k, v in headers.items()]
    before = target.counts()
    answer = target.call("POST", "/api/v1/ingest", [*_JSON, *sent], body)
    note(f"{answer.status} {answer.body[:300]!r}")
    if _checked(target, answer) >= 400:
        assert target.counts() == before
    else:  # a new record, or (a provider_response_id seen before) the original's answer
        result = answer.json()["xproxy_result"]
        assert target.counts()["requests"] == before["requests"] + (0 if result["duplicate_request"] else 1)
        _reads_back(target, answer.json()["request_id"])


def test_any_value_in_any_ingest_field(target: Target) -> None:
    @FUZZ
    @given(changes=_changes(_NUMERIC_FIELDS, _TEXT_FIELDS))
    @example(changes=[("end_to_end_latency_ms", 2**31)])  # the first fault found (a 503 on PostgreSQL)
    def single(changes: list[tuple[str, Any]]) -> None:
        _ingest(target, _encode(_apply(_BASE, changes)), {})

    single()


def test_any_xproxy_header_on_ingest(target: Target) -> None:
    @FUZZ
    @given(headers=HEADERS)
    def single(headers: dict[str, str]) -> None:
        _ingest(target, _encode(_BASE), headers)

    single()


def test_any_value_in_any_bulk_item_field(target: Target) -> None:
    good = {**_BASE, **_BULK_EXTRA}

    @FUZZ
    @given(changes=_changes(_BULK_NUMERIC, _BULK_TEXT))
    def bulk(changes: list[tuple[str, Any]]) -> None:
        items = [_apply(good, changes), good]
        before = target.counts()
        answer = target.call("POST", "/api/v1/ingest/bulk", _JSON, _encode(items))
        note(f"{answer.status} {answer.body[:300]!r}")
        if _checked(target, answer) >= 400:
            assert target.counts() == before
            return
        result = answer.json()
        assert result["ingest_count"] + result["error_count"] == 2, result
        for error in result["errors"]:
            assert error["xproxy_result"]["statusCode"] < 500, error
        # at most the accepted items (a provider_response_id seen before answers with the original)
        assert before["requests"] <= target.counts()["requests"] <= before["requests"] + result["ingest_count"]

    bulk()


def test_any_xproxy_header_on_the_proxy(target: Target) -> None:
    @FUZZ
    @given(headers=HEADERS)
    def proxied(headers: dict[str, str]) -> None:
        sent = [(k.lower().encode(), v.encode("latin-1", "replace")) for k, v in headers.items()]
        before, calls = target.counts(), target.fake.total
        answer = target.call("POST", _PROXY, [*_JSON, *sent], json.dumps(_CHAT).encode())
        note(f"{answer.status} {answer.body[:300]!r}")
        if _checked(target, answer) >= 400:
            assert target.fake.total == calls  # refused before the provider was called
            assert target.counts() == before
        else:  # recorded after the answer: the whole record arrives, once
            assert target.wait_for_requests(before["requests"] + 1) == before["requests"] + 1
            _reads_back(target, answer.json()["xproxy_result"]["request_id"])

    proxied()


_ID_ROUTES = [
    ("GET", "/api/v1/requests/{}/result", "app"),
    ("PUT", "/api/v1/requests/{}/properties", "app"),
    ("GET", "/api/v1/admin/applications/{}", "org"),
    ("PATCH", "/api/v1/admin/applications/{}", "org"),
    ("DELETE", "/api/v1/admin/applications/{}", "org"),
    ("POST", "/api/v1/admin/keys/{}/revoke", "org"),
    ("POST", "/api/v1/admin/applications/{}/keys/1/regenerate", "org"),
    ("GET", "/api/v1/limits/{}", "app"),
    ("GET", "/api/v1/categories/acme/resources/m1/{}", "app"),
    ("GET", "/api/v1/use_cases/instances/uc.a/{}", "app"),
]
_IDS = st.one_of(
    st.integers(0, 2**80).map(str),
    st.sampled_from([str(e) for e in _EDGES] + ["-1", "1e3", "0x10", "%C2%B3", "%D9%A1", "%00", "..", "%2F", " 1"]),
    st.text(st.characters(min_codepoint=0x30, max_codepoint=0x7A), min_size=1, max_size=25),
)


def test_any_numeric_path_id(target: Target) -> None:
    @FUZZ
    @given(route=st.sampled_from(_ID_ROUTES), value=_IDS)
    @example(route=_ID_ROUTES[0], value=str(2**63))  # the first fault found (OverflowError on SQLite)
    def by_id(route: tuple[str, str, str], value: str) -> None:
        method, template, kind = route
        body = b'{"properties": {"a": "b"}}' if method == "PUT" else b"{}" if method == "PATCH" else b""
        before = target.counts()
        answer = target.call(method, template.format(value), _JSON, body, kind=kind)
        note(f"{answer.status} {answer.body[:300]!r}")
        if _checked(target, answer) >= 400:
            assert target.counts() == before

    by_id()
    _reads_back(target, target.request_id)
