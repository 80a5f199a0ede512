"""Brute force of keys and passwords is rate-limited: ``429`` with ``retry-after`` and the Pay-i body.

The choices, documented here and in ``auth/throttle.py``:

- A **valid key is never throttled** by anyone's failures, its own address's included: behind a NAT or a load
  balancer one misconfigured client must not lock everyone out. A key is verified first; only a bad or missing
  key counts as a failure, and once its address has used up its failures, further bad keys get 429 instead of
  401. A right guess is no risk worth an oracle: a key holds 190 random bits.
- Failures are counted per **source address across every server process** (a shared table), so ``--workers N``
  does not give an address N times the budget.
- Dashboard **sign-in** is throttled per **account and source**: passwords can be guessed, so a throttled pair is
  refused before the password is checked; another account from that address, or that account from another
  address, is not affected.
- Forwarded-for headers are not believed (the address is the connection's, as the server reports it).

Time is the throttle's injected clock: nothing here sleeps.
"""

from __future__ import annotations

import asyncio
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
WINDOW = 60.0
GUESS = "payi_app_AAAAAAAAAAAA_" + "x" * 40


class Clock:
    """The throttle's clock (seconds since 1970), moved by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Guarded:
    app: Any
    boot: Bootstrap
    clock: Clock

    def client(self, address: str, app: Any = None) -> httpx2.AsyncClient:
        transport = httpx2.ASGITransport(app=app or self.app, client=(address, 40000))
        return httpx2.AsyncClient(transport=transport, base_url="http://payi.test")


@pytest.fixture
async def guarded(database_url: str, tmp_path: Path) -> AsyncIterator[Guarded]:
    settings = make_settings(database_url, tmp_path / "data", auth_failure_limit=LIMIT, auth_failure_window=WINDOW)
    app = create_app(settings)
    clock = Clock()
    async with app.router.lifespan_context(app):
        app.state.payi.throttle.clock = clock
        boot = await app.state.payi.tenancy.bootstrap()
        assert boot is not None
        yield Guarded(app, boot, clock)


def _throttled(response: httpx2.Response, *secrets: str) -> int:
    assert response.status_code == 429, response.text
    assert_payi_error(429, response.json(), *secrets)
    assert response.json()["xproxy_error"]["code"] == "too_many_failed_attempts"
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= WINDOW + 1
    return wait


async def test_guessing_keys_from_one_address_is_throttled_valid_keys_never_are(guarded: Guarded) -> None:
    valid = guarded.boot.app_keys[0].plaintext
    org = guarded.boot.org_key.plaintext
    async with guarded.client("203.0.113.7") as attacker, guarded.client("198.51.100.9") as other:
        for n in range(LIMIT):
            guess = await attacker.get("/api/v1/whoami", headers={"xProxy-api-key": f"{GUESS}{n}"})
            assert guess.status_code == 401
        # Every route that takes a key refuses further bad or missing keys, the proxy and the org routes included.
        for method, url in (("GET", "/api/v1/whoami"), ("GET", "/api/v1/limits"), ("POST", "/api/v1/ingest"),
                            ("GET", "/api/v1/admin/applications"), ("POST", "/api/v1/proxy/openai/v1/chat/completions")):
            for headers in ({"xProxy-api-key": GUESS}, {}):
                _throttled(await attacker.request(method, url, headers=headers), GUESS)
        # A valid key from the same address (a neighbour behind the same NAT) is served: failures are not its own.
        assert (await attacker.get("/api/v1/whoami", headers={"xProxy-api-key": valid})).status_code == 200
        assert (await attacker.get("/api/v1/admin/applications", headers={"xProxy-api-key": org})).status_code == 200
        # Public routes stay open; other addresses are not affected, bad keys from them included.
        assert (await attacker.get("/healthz")).status_code == 200
        assert (await other.get("/api/v1/whoami", headers={"xProxy-api-key": valid})).status_code == 200
        assert (await other.get("/api/v1/whoami", headers={"xProxy-api-key": GUESS})).status_code == 401
        # A forwarded-for header does not let the attacker pose as another address.
        spoofed = await attacker.get("/api/v1/whoami", headers={"xProxy-api-key": GUESS, "x-forwarded-for": "198.51.100.9",
                                                                 "x-real-ip": "198.51.100.9", "forwarded": "for=198.51.100.9"})
        wait = _throttled(spoofed, GUESS)
        # After the window the address may fail again.
        guarded.clock.now += wait
        assert (await attacker.get("/api/v1/whoami", headers={"xProxy-api-key": GUESS})).status_code == 401


async def test_valid_keys_do_not_count_and_the_budget_is_per_window(guarded: Guarded) -> None:
    valid = guarded.boot.app_keys[0].plaintext
    async with guarded.client("192.0.2.50") as client:
        for _ in range(3 * LIMIT):  # valid calls never count
            assert (await client.get("/api/v1/whoami", headers={"xProxy-api-key": valid})).status_code == 200
        for n in range(LIMIT - 1):
            assert (await client.get("/api/v1/whoami", headers={"xProxy-api-key": f"{GUESS}{n}"})).status_code == 401
        guarded.clock.now += WINDOW  # a new window: the earlier failures are forgotten
        for n in range(LIMIT):
            assert (await client.get("/api/v1/whoami", headers={"xProxy-api-key": f"{GUESS}{n}"})).status_code == 401
        _throttled(await client.get("/api/v1/whoami", headers={"xProxy-api-key": GUESS}))
        assert (await client.get("/api/v1/whoami", headers={"xProxy-api-key": valid})).status_code == 200
        guarded.clock.now += WINDOW - 1
        _throttled(await client.get("/api/v1/whoami", headers={"xProxy-api-key": GUESS}))
        guarded.clock.now += 1
        assert (await client.get("/api/v1/whoami", headers={"xProxy-api-key": GUESS})).status_code == 401


async def test_failures_are_counted_across_server_processes(guarded: Guarded, database_url: str, tmp_path: Path) -> None:
    """Two server processes (two apps on one database): an address's failures add up wherever they land, so
    ``--workers N`` does not give it N times the budget."""
    settings = make_settings(database_url, tmp_path / "data", auth_failure_limit=LIMIT, auth_failure_window=WINDOW)
    second = create_app(settings)
    async with second.router.lifespan_context(second):
        second.state.payi.throttle.clock = guarded.clock
        async with guarded.client("203.0.113.8") as one, guarded.client("203.0.113.8", second) as two:
            statuses = []
            for n in range(2 * LIMIT):
                client = one if n % 2 else two
                statuses.append((await client.get("/api/v1/whoami", headers={"xProxy-api-key": f"{GUESS}{n}"})).status_code)
            assert statuses == [401] * LIMIT + [429] * LIMIT
            for client in (one, two):
                _throttled(await client.get("/api/v1/whoami", headers={"xProxy-api-key": GUESS}))
                valid = guarded.boot.app_keys[1].plaintext
                assert (await client.get("/api/v1/whoami", headers={"xProxy-api-key": valid})).status_code == 200


async def test_sign_in_is_throttled_per_account_and_source(guarded: Guarded) -> None:
    from payi_server.web.accounts import Accounts
    from tests.server.web.helpers import PASSWORD, sign_in

    for email in ("ann@example.com", "bob@example.com"):
        await Accounts(guarded.app.state.payi.db).create_user(guarded.boot.org_id, email, PASSWORD, "admin")
    async with guarded.client("203.0.113.9") as here, guarded.client("198.51.100.10") as there:
        for _ in range(LIMIT):
            assert (await sign_in(here, "ann@example.com", "wrong password")).status_code == 401
        # The pair is throttled before the password is looked at: the right one waits too.
        assert (await sign_in(here, "ann@example.com", "wrong password")).status_code == 429
        assert (await sign_in(here, "ANN@example.com", PASSWORD)).status_code == 429
        # Another account from this address, and this account from another address, are not affected.
        assert (await sign_in(here, "bob@example.com")).status_code == 303
        assert (await sign_in(there, "ann@example.com")).status_code == 303
        # Bad API keys from the address do not lock its dashboard users out either.
        for n in range(LIMIT + 1):
            await here.get("/api/v1/whoami", headers={"xProxy-api-key": f"{GUESS}{n}"})
        async with guarded.client("203.0.113.9") as fresh:
            assert (await sign_in(fresh, "bob@example.com")).status_code == 303
        guarded.clock.now += WINDOW
        assert (await sign_in(here, "ann@example.com")).status_code == 303


def test_throttling_through_a_real_port(database_url: str, tmp_path: Path) -> None:
    """uvicorn in front: the client address it reports is what is throttled; the 429 is a Pay-i body."""
    from tests.conftest import bootstrap_database

    settings = make_settings(database_url, tmp_path / "data", auth_failure_limit=LIMIT, auth_failure_window=30)
    boot = asyncio.run(bootstrap_database(settings))
    with serve_app(create_app(settings)) as url, httpx2.Client(base_url=url, timeout=10) as client:
        statuses = [client.get("/api/v1/whoami", headers={"xProxy-api-key": f"{GUESS}{n}"}).status_code
                    for n in range(LIMIT + 3)]
        assert statuses == [401] * LIMIT + [429] * 3
        response = client.get("/api/v1/whoami", headers={"xProxy-api-key": GUESS})
        assert response.status_code == 429
        assert_payi_error(429, response.json(), GUESS)
        assert 1 <= int(response.headers["retry-after"]) <= 30
        assert client.get("/api/v1/whoami", headers={"xProxy-api-key": boot.app_keys[0].plaintext}).status_code == 200
