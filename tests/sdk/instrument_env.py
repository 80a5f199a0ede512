"""Fixtures of the instrumentation tests: our server on a real port, pointed at the fake upstream, and
``payi_instrument`` configured against it (and detached after the test).

    def test_x(ienv: InstrumentEnv) -> None:
        ienv.instrument()                       # ingest mode, spool in tmp_path
        OpenAI(base_url=ienv.openai_direct, api_key="sk").chat.completions.create(...)
        payi_flush(); rows = ienv.recorded(1)
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from sqlalchemy import select

from payi import Payi
from payi.lib.instrument import PayiInstrumentConfig, _uninstrument, payi_instrument
from payi_server.app import create_app
from payi_server.store.engine import Database
from payi_server.store.tables import requests
from tests.conftest import Live, bootstrap_database, make_settings
from tests.fakes.config import FakeConfig
from tests.fakes.serve import serve_app
from tests.fakes.upstream import FakeUpstream
from tests.fakes.upstream import create_app as create_fake

__all__ = ["InstrumentEnv", "fake_config", "ienv", "read_rows"]

MESSAGES = [{"role": "user", "content": "alpha beta gamma delta epsilon zeta eta theta"}]
BEDROCK_HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def read_rows(database_url: str) -> list[dict[str, Any]]:
    async def rows() -> list[dict[str, Any]]:
        db = Database(database_url, pool_size=1)
        try:
            async with db.read() as conn:
                return [
                    dict(r._mapping)
                    for r in (await conn.execute(select(requests).order_by(requests.c.id))).all()
                ]
        finally:
            await db.dispose()

    result: list[list[dict[str, Any]]] = []
    worker = threading.Thread(
        target=lambda: result.append(asyncio.run(rows()))
    )  # works inside async tests too
    worker.start()
    worker.join()
    return result[0]


@dataclass
class InstrumentEnv:
    live: Live
    fake: FakeUpstream
    fake_url: str
    tmp_path: Path
    spool_dir: Path
    instrumented: list[bool] = field(default_factory=list)
    to_close: list[Any] = field(default_factory=list)

    def closing(self, client: Any) -> Any:
        """Close ``client`` (a provider or Pay-i client) when the test ends."""
        self.to_close.append(client)
        return client

    @property
    def key(self) -> str:
        return self.live.app_key

    @property
    def openai_direct(self) -> str:
        return f"{self.fake_url}/v1"

    def payi(self, **options: Any) -> Payi:
        return self.closing(Payi(api_key=self.key, base_url=self.live.url, **options))  # type: ignore[no-any-return]

    def instrument(self, config: PayiInstrumentConfig | None = None, **kwargs: Any) -> None:
        """``payi_instrument`` against this server; the spool lives in the test's tmp dir."""
        cfg: dict[str, Any] = {"ingest_retry": {"spool_dir": str(self.spool_dir), "queue_interval": 0.05}}
        cfg.update(config or {})
        if "ingest_retry" in (config or {}):
            cfg["ingest_retry"] = {"spool_dir": str(self.spool_dir), **(config or {})["ingest_retry"]}  # type: ignore[typeddict-item]
        client = kwargs.pop("payi", None) or self.payi()
        payi_instrument(client, config=cfg, **kwargs)  # type: ignore[arg-type]
        self.instrumented.append(True)

    def recorded(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until the server recorded ``count`` requests; return them (oldest first)."""
        deadline = time.monotonic() + timeout
        while True:
            found = read_rows(self.live.settings.sqlalchemy_url)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def bedrock(self, **config: Any) -> Any:
        """A boto3 bedrock-runtime client aimed at the fake (which verifies SigV4 when configured to)."""
        return self.closing(
            boto3.client(
                "bedrock-runtime",
                region_name="us-east-1",
                endpoint_url=self.fake_url,
                aws_access_key_id="AKIDFAKE",
                aws_secret_access_key="fake-secret",
                config=Config(retries={"max_attempts": 1}, **config),
            )
        )


@pytest.fixture
def fake_config() -> FakeConfig:
    return FakeConfig(stream_chunks=3, verify_sigv4=True)


@pytest.fixture
def ienv(database_url: str, tmp_path: Path, fake_config: FakeConfig) -> Iterator[InstrumentEnv]:
    fake = create_fake(fake_config)
    with serve_app(fake) as fake_url:
        settings = make_settings(
            database_url,
            tmp_path / "data",
            openai_base_url=f"{fake_url}/v1",
            anthropic_base_url=fake_url,
            allow_private_provider_hosts=True,
            provider_hosts=("127.0.0.1", "localhost"),
            upstream_timeout=5.0,
        )
        boot = asyncio.run(bootstrap_database(settings))
        with serve_app(create_app(settings)) as url:
            env = InstrumentEnv(
                live=Live(url=url, boot=boot, settings=settings),
                fake=fake,
                fake_url=fake_url,
                tmp_path=tmp_path,
                spool_dir=tmp_path / "spool",
            )
            try:
                yield env
            finally:
                _uninstrument()
                for client in env.to_close:
                    close = getattr(client, "close", None)
                    if close is not None and not inspect.iscoroutinefunction(close):
                        close()
                logging.getLogger("payi.instrument").handlers.clear()
