"""A fake upstream on a loopback port and our server (on a real port) pointed at it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from payi_server.app import create_app
from payi_server.store.engine import Database
from payi_server.store.tables import requests
from tests.conftest import Live, bootstrap_database, make_settings
from tests.fakes.serve import serve_app
from tests.fakes.config import FakeConfig
from tests.fakes.upstream import FakeUpstream
from tests.fakes.upstream import create_app as create_fake


@dataclass
class ProxyEnv:
    live: Live
    fake: FakeUpstream
    fake_url: str

    @property
    def key(self) -> str:
        return self.live.app_key

    def url(self, provider: str) -> str:
        return f"{self.live.url}/api/v1/proxy/{provider}"

    def recorded(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until ``count`` requests are recorded (the proxy records after answering); return them."""

        async def rows() -> list[dict[str, Any]]:
            db = Database(self.live.settings.sqlalchemy_url, pool_size=1)
            try:
                async with db.read() as conn:
                    return [dict(r._mapping) for r in (await conn.execute(select(requests).order_by(requests.c.id))).all()]
            finally:
                await db.dispose()

        deadline = time.monotonic() + timeout
        while True:
            found = asyncio.run(rows())
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


@pytest.fixture
def fake_config() -> FakeConfig:
    return FakeConfig(stream_chunks=3)


@pytest.fixture
def proxy_overrides() -> dict[str, Any]:
    """Extra settings for the server under test (parametrize it: the value replaces this fixture's)."""
    return {}


@pytest.fixture
def proxy_env(
    database_url: str, tmp_path: Path, fake_config: FakeConfig, proxy_overrides: dict[str, Any]
) -> Iterator[ProxyEnv]:
    fake = create_fake(fake_config)
    with serve_app(fake) as fake_url:
        overrides: dict[str, Any] = {
            "openai_base_url": f"{fake_url}/v1",
            "anthropic_base_url": fake_url,
            "allow_private_provider_hosts": True,
            "provider_hosts": ("127.0.0.1", "localhost"),
            "upstream_timeout": 5.0,
            "disconnect_drain_timeout": 5.0,
        }
        settings = make_settings(database_url, tmp_path / "data", **{**overrides, **proxy_overrides})
        boot = asyncio.run(bootstrap_database(settings))
        with serve_app(create_app(settings)) as url:
            yield ProxyEnv(live=Live(url=url, boot=boot, settings=settings), fake=fake, fake_url=fake_url)
