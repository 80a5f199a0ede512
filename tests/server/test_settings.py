from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from payi_server.settings import SettingsError, load_settings, resolve_secret


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PAYI_SERVER_PORT", "eighty"),
        ("PAYI_SERVER_PORT", "70000"),
        ("PAYI_SERVER_WORKERS", "0"),
        ("PAYI_SERVER_LOG_LEVEL", "loud"),
        ("PAYI_SERVER_DATABASE_URL", "mysql://x"),
        ("PAYI_SERVER_KEY_REFRESH_INTERVAL", "-1"),
    ],
)
def test_malformed_variable_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert name in str(info.value)


def test_defaults_use_sqlite_under_data(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("PAYI_SERVER_"):
            monkeypatch.delenv(key)
    settings = load_settings()
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert settings.sqlalchemy_url == "sqlite+aiosqlite:///data/payi.db"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h:5432/db", "postgresql+asyncpg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
    ],
)
def test_database_url_gets_the_async_driver(given: str, expected: str) -> None:
    assert load_settings(database_url=given).sqlalchemy_url == expected


def test_generated_secret_is_private_and_stable(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    first = resolve_secret(settings)
    path = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 48
    assert resolve_secret(settings) == first


def test_world_readable_secret_is_refused(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    resolve_secret(settings)
    (tmp_path / "secret.key").chmod(0o644)
    with pytest.raises(SettingsError, match="owner only"):
        resolve_secret(settings)


def test_explicit_secret_wins_and_must_be_long(tmp_path: Path) -> None:
    assert resolve_secret(load_settings(data_dir=tmp_path, secret_key="s" * 40)) == b"s" * 40
    assert not (tmp_path / "secret.key").exists()
    with pytest.raises(SettingsError, match="PAYI_SERVER_SECRET_KEY"):
        resolve_secret(load_settings(data_dir=tmp_path, secret_key="short"))
