"""``payi-server backup`` and ``restore`` on SQLite (online backup API) and PostgreSQL (pg_dump / pg_restore): a
backup taken while the server records, restored elsewhere, serves the same reports and accepts the old keys; a
server with another secret refuses to start, and restore refuses first."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from typer.testing import CliRunner

from payi_server.app import create_app
from payi_server.cli import app as cli_app
from payi_server.settings import Settings, SettingsError

from ..conftest import _pg_exec, _with_db, make_settings, pg_base_url
from .reports.data import CATEGORY, PRICES

WINDOW = {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z", "bucket": "total"}


@asynccontextmanager
async def _serving(settings: Settings) -> AsyncIterator[httpx2.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://payi.test") as client:
            client.app_state = app.state.payi  # type: ignore[attr-defined]
            yield client


def _env(settings: Settings) -> dict[str, str]:
    env = {"PAYI_SERVER_DATABASE_URL": settings.database_url, "PAYI_SERVER_DATA_DIR": str(settings.data_dir)}
    if settings.secret_key is not None:
        env["PAYI_SERVER_SECRET_KEY"] = settings.secret_key.get_secret_value()
    return env


async def _cli(settings: Settings, *args: str, code: int = 0) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYI_SERVER_")} | _env(settings)
    result = await asyncio.to_thread(CliRunner().invoke, cli_app, list(args), env=env)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout.strip().splitlines()[-1]) if code == 0 else result.output


async def _ingest(client: httpx2.AsyncClient, key: str, n: int) -> None:
    items = [
        {"category": CATEGORY, "resource": "m1", "units": {"text": {"input": 1000, "output": 0}},
         "event_timestamp": f"2026-01-02T03:{i % 60:02d}:00Z", "user_id": f"u{i % 3}"}
        for i in range(n)
    ]
    response = await client.post("/api/v1/ingest/bulk", json=items, headers={"xProxy-api-key": key})
    assert response.status_code == 200 and response.json()["error_count"] == 0, response.text


async def _report(client: httpx2.AsyncClient, org_key: str) -> Any:
    response = await client.get(
        "/api/v1/reports/spend", params={**WINDOW, "group_by": "user"}, headers={"xProxy-api-key": org_key}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    body.pop("request_id", None)
    return body


async def _target(backend: str, cleanups: list[Any]) -> str:
    """An empty database to restore into."""
    if backend == "sqlite":
        return ""  # the default: <data dir>/payi.db
    base = pg_base_url()
    assert base is not None
    name = f"payi_restore_{os.getpid()}_{len(cleanups)}"
    await _pg_exec(base, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    cleanups.append(lambda: asyncio.run(_pg_exec(base, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
    return _with_db(base, name)


@pytest.fixture
def cleanups() -> Any:
    done: list[Any] = []
    yield done
    for cleanup in done:
        cleanup()


@pytest.mark.parametrize("generated_secret", [True, False], ids=["secret-file", "secret-setting"])
async def test_backup_while_recording_then_restore_elsewhere(
    database_url: str, tmp_path: Path, generated_secret: bool, cleanups: list[Any]
) -> None:
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    secret = None if generated_secret else "a-secret-set-by-the-operator-" + "s" * 20
    source = make_settings(database_url, tmp_path / "data", secret_key=secret)
    async with _serving(source) as client:
        boot = await client.app_state.tenancy.bootstrap()  # type: ignore[attr-defined]
        org_key, app_key = boot.org_key.plaintext, boot.app_keys[0].plaintext
        response = await client.post(
            f"/api/v1/categories/{CATEGORY}/resources/m1",
            json={"units": PRICES, "start_timestamp": "2020-01-01T00:00:00Z"},
            headers={"xProxy-api-key": org_key},
        )
        assert response.status_code == 200, response.text
        await client.app_state.changes.poll_once()  # type: ignore[attr-defined]
        await _ingest(client, app_key, 30)
        # Online: the backup runs while the server keeps recording.
        writing = asyncio.create_task(_ingest(client, app_key, 20))
        made = await _cli(source, "backup", str(tmp_path / "backup"), "--json")
        await writing
        everything = await _report(client, org_key)
    assert made["database"] == backend and made["secret"] == ("file" if generated_secret else "environment")
    assert made["revision"] is not None and len(made["secret_fingerprint"]) == 16
    files = sorted(p.name for p in (tmp_path / "backup").iterdir())
    assert files == sorted(["manifest.json", "payi.db" if backend == "sqlite" else "payi.dump"] + (["secret.key"] if generated_secret else []))
    if generated_secret:
        assert stat.S_IMODE((tmp_path / "backup" / "secret.key").stat().st_mode) == 0o600
    assert everything["totals"]["requests"] == 50

    # Restored elsewhere: a new data directory (no secret file yet) and an empty database.
    restored = make_settings(await _target(backend, cleanups), tmp_path / "restored", secret_key=secret)
    if backend == "sqlite":
        restored = make_settings("", tmp_path / "restored", secret_key=secret)
    done = await _cli(restored, "restore", str(tmp_path / "backup"), "--json")
    assert done["revision"] == made["revision"]
    async with _serving(restored) as client:
        whoami = await client.get("/api/v1/whoami", headers={"xProxy-api-key": app_key})
        assert whoami.status_code == 200, whoami.text
        body = await _report(client, org_key)  # the old organisation key too
        # A consistent snapshot: the first 30 requests, and whole batches of the 20 written meanwhile.
        assert 30 <= body["totals"]["requests"] <= 50
        await _ingest(client, app_key, 1)  # the restored server records
    if backend == "sqlite":
        assert body["totals"]["requests"] in (30, 50)


async def test_a_different_secret_refuses_to_start_and_to_restore(database_url: str, tmp_path: Path, cleanups: list[Any]) -> None:
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    source = make_settings(database_url, tmp_path / "data", secret_key=None)
    async with _serving(source) as client:
        await client.app_state.tenancy.bootstrap()  # type: ignore[attr-defined]
    await _cli(source, "backup", str(tmp_path / "backup"), "--json")
    other = "another-secret-" + "o" * 30
    # The running database: a server with another secret refuses to start.
    with pytest.raises(SettingsError, match="different secret"):
        async with _serving(make_settings(database_url, tmp_path / "data", secret_key=other)):
            pass
    # A restore under another secret is refused before anything is written.
    target = make_settings(await _target(backend, cleanups), tmp_path / "elsewhere", secret_key=other)
    if backend == "sqlite":
        target = make_settings("", tmp_path / "elsewhere", secret_key=other)
    refused = await _cli(target, "restore", str(tmp_path / "backup"), code=1)
    assert "another secret" in refused
    assert not (tmp_path / "elsewhere" / "payi.db").exists()
    # A data directory whose generated secret differs: refused too, unless --force replaces it.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "secret.key").write_bytes(b"a-different-generated-secret-xxxxxxxxxxxxxxxxxx\n")
    os.chmod(tmp_path / "mine" / "secret.key", 0o600)
    mine = make_settings(await _target(backend, cleanups), tmp_path / "mine", secret_key=None)
    if backend == "sqlite":
        mine = make_settings("", tmp_path / "mine", secret_key=None)
    assert "holds another secret" in await _cli(mine, "restore", str(tmp_path / "backup"), code=1)
    await _cli(mine, "restore", str(tmp_path / "backup"), "--force", "--json")
    async with _serving(mine) as client:
        assert (await client.get("/readyz")).status_code == 200
    # Restoring over an existing SQLite file needs --force; a backup directory is never overwritten.
    if backend == "sqlite":
        assert "--force" in await _cli(mine, "restore", str(tmp_path / "backup"), code=1)
    assert "holds a backup already" in await _cli(source, "backup", str(tmp_path / "backup"), code=1)
