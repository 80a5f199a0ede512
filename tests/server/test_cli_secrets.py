"""A secret the CLI shows once (a new key, a generated password) is printed whole, alone on its own line, never in
a table: on an 80-column terminal, a narrow one, and piped. ``keys list`` stays readable at 80 columns. A first
start on a busy port says so in one line and creates nothing (its keys would have been printed, then lost)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from payi_server.auth.cache import KeyCache
from payi_server.auth.keys import KeyHasher
from payi_server.cli import app
from payi_server.errors import ApiError
from payi_server.settings import load_settings, resolve_secret
from payi_server.store.engine import Database

from .conftest_helpers import cli_env

_KEY = re.compile(r"^payi_(app|org)_[A-Za-z0-9_-]+$")
WIDTHS = [{"COLUMNS": "80"}, {"COLUMNS": "40"}, {"COLUMNS": "80", "FORCE_COLOR": "1", "TTY_COMPATIBLE": "1"}]


def _invoke(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def _key_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if _KEY.match(line)]


def _works(env: dict[str, str], key: str) -> bool:
    """The key as printed is the key as stored: its lookup id and secret verify against the database."""
    settings = load_settings(database_url=env["PAYI_SERVER_DATABASE_URL"], data_dir=Path(env["PAYI_SERVER_DATA_DIR"]),
                             secret_key=env["PAYI_SERVER_SECRET_KEY"])

    async def check() -> bool:
        db = Database(settings.sqlalchemy_url, pool_size=1)
        try:
            await KeyCache(db, KeyHasher(resolve_secret(settings)), max_size=10).authenticate(key)
            return True
        except ApiError:
            return False
        finally:
            await db.dispose()

    return asyncio.run(check())


@pytest.mark.parametrize("width", WIDTHS, ids=["80-columns", "40-columns", "80-columns-terminal"])
def test_new_keys_are_printed_whole_on_their_own_line(database_url: str, tmp_path: Path, width: dict[str, str]) -> None:
    env = {**cli_env(database_url, tmp_path), **width}
    first = _invoke(env, "apps", "list")  # the first use creates the organization and shows its keys
    assert len(_key_lines(first)) == 3 and _works(env, _key_lines(first)[0]), first
    created = _invoke(env, "apps", "create", "billing-prod")
    regenerated = _invoke(env, "keys", "regenerate", "billing-prod", "--slot", "1", "--expires", "2030-01-01T00:00:00Z")
    org = _invoke(env, "keys", "create-org", "--label", "ci")
    for output, count in ((created, 2), (regenerated, 1), (org, 1)):
        keys = _key_lines(output)
        assert len(keys) == count, output
        assert all(len(key) >= 55 for key in keys), output
    assert _works(env, _key_lines(regenerated)[0])
    assert _works(env, _key_lines(org)[0])
    assert _works(env, _key_lines(created)[1])


def test_generated_passwords_are_printed_whole_on_their_own_line(database_url: str, tmp_path: Path) -> None:
    env = {**cli_env(database_url, tmp_path), "COLUMNS": "40"}
    created = _invoke(env, "users", "create", "--email", "ann.long.name@example-company.com", "--role", "admin",
                      "--generate-password")
    reset = _invoke(env, "users", "set-password", "ann.long.name@example-company.com", "--generate-password")
    for output in (created, reset):
        lines = output.splitlines()
        # The password is the line after the one that announces it, alone and whole.
        at = next(i for i, line in enumerate(lines) if "password" in line.lower() and "once" in line.lower())
        assert re.fullmatch(r"\S{12,}", lines[at + 1]), output


def test_keys_list_is_readable_at_80_columns(database_url: str, tmp_path: Path) -> None:
    env = {**cli_env(database_url, tmp_path), "COLUMNS": "80"}
    _invoke(env, "apps", "list")
    _invoke(env, "apps", "create", "billing-prod")
    _invoke(env, "keys", "expire", "1", "--at", "2030-01-01T00:00:00Z")
    listed = _invoke(env, "keys", "list", "--include-revoked")
    keys: list[dict[str, Any]] = json.loads(_invoke(env, "keys", "list", "--include-revoked", "--json"))
    assert all(len(line) <= 80 for line in listed.splitlines()), listed
    assert "…" not in listed, listed
    for key in keys:  # every key's id and whole prefix are on one line of the table
        assert any(str(key["key_id"]) in line and key["prefix"] in line for line in listed.splitlines()), listed
    assert "2030-01-01" in listed


def test_a_busy_port_is_one_line_and_creates_nothing(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url, tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port)], env=env)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and str(port) in lines[0] and "Traceback" not in result.output, result.output
    assert "payi_org_" not in result.output
    # Nothing was created: the next start (port free) creates the organization and shows its keys.
    listed = CliRunner().invoke(app, ["apps", "list", "--json"], env=env)
    assert "First start" in listed.stdout and len(_key_lines(listed.stdout)) == 3, listed.stdout
