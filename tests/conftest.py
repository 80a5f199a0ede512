"""Shared fixtures: every storage test runs on SQLite and, when PAYI_TEST_DATABASE_URL is set, on PostgreSQL.

Each test gets its own fresh database: a copy of a template migrated once per session (a file copy for SQLite,
``CREATE DATABASE ... TEMPLATE`` for PostgreSQL), so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
import pytest
from fastapi import FastAPI

from payi_server.app import create_app
from payi_server.auth.manage import Bootstrap
from payi_server.settings import Settings, load_settings
from payi_server.state import AppState
from payi_server.store.migrate import migrate

PG_ENV = "PAYI_TEST_DATABASE_URL"
TEST_SECRET = "test-secret-" + "x" * 40
_counter = itertools.count()


def pg_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def _pg_admin_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


async def _pg_exec(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(_pg_admin_dsn(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Tests that call configure_logging() must not leave handlers on streams that pytest closes."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


class _PgDatabases:
    """Databases cloned from the PostgreSQL template, one made ahead: ``CREATE DATABASE ... TEMPLATE`` takes about
    0.3 s (its WAL and an fsync), so the next test's database is created in a background thread while this test
    runs. A failed creation ahead is retried in the test that asks, so the error shows there. Drops run in that
    thread too; the session's end waits for them and fails if one did."""

    def __init__(self, base: str, template: str) -> None:
        self._base, self._template = base, template
        self._maker = ThreadPoolExecutor(1, thread_name_prefix="pg-clone")
        self._next: Future[str] | None = None
        self._drops: list[Future[None]] = []

    def _create(self) -> str:
        name = f"payi_t_{os.getpid()}_{next(_counter)}"
        asyncio.run(_pg_exec(self._base, f"CREATE DATABASE {name} TEMPLATE {self._template}"))
        return name

    def take(self) -> str:
        made, self._next = self._next, None
        try:
            name = made.result() if made is not None else self._create()
        except Exception:  # noqa: BLE001 - made again here, where a failure belongs to the test
            name = self._create()
        self._next = self._maker.submit(self._create)
        return name

    def drop(self, name: str) -> None:
        statement = f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        self._drops.append(self._maker.submit(lambda: asyncio.run(_pg_exec(self._base, statement))))

    def close(self) -> None:
        made, self._next = self._next, None
        if made is not None and made.exception() is None:
            self.drop(made.result())
        self._maker.shutdown()
        for dropped in self._drops:
            dropped.result()


@dataclass
class Templates:
    sqlite_file: Path
    pg_template: str | None
    pg_databases: _PgDatabases | None = None


async def _prepare_template(url: str) -> None:
    """Migrated, with the managed price catalog loaded: what every server start would otherwise redo."""
    from payi_server.pricing.sync import sync_system_catalog
    from payi_server.store.engine import Database

    await migrate(url)
    db = Database(url, pool_size=1)
    try:
        await sync_system_catalog(db)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def db_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    root = tmp_path_factory.mktemp("db-templates")
    sqlite_file = root / "template.db"
    asyncio.run(_prepare_template(f"sqlite+aiosqlite:///{sqlite_file}"))
    pg_template = None
    base = pg_base_url()
    if base:
        pg_template = f"payi_tpl_{os.getpid()}"
        asyncio.run(_pg_exec(base, f"DROP DATABASE IF EXISTS {pg_template}", f"CREATE DATABASE {pg_template}"))
        asyncio.run(_prepare_template(_with_db(base, pg_template).replace("postgresql://", "postgresql+asyncpg://")))
    templates = Templates(sqlite_file, pg_template, _PgDatabases(base, pg_template) if base and pg_template else None)
    yield templates
    if base and pg_template:
        assert templates.pg_databases is not None
        templates.pg_databases.close()
        asyncio.run(_pg_exec(base, f"DROP DATABASE IF EXISTS {pg_template} WITH (FORCE)"))


def _fresh_database(backend: str, templates: Templates, tmp_path: Path) -> tuple[str, Any]:
    """A new database for one test; returns its URL and a cleanup callable."""
    if backend == "sqlite":
        path = tmp_path / f"payi-{next(_counter)}.db"
        shutil.copy(templates.sqlite_file, path)
        return f"sqlite:///{path}", lambda: None
    base = pg_base_url()
    if not base or not templates.pg_databases:
        pytest.skip(f"PostgreSQL runs need {PG_ENV}")
    databases = templates.pg_databases
    name = databases.take()
    return _with_db(base, name), lambda: databases.drop(name)


BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, db_templates: Templates, tmp_path: Path) -> Iterator[str]:
    url, cleanup = _fresh_database(request.param, db_templates, tmp_path)
    try:
        yield url
    finally:
        cleanup()


@pytest.fixture
def make_database(db_templates: Templates, tmp_path: Path) -> Iterator[Any]:
    """Factory for extra databases of a given backend (multi-process tests)."""
    cleanups: list[Any] = []

    def make(backend: str) -> str:
        url, cleanup = _fresh_database(backend, db_templates, tmp_path)
        cleanups.append(cleanup)
        return url

    yield make
    for cleanup in cleanups:
        cleanup()


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "secret_key": TEST_SECRET,
        "log_format": "text",
        "key_refresh_interval": 0.1,
        "auth_failure_limit": 1_000_000,  # tests fail keys on purpose, from one address
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "data")


@dataclass
class Running:
    app: FastAPI
    state: AppState
    client: httpx2.AsyncClient
    boot: Bootstrap

    @property
    def org_key(self) -> str:
        return self.boot.org_key.plaintext

    @property
    def app_key(self) -> str:
        return self.boot.app_keys[0].plaintext

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"xProxy-api-key": key or self.app_key}


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[Running]:
    """The app with its lifespan running, an in-process client, and the first-start keys."""
    async with run_app(settings) as running:
        yield running


@asynccontextmanager
async def run_app(settings: Settings) -> AsyncIterator[Running]:
    """What the ``running`` fixture gives, for any settings."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        state: AppState = app.state.payi
        boot = await state.tenancy.bootstrap()
        assert boot is not None
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://payi.test") as client:
            yield Running(app=app, state=state, client=client, boot=boot)


@dataclass
class Live:
    """Our server on a real loopback port (its own thread and event loop), with the first-start keys."""

    url: str
    boot: Bootstrap
    settings: Settings

    @property
    def org_key(self) -> str:
        return self.boot.org_key.plaintext

    @property
    def app_key(self) -> str:
        return self.boot.app_keys[0].plaintext


async def bootstrap_database(settings: Settings) -> Bootstrap:
    from payi_server.auth.keys import KeyHasher
    from payi_server.auth.manage import Tenancy
    from payi_server.settings import resolve_secret
    from payi_server.store.engine import Database

    await migrate(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url, pool_size=2)
    try:
        boot = await Tenancy(db, KeyHasher(resolve_secret(settings))).bootstrap()
    finally:
        await db.dispose()
    assert boot is not None
    return boot


@pytest.fixture
def live(settings: Settings) -> Iterator[Live]:
    from tests.fakes.serve import serve_app

    boot = asyncio.run(bootstrap_database(settings))
    with serve_app(create_app(settings)) as url:
        yield Live(url=url, boot=boot, settings=settings)
