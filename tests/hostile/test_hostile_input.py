"""Hostile input against the REST API and the proxy: oversized bodies and headers, malformed JSON, wrong types,
deep nesting, NUL bytes and odd unicode in every string field and path segment, path traversal, header
injection through ``xProxy-*`` values, and SSRF through ``xProxy-Provider-BaseUri`` (private ranges, odd IP
spellings, userinfo tricks, a DNS name that resolves to loopback, redirects from the upstream).

Every case must end in a clear 4xx with the Pay-i error body (never a 5xx or a traceback), write nothing (table
row counts are compared), and echo no key. Requests go into the ASGI app directly where a real HTTP parser would
refuse the bytes (CR/LF/NUL in headers), through the in-process client otherwise, and to a real port for the
proxy fuzz (``proxy_env``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payi_server.app import create_app
from payi_server.auth.dependency import route_table
from payi_server.settings import Settings
from payi_server.state import AppState
from tests.conftest import make_settings
from tests.fakes.config import FakeConfig
from tests.fakes.serve import serve_app
from tests.fakes.upstream import FakeUpstream
from tests.fakes.upstream import create_app as create_fake

from ..server.proxy.conftest import ProxyEnv
from .conftest import (
    Answer,
    Canary,
    Redirector,
    Tenants,
    add_tenants,
    asgi_call,
    assert_payi_error,
    row_counts,
)

MESSAGES = [{"role": "user", "content": "alpha beta gamma"}]
CHAT = {"model": "gpt-4o-mini", "messages": MESSAGES}
MAX_BODY = 4096
PROXY_MAX_BODY = 8192


@dataclass
class Hostile:
    app: Any
    state: AppState
    settings: Settings
    client: httpx2.AsyncClient
    tenants: Tenants
    fake: FakeUpstream
    fake_url: str
    canary: Canary
    canary_url: str
    redirector: Redirector

    def key(self, kind: str) -> str:
        return self.tenants.app_a_key if kind == "app" else self.tenants.org_a_key

    def headers(self, kind: str = "app", **extra: str) -> dict[str, str]:
        return {"xProxy-api-key": self.key(kind), **extra}

    async def call(self, method: str, raw_path: bytes | str, headers: list[tuple[bytes, bytes]] | None = None,
                   body: bytes = b"", kind: str = "app", **kw: Any) -> Answer:
        path = raw_path.encode() if isinstance(raw_path, str) else raw_path
        path, _, query = path.partition(b"?")
        sent = [(b"xproxy-api-key", self.key(kind).encode())] if kind in ("app", "org") else []
        sent += headers or []
        return await asgi_call(self.app, method, path, sent, body, query=query, **kw)

    def secrets(self) -> list[str]:
        t = self.tenants
        return [t.org_a_key, t.app_a_key, t.app_b_key, t.org_b_key, t.app_c_key]


@pytest.fixture
async def hostile(database_url: str, tmp_path: Path) -> AsyncIterator[Hostile]:
    """Our app in-process (small body limits, private upstreams refused, any host name allowed by pattern so the
    address checks are what stands), a fake OpenAI upstream (the operator's trusted base URL), a canary service
    that must never be reached, and an Anthropic base URL that redirects to the canary."""
    fake = create_fake(FakeConfig(stream_chunks=2))
    canary = Canary()
    with serve_app(fake) as fake_url, serve_app(canary, lifespan="off") as canary_url:
        redirector = Redirector(f"{canary_url}/latest/meta-data/iam")
        with serve_app(redirector, lifespan="off") as redirect_url:
            settings = make_settings(
                database_url,
                tmp_path / "data",
                openai_base_url=f"{fake_url}/v1",
                anthropic_base_url=redirect_url,
                allow_private_provider_hosts=False,
                provider_hosts=("*",),
                max_body_bytes=MAX_BODY,
                proxy_max_body_bytes=PROXY_MAX_BODY,
                upstream_timeout=5.0,
                upstream_connect_timeout=2.0,
                disconnect_drain_timeout=1.0,
            )
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                state: AppState = app.state.payi
                boot = await state.tenancy.bootstrap()
                assert boot is not None
                tenants = await add_tenants(
                    state.tenancy, state.db, boot.org_id, boot.org_key.plaintext, str(boot.app["app_id"]),
                    boot.app_keys[0].plaintext,
                )
                transport = httpx2.ASGITransport(app=app)
                async with httpx2.AsyncClient(transport=transport, base_url="http://payi.test") as client:
                    yield Hostile(app, state, settings, client, tenants, fake, fake_url, canary, canary_url, redirector)


async def refused(env: Hostile, answer: Answer | httpx2.Response, *codes: str) -> dict[str, Any]:
    """A clear 4xx with the Pay-i body (no key in it), optionally with one of ``codes``."""
    status = answer.status if isinstance(answer, Answer) else answer.status_code
    body = answer.json()
    assert 400 <= status < 500, (status, body)
    assert_payi_error(status, body, *env.secrets())
    if codes:
        assert body["xproxy_error"]["code"] in codes, body
    return body  # type: ignore[no-any-return]


def not_5xx(env: Hostile, answer: Answer | httpx2.Response) -> int:
    status = answer.status if isinstance(answer, Answer) else answer.status_code
    raw = answer.body if isinstance(answer, Answer) else answer.content
    assert status < 500, (status, raw[:500])
    assert b"Traceback" not in raw
    if status >= 400:
        assert_payi_error(status, answer.json(), *env.secrets())
    return status


# --- regressions found by the fuzz run (each one failed before its fix) -------------------------------------
async def test_huge_or_negative_limit_amounts_are_refused_not_crashing(hostile: Hostile) -> None:
    """``max`` beyond the decimal context (e.g. -5.5e91) raised ``decimal.InvalidOperation``: a 500."""
    before = await row_counts(hostile.state.db)
    for amount in (-5.518463818598558e91, -1e300, 1e300, 5e-300, -1e-300):
        response = await hostile.client.post(
            "/api/v1/limits", json={"limit_name": "big", "max": amount}, headers=hostile.headers()
        )
        await refused(hostile, response, "invalid_max_limit")
        response = await hostile.client.post(
            "/api/v1/use_cases/definitions",
            json={"name": "uc.big", "description": "d", "limit_config": {"max": amount}},
            headers=hostile.headers(),
        )
        await refused(hostile, response, "invalid_max_limit", "create_limit_validation_failed")
    assert await row_counts(hostile.state.db) == before
    created = await hostile.client.post("/api/v1/limits", json={"limit_name": "ok", "max": 5}, headers=hostile.headers())
    limit_id = created.json()["limit"]["limit_id"]
    response = await hostile.client.put(f"/api/v1/limits/{limit_id}", json={"max": -2.6e163}, headers=hostile.headers())
    await refused(hostile, response, "invalid_max_limit")
    response = await hostile.client.post(
        "/api/v1/use_cases/definitions/uc.none/limit_config", json={"max": -2.6e163}, headers=hostile.headers()
    )
    await refused(hostile, response)


async def test_date_times_must_be_iso_text_not_numbers(hostile: Hostile) -> None:
    """A number given for a date-time was read as seconds (or milliseconds) since 1970: a key created already
    expired from ``{"expires_at": 1302914.46}``. Date-times are ISO-8601 text."""
    org = hostile.headers("org")
    before = await row_counts(hostile.state.db)
    for value in (1302914.4606160729, -1.47e-10, 0, 1700000000):
        await refused(hostile, await hostile.client.post("/api/v1/admin/org-keys", json={"expires_at": value}, headers=org))
        await refused(
            hostile,
            await hostile.client.post(
                "/api/v1/categories/acme/resources/m1",
                json={"units": {"text": {"input_price": 1e-6}}, "start_timestamp": value},
                headers=org,
            ),
        )
        await refused(
            hostile,
            await hostile.client.post(
                "/api/v1/ingest",
                json={"category": "system.openai", "resource": "gpt-4o", "units": {"text": {"input": 1}},
                      "event_timestamp": value},
                headers=hostile.headers(),
            ),
        )
    assert await row_counts(hostile.state.db) == before
    ok = await hostile.client.post("/api/v1/admin/org-keys", json={"expires_at": "2999-01-01T00:00:00Z"}, headers=org)
    assert ok.status_code == 201


async def test_bulk_ingest_refuses_a_json_null_body(hostile: Hostile) -> None:
    """No body at all means "no events" (the SDK sends none); a JSON ``null`` is not an array of events."""
    answer = await hostile.call("POST", "/api/v1/ingest/bulk", [(b"content-type", b"application/json")], b"null")
    await refused(hostile, answer, "invalid_json")
    empty = await hostile.call("POST", "/api/v1/ingest/bulk", [(b"content-type", b"application/json")])
    assert empty.status == 200 and empty.json()["ingest_count"] == 0


# --- sizes -----------------------------------------------------------------------------------------------------
_JSON = [(b"content-type", b"application/json")]
_OVERSIZED = [
    ("POST", "/api/v1/ingest", "app", MAX_BODY),
    ("POST", "/api/v1/ingest/bulk", "app", MAX_BODY),
    ("POST", "/api/v1/admin/applications", "org", MAX_BODY),
    ("POST", "/api/v1/limits", "app", MAX_BODY),
    ("PUT", "/api/v1/requests/1/properties", "app", MAX_BODY),
    ("POST", "/api/v1/proxy/openai/v1/chat/completions", "app", PROXY_MAX_BODY),
]


async def test_oversized_bodies_are_refused_with_413(hostile: Hostile) -> None:
    """Declared too long, streamed without a length, or longer than declared; and lengths that are not lengths
    (a negative one reached the proxy, which forwarded the body)."""
    before = await row_counts(hostile.state.db)
    for method, path, kind, limit in _OVERSIZED:
        body = json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES, "pad": "x" * (limit + 1)}).encode()
        declared = await hostile.call(method, path, _JSON, body, kind=kind)
        await refused(hostile, declared, "request_too_large")
        streamed = await hostile.call(method, path, _JSON, body, kind=kind, chunked=True)  # no Content-Length
        await refused(hostile, streamed, "request_too_large")
        lying = await hostile.call(method, path, [*_JSON, (b"content-length", b"10")], body, kind=kind, chunked=True)
        await refused(hostile, lying, "request_too_large")
        for bad in (b"-1", b"abc", b"99999999999999999999999999", b"1e3", b" 5", b"+5"):
            answer = await hostile.call(method, path, [*_JSON, (b"content-length", bad)], b"{}", kind=kind, chunked=True)
            await refused(hostile, answer)
    assert hostile.fake.total == 0
    assert await row_counts(hostile.state.db) == before


async def test_very_long_and_very_many_headers(hostile: Hostile) -> None:
    event = json.dumps({"category": "system.openai", "resource": "gpt-4o", "units": {"text": {"input": 1}}}).encode()
    before = await row_counts(hostile.state.db)
    long_value = b"v" * 100_000
    for name in (b"xproxy-usecase-name", b"xproxy-user-id", b"xproxy-account-name", b"xproxy-limit-ids",
                 b"xproxy-request-properties", b"xproxy-usecase-properties", b"xproxy-request-tags",
                 b"xproxy-usecase-id", b"xproxy-usecase-step", b"xproxy-resource-scope", b"xproxy-priceas-resource",
                 b"xproxy-priceas-category", b"xproxy-usecase-version"):
        answer = await hostile.call("POST", "/api/v1/ingest", [*_JSON, (name, long_value)], event)
        await refused(hostile, answer)
        proxied = await hostile.call(
            "POST", "/api/v1/proxy/openai/v1/chat/completions", [*_JSON, (name, long_value)], json.dumps(CHAT).encode()
        )
        await refused(hostile, proxied)
    key = await hostile.call("GET", "/api/v1/whoami", [(b"xproxy-api-key", b"k" * 100_000)], kind="none")
    await refused(hostile, key, "request_header_fields_too_large")
    key = await hostile.call("GET", "/api/v1/whoami", [(b"xproxy-api-key", b"k" * 10_000)], kind="none")
    await refused(hostile, key, "invalid_api_key")
    many = [(f"x-junk-{i}".encode(), b"y" * 10) for i in range(2000)]
    for path in ("/api/v1/ingest", _PROXY):
        answer = await hostile.call("POST", path, [*_JSON, *many], event)
        await refused(hostile, answer, "request_header_fields_too_large")
    assert await row_counts(hostile.state.db) == before
    assert hostile.fake.total == 0
    some = [(f"x-junk-{i}".encode(), b"y" * 100) for i in range(200)]  # under the caps: served
    answer = await hostile.call("POST", "/api/v1/ingest", [*_JSON, *some], event)
    assert answer.status == 200, answer.body[:300]


def test_headers_over_the_caps_through_a_real_port(live: Any) -> None:
    """uvicorn's httptools parser takes headers of any size and number: a megabyte-long value or thousands of
    headers reached the routes (whoami answered 200). They are refused with 431 and the Pay-i body."""
    key = live.app_key
    with httpx2.Client(base_url=live.url, timeout=10) as client:
        long_value = client.get("/api/v1/whoami", headers={"xProxy-api-key": key, "xProxy-UseCase-Name": "v" * 1_000_000})
        many = client.get("/api/v1/whoami", headers={"xProxy-api-key": key, **{f"x-j{i}": "y" for i in range(5000)}})
        for response in (long_value, many):
            assert response.status_code == 431, response.text[:200]
            assert_payi_error(431, response.json(), key)
        assert client.get("/api/v1/whoami", headers={"xProxy-api-key": key}).status_code == 200


# --- malformed JSON, wrong types, deep nesting ------------------------------------------------------------------
_JSON_ROUTES = [
    ("POST", "/api/v1/ingest", "app"),
    ("POST", "/api/v1/ingest/bulk", "app"),
    ("POST", "/api/v1/admin/applications", "org"),
    ("POST", "/api/v1/admin/org-keys", "org"),
    ("POST", "/api/v1/limits", "app"),
    ("POST", "/api/v1/use_cases/definitions", "app"),
    ("POST", "/api/v1/categories/acme/resources/m1", "org"),
    ("PUT", "/api/v1/requests/1/properties", "app"),
]
_MALFORMED = [
    b"{", b"}", b"[", b'{"a":}', b"{'a': 1}", b"nul", b"\xff\xfe\x00", b'{"a": NaN}', b'{"a": Infinity}',
    b'{"a": 1} trailing', b'"\\ud800"', b'{"\\ud800": 1}', b"\x00", b"\xef\xbb\xbf{}",
]
_WRONG_TOP = [b"[]", b'"text"', b"1", b"true", b"null"]
# Per route: bodies whose fields have the wrong types (each must be refused).
_WRONG_FIELDS: dict[str, list[bytes]] = {
    "/api/v1/ingest": [b'{"category": 5, "units": {"text": {"input": 1}}}', b'{"category": "system.openai", "units": []}',
                       b'{"category": "system.openai", "units": {"text": {"input": "many"}}}',
                       b'{"category": "system.openai", "units": {"text": {"input": -1}}}',
                       b'{"category": "system.openai", "units": {}, "properties": "x"}'],
    "/api/v1/admin/applications": [b'{"name": 1}', b'{"name": ["a"]}', b'{"name": "a", "store_prompts": "yes please"}',
                                   b'{"name": "a2", "store_prompts": 1}', b'{"name": "a3", "store_prompts": "yes"}',
                                   b'{"name": null}', b'{"name": "a", "surprise": 1}'],
    "/api/v1/admin/org-keys": [b'{"label": 1}', b'{"expires_at": "tomorrow"}', b'{"expires_at": [1]}'],
    "/api/v1/limits": [b'{"limit_name": ["a"], "max": 1}', b'{"limit_name": "a", "max": {"a": 1}}',
                       b'{"limit_name": "a", "max": "lots"}', b'{"limit_name": "a", "max": 1, "properties": "x"}',
                       b'{"limit_name": "a", "max": 1, "limit_tags": "x"}', b'{"limit_name": "a", "max": true}'],
    "/api/v1/use_cases/definitions": [b'{"name": 1, "description": "d"}', b'{"name": "a", "description": 5}',
                                      b'{"name": "a", "description": "d", "limit_config": []}',
                                      b'{"name": "a", "description": "d", "logging_enabled": 0}',
                                      b'{"name": "a", "description": "d", "logging_enabled": "false"}'],
    "/api/v1/categories/acme/resources/m1": [b'{"units": []}', b'{"units": {"text": {"input_price": "cheap"}}}',
                                             b'{"units": {"text": {"input_price": -1}}}', b'{"units": {"text": 5}}',
                                             b'{"units": {}, "proxy_allowed": "yes"}', b'{"units": {}, "character_billing": 1}'],
    "/api/v1/requests/1/properties": [b'{"properties": "x"}', b'{"properties": []}'],
}


def _deep(depth: int) -> list[bytes]:
    return [b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth,
            b'{"properties": ' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"]


async def test_malformed_json_wrong_types_and_deep_nesting(hostile: Hostile) -> None:
    """Lone surrogates and NaN got through the standard library's JSON reader (then a 500 at the database),
    booleans were read as numbers (``{"max": true}`` made a $1 limit) and numbers or words as booleans
    (``{"logging_enabled": 0}``, ``{"store_prompts": "yes"}``; found by a random fuzz run)."""
    for method, path, kind in _JSON_ROUTES:
        before = await row_counts(hostile.state.db)
        for body in _MALFORMED + _WRONG_TOP + _WRONG_FIELDS.get(path, []) + _deep(100_000):
            answer = await hostile.call(method, path, _JSON, body, kind=kind)
            status = not_5xx(hostile, answer)
            if path.endswith("/bulk") and status == 200:
                assert answer.json()["ingest_count"] == 0  # every item refused on its own
            elif body.startswith(b"\xef\xbb\xbf"):
                pass  # JSON after a UTF-8 byte-order mark may be read as JSON
            else:
                assert status >= 400, (path, body[:80], answer.body[:200])
        if "org-keys" not in path:  # a BOM-prefixed `{}` is a valid org-key request
            assert await row_counts(hostile.state.db) == before, path


# --- NUL bytes and odd unicode in every string field ------------------------------------------------------------
NASTY_TEXT = [
    "a\x00b", "\ud800", "line\r\nInjected: 1", "\u202egnp.exe\ufeff", "\U0001f469\u200d\U0001f469\u200d\U0001f467e\u0301",
    "x" * 20_000, "' OR 1=1 --", "../../etc/%00passwd",
]


def _set(body: Any, dotted: str, value: Any) -> Any:
    """A copy of ``body`` with the field at ``a.b.0`` set to ``value`` (``a.<key>`` renames a dict key)."""
    body = json.loads(json.dumps(body))
    *parents, last = dotted.split(".")
    node = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if last == "<key>":
        old = next(iter(node))
        node[value] = node.pop(old)
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return body


_INGEST = {
    "category": "system.openai", "resource": "gpt-4o", "units": {"text": {"input": 3, "output": 1}},
    "provider_response_id": "resp-1", "provider_uri": "https://api.openai.com/v1/",
    "provider_request_json": '{"a": 1}', "provider_request_reasoning_json": "r", "provider_response_json": ["c1", "c2"],
    "properties": {"team": "a"}, "use_case_properties": {"step": "b"},
    "provider_request_headers": [{"name": "n", "value": "v"}], "provider_response_headers": [{"name": "n", "value": "v"}],
    "provider_response_function_calls": [{"name": "f", "arguments": "{}"}],
}
_BULK_ITEM = {
    **_INGEST, "use_case_name": "uc.bulk", "use_case_id": "id-1", "use_case_step": "s", "user_id": "u",
    "account_name": "acc", "scope": "global", "price_as_resource": "gpt-4o", "request_tags": ["t"], "limit_ids": [],
}
# (method, path, key kind, body, string fields). Paths use ids made by `_objects`.
_STRING_FIELDS: list[tuple[str, str, str, Any, list[str]]] = [
    ("POST", "/api/v1/admin/applications", "org", {"name": "n", "description": "d"}, ["name", "description"]),
    ("PATCH", "/api/v1/admin/applications/{app_a}", "org", {"description": "d"}, ["description"]),
    ("POST", "/api/v1/admin/org-keys", "org", {"label": "l"}, ["label"]),
    ("POST", "/api/v1/limits", "app",
     {"limit_name": "n", "max": 1, "limit_id": "lid-x", "limit_type": "allow", "enforcement": "default",
      "period": "day", "timezone": "UTC", "properties": {"k": "v"}, "limit_tags": ["t"]},
     ["limit_name", "limit_id", "limit_type", "enforcement", "period", "timezone", "properties.k",
      "properties.<key>", "limit_tags.0"]),
    ("PUT", "/api/v1/limits/{limit}", "app", {"limit_name": "n"}, ["limit_name"]),
    ("PUT", "/api/v1/limits/{limit}/properties", "app", {"properties": {"k": "v"}}, ["properties.k", "properties.<key>"]),
    ("POST", "/api/v1/use_cases/definitions", "app", {"name": "uc.n", "description": "d"}, ["name", "description"]),
    ("PUT", "/api/v1/use_cases/definitions/uc.a", "app", {"description": "d"}, ["description"]),
    ("POST", "/api/v1/use_cases/definitions/uc.a/kpis", "app",
     {"name": "k2", "description": "d", "goal": 1, "kpi_type": "number"}, ["name", "description", "kpi_type"]),
    ("PUT", "/api/v1/use_cases/definitions/uc.a/kpis/k1", "app", {"description": "d"}, ["description"]),
    ("PUT", "/api/v1/use_cases/instances/uc.a/{instance}/properties", "app", {"properties": {"k": "v"}},
     ["properties.k", "properties.<key>"]),
    ("POST", "/api/v1/categories/acme/resources/m2", "org",
     {"units": {"text": {"input_price": 1e-6}}, "description": "d", "reservation_id": "r"},
     ["description", "reservation_id", "units.<key>"]),
    ("PUT", "/api/v1/requests/{request}/properties", "app", {"properties": {"k": "v"}}, ["properties.k", "properties.<key>"]),
    ("POST", "/api/v1/ingest", "app", _INGEST,
     ["category", "resource", "provider_response_id", "provider_uri", "provider_request_json",
      "provider_request_reasoning_json", "provider_response_json.0", "properties.team", "properties.<key>",
      "use_case_properties.step", "provider_request_headers.0.name", "provider_request_headers.0.value",
      "provider_response_function_calls.0.name", "units.<key>"]),
    ("POST", "/api/v1/ingest/bulk", "app", [_BULK_ITEM],
     ["0.use_case_name", "0.use_case_id", "0.use_case_step", "0.user_id", "0.account_name", "0.scope",
      "0.price_as_resource", "0.request_tags.0", "0.resource", "0.provider_response_id", "0.provider_request_json"]),
]


async def _objects(env: Hostile) -> dict[str, str]:
    """A limit, a use case with a KPI and an instance, a priced custom resource and a recorded request in app A."""
    h, org = env.headers(), env.headers("org")
    c = env.client
    await c.patch(f"/api/v1/admin/applications/{env.tenants.app_a}", json={"store_prompts": True}, headers=org)
    await env.state.changes.poll_once()
    limit = (await c.post("/api/v1/limits", json={"limit_name": "base", "max": 10}, headers=h)).json()["limit"]["limit_id"]
    assert (await c.post("/api/v1/use_cases/definitions", json={"name": "uc.a", "description": "d"}, headers=h)).status_code == 201
    kpi = {"name": "k1", "description": "d", "goal": 1, "kpi_type": "number"}
    assert (await c.post("/api/v1/use_cases/definitions/uc.a/kpis", json=kpi, headers=h)).status_code == 201
    instance = (await c.post("/api/v1/use_cases/instances/uc.a", headers=h)).json()["use_case_id"]
    priced = await c.post("/api/v1/categories/acme/resources/m1", json={"units": {"text": {"input_price": 1e-6}}}, headers=org)
    assert priced.status_code == 200
    recorded = await c.post("/api/v1/ingest", json={**_INGEST, "provider_response_id": "seed"}, headers=h)
    assert recorded.status_code == 200, recorded.text
    return {"app_a": env.tenants.app_a, "limit": limit, "instance": instance,
            "request": recorded.json()["request_id"]}


async def test_nul_bytes_and_odd_unicode_in_every_string_field(hostile: Hostile) -> None:
    ids = await _objects(hostile)
    counts = await row_counts(hostile.state.db)
    for method, template, kind, base, fields in _STRING_FIELDS:
        path = template.format(**ids)
        for field in fields:
            for text in NASTY_TEXT:
                body = json.dumps(_set(base, field, text)).encode()  # ensure_ascii: "\ud800" stays an escape
                answer = await hostile.call(method, path, _JSON, body, kind=kind)
                status = not_5xx(hostile, answer)
                if status == 200 and path.endswith("/bulk"):
                    assert answer.json()["ingest_count"] + answer.json()["error_count"] == 1
                if status >= 400:
                    assert await row_counts(hostile.state.db) == counts, (method, path, field, text[:20])
                else:
                    counts = await row_counts(hostile.state.db)
    # The request log still reads back (nothing stored that breaks the readers).
    for url in ("/api/v1/limits", "/api/v1/use_cases/definitions", "/api/v1/admin/applications", "/api/v1/admin/keys",
                "/api/v1/categories/acme/resources", f"/api/v1/requests/{ids['request']}/result"):
        kind = "org" if "/admin/" in url or "categories" in url else "app"
        assert (await hostile.call("GET", url, kind=kind)).status == 200, url


# --- path segments: NUL, traversal, odd encodings, in every path parameter of every route -----------------------
NASTY_SEGMENTS = [
    "%00", "a%00b", "..", "%2e%2e", "%2E%2E", "..%2F..%2Fadmin%2Fapplications", "%2F", "%2F%2F", "a%2Fb",
    "%C0%AE%C0%AE", "%FF%FE", "%ED%A0%80", "%F0%9F%92%A9", "%E2%80%AE", "%0D%0AInjected:%201", "%25",
    "~", "x" * 5000, "%20", "'%20OR%201=1--",
]


def _rest_routes(app: Any) -> list[tuple[str, str, str]]:
    """(method, path template, key kind) of every key-protected REST route with path parameters."""
    out = []
    for path, methods, kinds in route_table(app.router.routes):
        if "{" not in path or not isinstance(kinds, frozenset) or path.startswith("/api/v1/proxy/"):
            continue
        kind = "app" if any(k.value == "application" for k in kinds) else "org"
        out.extend((method, path, kind) for method in sorted(methods - {"HEAD", "OPTIONS"}))
    return out


async def test_nul_traversal_and_odd_encodings_in_every_path_parameter(hostile: Hostile) -> None:
    await _objects(hostile)
    before = await row_counts(hostile.state.db)
    routes = _rest_routes(hostile.app)
    assert len(routes) > 30
    for method, template, kind in routes:
        names = re.findall(r"\{([^}:]+)(?::[^}]*)?\}", template)
        for name in names:
            for segment in NASTY_SEGMENTS:
                path = template
                for other in names:
                    value = segment if other == name else "x1"
                    path = re.sub(r"\{" + other + r"(?::[^}]*)?\}", value.replace("\\", "\\\\"), path)
                body = b"{}" if method in ("POST", "PUT", "PATCH") else b""
                answer = await hostile.call(method, path, _JSON, body, kind=kind)
                status = not_5xx(hostile, answer)
                assert status >= 400 or (method == "GET" and status == 200), (method, path[:120], status)
                if status == 200:  # a traversal never lands on another route's data
                    assert b'"key_id"' not in answer.body and b'"app_id"' not in answer.body, path[:120]
    after = await row_counts(hostile.state.db)
    assert after == before


# --- the proxy: header injection, traversal, SSRF, redirects --------------------------------------------------
_PROXY = "/api/v1/proxy/openai/v1/chat/completions"
_AZURE = "/api/v1/proxy/azure.openai/openai/deployments/gpt4o/chat/completions?api-version=2024-08-01-preview"


async def test_header_injection_through_xproxy_values_is_refused(hostile: Hostile) -> None:
    """CR/LF/NUL in any ``xProxy-*`` value (a forwarded one included) would split or smuggle headers upstream."""
    before = await row_counts(hostile.state.db)
    body = json.dumps(CHAT).encode()
    for name in (b"xproxy-forward-x-trace", b"xproxy-forward-openai-organization", b"xproxy-usecase-name",
                 b"xproxy-user-id", b"xproxy-account-name", b"xproxy-limit-ids", b"xproxy-provider-baseuri",
                 b"xproxy-priceas-resource", b"xproxy-request-properties", b"xproxy-usecase-step", b"authorization"):
        for value in (b"a\r\nX-Injected: 1", b"a\nX-Injected: 1", b"a\rb", b"a\x00b", b"\r\n\r\nGET / HTTP/1.1"):
            answer = await hostile.call("POST", _PROXY, [*_JSON, (name, value)], body)
            await refused(hostile, answer)
            ingest = await hostile.call("POST", "/api/v1/ingest", [*_JSON, (name, value)], json.dumps(_INGEST).encode())
            await refused(hostile, ingest)
    for bad_name in (b"xproxy-forward-x y", b"xproxy-forward-x:y", b"xproxy-forward-x\r\ny", b"xproxy-forward-\x00"):
        answer = await hostile.call("POST", _PROXY, [*_JSON, (bad_name, b"v")], body)
        await refused(hostile, answer)
    assert hostile.fake.total == 0
    assert await row_counts(hostile.state.db) == before


async def test_path_traversal_in_the_proxy_path_stays_on_the_provider(hostile: Hostile) -> None:
    """Whatever the path after the prefix, the request goes to the configured provider host, nowhere else."""
    body = json.dumps(CHAT).encode()
    for tail in ("/../../admin/applications", "/%2e%2e/%2e%2e/x", "/..%2F..%2Fx", "//canary/x", "/@evil.example/x",
                 "/%40127.0.0.1/x", "/chat/completions%00", "/chat/completions%0d%0aX-Injected:%201"):
        answer = await hostile.call("POST", f"/api/v1/proxy/openai/v1{tail}", _JSON, body)
        assert answer.status < 500 or answer.status in (502, 504), (tail, answer.status, answer.body[:200])
        if answer.status >= 400 and b"xproxy_error" in answer.body and b"statusCode" in answer.body:
            assert_payi_error(answer.status, answer.json(), *hostile.secrets())
    for rec in list(hostile.fake.requests):
        assert rec.path.startswith("/v1/"), rec.path
    assert hostile.canary.hits == []
    answer = await hostile.call("POST", "/api/v1/proxy/openai", _JSON, body)
    await refused(hostile, answer)
    answer = await hostile.call("POST", "/api/v1/proxy/..%2F..%2Fadmin/x", _JSON, body)
    await refused(hostile, answer)


def _ssrf_targets(canary_url: str) -> list[str]:
    port = canary_url.rsplit(":", 1)[1]
    return [
        f"http://127.0.0.1:{port}", f"http://127.1.2.3:{port}", f"http://localhost:{port}", f"http://localhost.:{port}",
        f"http://[::1]:{port}", f"http://[::ffff:127.0.0.1]:{port}", f"http://[::ffff:7f00:1]:{port}",
        f"http://0.0.0.0:{port}", f"http://0:{port}", f"http://2130706433:{port}", f"http://0x7f000001:{port}",
        f"http://0177.0.0.1:{port}", f"http://0x7f.0.0.1:{port}", f"http://127.1:{port}", f"http://017700000001:{port}",
        "https://10.0.0.1", "https://10.255.255.254/v1", "https://172.16.0.1", "https://172.31.255.255",
        "https://192.168.0.1", "https://192.168.255.255", "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]", "http://[fd00::1]", "http://100.64.0.1", "http://198.18.0.1", "http://224.0.0.1",
        "http://255.255.255.255", f"https://api.openai.com@127.0.0.1:{port}/", f"https://api.openai.com:443@127.0.0.1:{port}",
        f"http://user:pass@127.0.0.1:{port}", f"https://127.0.0.1:{port}#@api.openai.com", f"https://127.0.0.1:{port}?@api.openai.com",
        f"http://127.0.0.1:{port}\\@api.openai.com", f"http://api.openai.com\\@127.0.0.1:{port}", "http://%31%32%37.0.0.1",
        "http://127.0.0.1%00.api.openai.com", "http://[::1%25lo]", "file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO",
        "ftp://127.0.0.1", "//127.0.0.1", "127.0.0.1", "http://", "http://:80", "https://no-such-host.invalid",
        "http://metadata.google.internal/computeMetadata/v1/", "https://api.openai.com/../../", f"http://127.0.0.1:{port}/%2e%2e",
        "http://[::]", "http://[0:0:0:0:0:ffff:169.254.169.254]",
    ]


async def test_ssrf_through_the_provider_base_uri_is_refused(hostile: Hostile) -> None:
    """Private, loopback, link-local and metadata addresses, however spelled, and host names that resolve to them,
    are refused with a 4xx before anything is sent; the patterns here allow every host name, so the address
    checks are what stands."""
    before = await row_counts(hostile.state.db)
    body = json.dumps(CHAT).encode()
    for target in _ssrf_targets(hostile.canary_url):
        answer = await hostile.call("POST", _AZURE, [*_JSON, (b"xproxy-provider-baseuri", target.encode())], body)
        await refused(hostile, answer, "invalid_provider_uri", "invalid_provider_host")
    assert hostile.canary.hits == []
    assert await row_counts(hostile.state.db) == before


async def test_a_redirect_from_the_upstream_is_passed_back_never_followed(hostile: Hostile) -> None:
    """The Anthropic base URL here answers 302 to an internal address: the client gets the 302, the proxy does
    not follow it, and the call is recorded as failed (nothing to price)."""
    body = json.dumps({"model": "claude-3-5-haiku-20241022", "max_tokens": 5, "messages": MESSAGES}).encode()
    answer = await hostile.call("POST", "/api/v1/proxy/anthropic/v1/messages", [*_JSON, (b"anthropic-version", b"2023-06-01")], body)
    assert answer.status == 302, answer.body[:200]
    assert answer.headers["location"].endswith("/latest/meta-data/iam")
    assert hostile.redirector.hits == 1
    assert hostile.canary.hits == []


# --- hypothesis: random xProxy headers and bodies through a real port -------------------------------------------
_HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=300)
_XPROXY = st.sampled_from([
    "xProxy-UseCase-Name", "xProxy-UseCase-ID", "xProxy-UseCase-Version", "xProxy-UseCase-Step", "xProxy-User-ID",
    "xProxy-Account-Name", "xProxy-Limit-IDs", "xProxy-Request-Tags", "xProxy-Request-Properties",
    "xProxy-UseCase-Properties", "xProxy-PriceAs-Category", "xProxy-PriceAs-Resource", "xProxy-Resource-Scope",
    "xProxy-Logging-Disable", "xProxy-Provider-BaseUri", "xProxy-Forward-X-Custom", "xProxy-Forward-Host",
    "xProxy-Forward-Content-Length", "xProxy-Forward-Transfer-Encoding", "xProxy-RouteAs-Resource",
])
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
_BODIES = st.one_of(
    st.binary(max_size=300),
    _JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"model": st.text(max_size=40) | st.integers(), "messages": _JSON_VALUES,
                           "stream": st.booleans() | st.none(), "max_tokens": st.integers(-5, 10**9) | st.text(max_size=5)},
                          optional={"stream_options": _JSON_VALUES, "n": st.integers(-1, 5)})
    .map(lambda v: json.dumps(v).encode()),
)


@pytest.fixture
def proxy_overrides() -> dict[str, Any]:
    return {"allow_private_provider_hosts": False, "provider_hosts": ("*.openai.azure.com",)}


def test_random_proxy_headers_and_bodies_never_get_a_5xx_of_ours(proxy_env: ProxyEnv) -> None:
    """Through a real port (uvicorn in front): whatever the xProxy headers and the body, an error of ours is a
    Pay-i 4xx; the provider's own answers (the fake upstream's) pass through unchanged."""
    secrets = [proxy_env.key]
    with httpx2.Client(timeout=10) as client:

        @given(headers=st.dictionaries(_XPROXY, _HEADER_TEXT, max_size=5), body=_BODIES,
               provider=st.sampled_from(["openai/v1/chat/completions", "anthropic/v1/messages",
                                         "azure.openai/openai/deployments/d/chat/completions", "openai/v1/embeddings"]))
        @settings(max_examples=int(os.environ.get("PAYI_FUZZ_EXAMPLES", "60")), deadline=None,
                  derandomize=not os.environ.get("PAYI_FUZZ_RANDOM"), database=None,
                  suppress_health_check=list(HealthCheck))
        def run(headers: dict[str, str], body: bytes, provider: str) -> None:
            sent = {k: v.strip().encode("latin-1") for k, v in headers.items() if v.strip()}
            response = client.post(f"{proxy_env.live.url}/api/v1/proxy/{provider}", content=body,
                                   headers={"xProxy-api-key": proxy_env.key, "content-type": "application/json", **sent})
            assert b"Traceback" not in response.content
            try:
                data = response.json()
            except ValueError:
                data = None
            ours = isinstance(data, dict) and "statusCode" in data and "xproxy_error" in data
            if ours:
                assert response.status_code < 500, data
                assert_payi_error(response.status_code, data, *secrets)
            else:
                assert response.status_code < 500, (response.status_code, response.content[:300])

        run()


async def test_a_proxied_call_with_odd_text_is_still_recorded(hostile: Hostile) -> None:
    """The provider was called, so the call must be recorded (and charged) whatever text it carried: a NUL in the
    model name or an over-long one must not make the database refuse the record (PostgreSQL refuses NUL in text
    and over-long strings) and lose it."""
    from sqlalchemy import func, select

    from payi_server.store.tables import requests

    models = ["gpt-4o-mini\u0000x", "m" * 1000, "gpt-4o-mini\u202e", "\U0001f600"]
    for model in models:
        body = json.dumps({"model": model, "messages": MESSAGES}).encode()
        answer = await hostile.call("POST", _PROXY, [*_JSON, (b"xproxy-user-id", b"u" * 200)], body)
        assert answer.status < 500, answer.body[:200]
    await hostile.state.recorder.flush() if hasattr(hostile.state.recorder, "flush") else None
    import asyncio

    for _ in range(100):
        async with hostile.state.db.read() as conn:
            count = (await conn.execute(select(func.count()).select_from(requests))).scalar_one()
        if count >= len(models):
            break
        await asyncio.sleep(0.05)
    assert count == len(models)


async def test_a_properties_header_that_is_neither_json_nor_base64_is_refused(hostile: Hostile) -> None:
    """Non-ASCII text in ``xProxy-Request-Properties`` made the base64 decoder raise ValueError (a 500)."""
    for value in ("é", "\u00b3abc", "ÿÿÿÿ", "not base64 at all!"):
        for path, body in (("/api/v1/ingest", json.dumps(_INGEST)), (_PROXY, json.dumps(CHAT))):
            for header in (b"xproxy-request-properties", b"xproxy-usecase-properties"):
                answer = await hostile.call("POST", path, [*_JSON, (header, value.encode("latin-1"))], body.encode())
                await refused(hostile, answer, "invalid_json")
    assert hostile.fake.total == 0


async def test_non_ascii_digits_in_numeric_ids_are_not_found(hostile: Hostile) -> None:
    """``"³".isdigit()`` is true but ``int("³")`` raises (a 500, found by the fuzz run); ``int("١")`` is 1, so an
    Arabic-Indic digit named application 1. Numeric ids are ASCII digits."""
    ids = await _objects(hostile)
    for digit in ("%C2%B3", "%D9%A1", "%EF%BC%91", "1%C2%B3"):  # ³, ١ (Arabic-Indic one), １ (fullwidth one)
        for method, path, kind in (
            ("GET", f"/api/v1/admin/applications/{digit}", "org"),
            ("DELETE", f"/api/v1/admin/applications/{digit}", "org"),
            ("POST", f"/api/v1/admin/keys/{digit}/revoke", "org"),
            ("GET", f"/api/v1/requests/{digit}/result", "app"),
            ("GET", f"/api/v1/categories/acme/resources/m1/{digit}", "app"),
        ):
            answer = await hostile.call(method, path, kind=kind)
            await refused(hostile, answer)
            assert answer.status == 404, (path, answer.body)
    app = await hostile.call("GET", f"/api/v1/admin/applications/{ids['app_a']}", kind="org")
    assert app.status == 200  # A's application is still there


async def test_non_ascii_digits_in_report_filters_are_refused(hostile: Hostile) -> None:
    for url in ("/api/v1/reports/spend?application=%C2%B3", "/api/v1/reports/spend?use_case_version=%C2%B3",
                "/api/v1/reports/requests?use_case_version=%C2%B3", "/api/v1/reports/requests?application=%C2%B3"):
        answer = await hostile.call("GET", url, kind="org")
        assert not_5xx(hostile, answer) in (200, 400, 404)


async def test_an_unknown_price_as_category_is_refused_before_the_provider_is_called(hostile: Hostile) -> None:
    """An unknown ``xProxy-PriceAs-Category`` was only noticed when pricing the answer: the provider had been
    called, the call was not recorded (its cost never charged: a way around every budget), and a stream was cut
    off after its headers (found by the proxy fuzz)."""
    for stream in (False, True):
        body = json.dumps({**CHAT, "stream": stream}).encode()
        answer = await hostile.call("POST", _PROXY, [*_JSON, (b"xproxy-priceas-category", b"no.such.category")], body)
        await refused(hostile, answer, "category_not_found")
    assert hostile.fake.total == 0
    priced = await hostile.call("POST", _PROXY, [*_JSON, (b"xproxy-priceas-category", b"system.openai")],
                                json.dumps(CHAT).encode())
    assert priced.status == 200 and priced.json()["xproxy_result"]["cost"]["total"]["base"] > 0


async def test_date_times_that_leave_the_calendar_in_utc_are_refused(hostile: Hostile) -> None:
    """"0001-01-01T00:06:00+02:00" is valid ISO-8601 but lies before year 1 in UTC: converting it raised
    OverflowError (a 500, found by the fuzz run); so did year 9999 west of Greenwich."""
    org = hostile.headers("org")
    before = await row_counts(hostile.state.db)
    for value in ("0001-01-01T00:06:00+02:00", "9999-12-31T23:59:59-05:00"):
        await refused(hostile, await hostile.client.post("/api/v1/admin/org-keys", json={"expires_at": value}, headers=org))
        await refused(
            hostile,
            await hostile.client.post("/api/v1/categories/acme/resources/m1",
                                      json={"units": {"text": {"input_price": 1e-6}}, "start_timestamp": value}, headers=org),
        )
        await refused(
            hostile,
            await hostile.client.post("/api/v1/ingest", json={**_INGEST, "event_timestamp": value}, headers=hostile.headers()),
        )
        bulk = await hostile.client.post("/api/v1/ingest/bulk", json=[{**_INGEST, "event_timestamp": value}],
                                         headers=hostile.headers())
        assert bulk.status_code == 200 and bulk.json()["error_count"] == 1, bulk.text
        created = await hostile.client.post("/api/v1/limits", json={"limit_name": "cal", "max": 5}, headers=hostile.headers())
        limit_id = created.json()["limit"]["limit_id"]
        reset = await hostile.client.post(f"/api/v1/limits/{limit_id}/reset", params={"resetDate": value},
                                          headers=hostile.headers())
        await refused(hostile, reset)
        await hostile.client.delete(f"/api/v1/limits/{limit_id}", headers=hostile.headers())
    counts = await row_counts(hostile.state.db)
    assert {k: v for k, v in counts.items() if not k.startswith("limit")} == {
        k: v for k, v in before.items() if not k.startswith("limit")}


async def test_bulk_ingest_refuses_a_blank_body(hostile: Hostile) -> None:
    """Only an absent body means "no events"; blank text is not JSON (found by the fuzz run)."""
    for blank in (b" ", b"\n\t "):
        answer = await hostile.call("POST", "/api/v1/ingest/bulk", _JSON, blank)
        await refused(hostile, answer, "invalid_json")


async def test_a_name_re_pointed_after_its_check_is_refused_at_connect_time(hostile: Hostile) -> None:
    """Second line of defence: a host name that passed the check (cached) but now resolves to loopback (DNS
    rebinding) is refused by the HTTP client's resolver when it connects: a 400, and nothing reaches the canary."""
    import time

    from payi_server.proxy.route import ProxyEndpoint

    proxy = next(r.endpoint for r in hostile.app.router.routes if isinstance(getattr(r, "endpoint", None), ProxyEndpoint))
    proxy.hosts._passed["localhost"] = time.monotonic() + 60  # as if it had resolved to a public address
    port = hostile.canary_url.rsplit(":", 1)[1]
    answer = await hostile.call("POST", _AZURE, [*_JSON, (b"xproxy-provider-baseuri", f"https://localhost:{port}".encode())],
                                json.dumps(CHAT).encode())
    await refused(hostile, answer, "invalid_provider_host")
    assert hostile.canary.hits == []
