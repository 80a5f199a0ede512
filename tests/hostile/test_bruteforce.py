"""Brute force of keys is rate-limited per client address: ``429`` with ``retry-after`` and the Pay-i body.

The choice, documented here and in ``auth/throttle.py``: once an address has used up its failures, *every*
request from it that carries or needs a key waits, a valid key included. The throttle is checked before the
key is looked at, so a throttled address cannot tell a right guess from a wrong one (a 200 among the 429s would
confirm the guess). Other addresses are not affected, and forwarded-for headers are not believed (the address
is the connection's, as the server reports it). The window is fixed per address; failures are counted in each
server process, so ``--workers N`` gives an address N times the budget.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from payi_server.app import create_app
from payi_server.auth.manage import Bootstrap
from tests.conftest import make_settings
from tests.fakes.serve import serve_app

from .conftest import assert_payi_error

LIMIT = 5
WINDOW = 1.5
GUESS = "payi_app_AAAAAAAAAAAA_" + "x" * 40


@dataclass
class Guarded:
    app: Any
    boot: Bootstrap

    def client(self, address: str) -> httpx2.AsyncClient:
        transport = httpx2.ASGITransport(app=self.app, client=(address, 40000))
        return httpx2.AsyncClient(transport=transport, base_url="http://payi.test")


@pytest.fixture
async def guarded(database_url: str, tmp_path: Path) -> AsyncIterator[Guarded]:
    settings = make_settings(database_url, tmp_path / "data", auth_failure_limit=LIMIT, auth_failure_window=WINDOW)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        boot = await app.state.payi.tenancy.bootstrap()
        assert boot is not None
        yield Guarded(app, boot)


def _throttled(response: httpx2.Response, *secrets: str) -> int:
    assert response.status_code == 429, response.text
    assert_payi_error(429, response.json(), *secrets)
    assert response.json()["xproxy_error"]["code"] == "too_many_failed_attempts"
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= WINDOW + 1
    return wait


async def test_guessing_keys_from_one_address_is_throttled_others_are_not(guarded: Guarded) -> None:
    valid = guarded.boot.app_keys[0].plaintext
    org = guarded.boot.org_key.plaintext
    async with guarded.client("203.0.113.7") as attacker, guarded.client("198.51.100.9") as other:
        for n in range(LIMIT):
            guess = await attacker.get("/api/v1/whoami", headers={"xProxy-api-key": f"{GUESS}{n}"})
            assert guess.status_code == 401
        # Every route that takes a key is throttled, the proxy and the org routes included, with or without a key.
        for method, url in (("GET", "/api/v1/whoami"), ("GET", "/api/v1/limits"), ("POST", "/api/v1/ingest"),
                            ("GET", "/api/v1/admin/applications"), ("POST", "/api/v1/proxy/openai/v1/chat/completions")):
            for headers in ({"xProxy-api-key": GUESS}, {}):
                _throttled(await attacker.request(method, url, headers=headers), GUESS)
        # A valid key from the throttled address waits too (no oracle for a right guess).
        _throttled(await attacker.get("/api/v1/whoami", headers={"xProxy-api-key": valid}), valid)
        _throttled(await attacker.get("/api/v1/admin/applications", headers={"xProxy-api-key": org}), org)
        # Public routes stay open; other addresses are not affected, bad keys from them included.
        assert (await attacker.get("/healthz")).status_code == 200
        assert (await other.get("/api/v1/whoami", headers={"xProxy-api-key": valid})).status_code == 200
        assert (await other.get("/api/v1/whoami", headers={"xProxy-api-key": GUESS})).status_code == 401
        # A forwarded-for header does not let the attacker pose as another address.
        spoofed = await attacker.get("/api/v1/whoami", headers={"xProxy-api-key": valid, "x-forwarded-for": "198.51.100.9",
                                                                 "x-real-ip": "198.51.100.9", "forwarded": "for=198.51.100.9"})
        wait = _throttled(spoofed, valid)
        # After the window the address may try again, and a valid key works at once.
        await asyncio.sleep(wait + 0.1)
        assert (await attacker.get("/api/v1/whoami", headers={"xProxy-api-key": valid})).status_code == 200


async def test_valid_keys_do_not_count_and_the_budget_is_per_window(guarded: Guarded) -> None:
    valid = guarded.boot.app_keys[0].plaintext
    async with guarded.client("192.0.2.50") as client:
        for _ in range(3 * LIMIT):  # valid calls never count
            assert (await client.get("/api/v1/whoami", headers={"xProxy-api-key": valid})).status_code == 200
        for n in range(LIMIT - 1):
            assert (await client.get("/api/v1/whoami", headers={"xProxy-api-key": f"{GUESS}{n}"})).status_code == 401
        assert (await client.get("/api/v1/whoami", headers={"xProxy-api-key": valid})).status_code == 200
        await asyncio.sleep(WINDOW + 0.1)  # a new window: the earlier failures are forgotten
        for n in range(LIMIT):
            assert (await client.get("/api/v1/whoami", headers={"xProxy-api-key": f"{GUESS}{n}"})).status_code == 401
        _throttled(await client.get("/api/v1/whoami", headers={"xProxy-api-key": valid}), valid)


def test_throttling_through_a_real_port(database_url: str, tmp_path: Path) -> None:
    """uvicorn in front: the client address it reports is what is throttled; the 429 is a Pay-i body."""
    from tests.conftest import bootstrap_database

    settings = make_settings(database_url, tmp_path / "data", auth_failure_limit=LIMIT, auth_failure_window=30)
    boot = asyncio.run(bootstrap_database(settings))
    with serve_app(create_app(settings)) as url, httpx2.Client(base_url=url, timeout=10) as client:
        started = time.monotonic()
        statuses = [client.get("/api/v1/whoami", headers={"xProxy-api-key": f"{GUESS}{n}"}).status_code
                    for n in range(LIMIT + 3)]
        assert statuses == [401] * LIMIT + [429] * 3
        response = client.get("/api/v1/whoami", headers={"xProxy-api-key": boot.app_keys[0].plaintext})
        assert response.status_code == 429
        assert_payi_error(429, response.json(), boot.app_keys[0].plaintext)
        assert 1 <= int(response.headers["retry-after"]) <= 30
        assert time.monotonic() - started < 5  # refused at once, not slowed down
