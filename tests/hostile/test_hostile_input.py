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
import re
from collections.abc import AsyncIterator, Iterator
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
from .conftest import Answer, Canary, Redirector, Tenants, add_tenants, asgi_call, assert_payi_error, row_counts

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
        sent = [(b"xproxy-api-key", self.key(kind).encode()), *(headers or [])]
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
