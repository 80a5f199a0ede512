"""``payi-server users ...`` and the first admin printed at first start."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from payi_server.cli import app
from payi_server.settings import Settings
from payi_server.web.accounts import Accounts

from ...conftest import Running
from ..conftest_helpers import cli_env
from .helpers import new_client, sign_in


async def _cli(settings: Settings, tmp_path: Path, *args: str, input: str | None = None) -> Any:
    env = cli_env(settings.database_url, tmp_path)
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env, input=input)


async def test_create_list_set_password_and_delete(running: Running, settings: Settings, tmp_path: Path) -> None:
    result = await _cli(settings, tmp_path, "users", "create", "--email", "Ann@Example.com", "--role", "admin",
                        "--generate-password", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout.strip().splitlines()[-1])
    assert created["email"] == "ann@example.com" and created["role"] == "admin"
    client = await new_client(running)
    try:
        assert (await sign_in(client, "ann@example.com", created["password"])).status_code == 303

        result = await _cli(settings, tmp_path, "users", "create", "--email", "viv@example.com",
                            input="a long passphrase\na long passphrase\n")
        assert result.exit_code == 0, result.output
        assert "a long passphrase" not in result.stdout.splitlines()[-1]
        listed = json.loads((await _cli(settings, tmp_path, "users", "list", "--json")).stdout.strip().splitlines()[-1])
        assert [(u["email"], u["role"]) for u in listed] == [("ann@example.com", "admin"), ("viv@example.com", "viewer")]
        assert all("password" not in u and "password_hash" not in u for u in listed)

        result = await _cli(settings, tmp_path, "users", "set-password", "ann@example.com",
                            input="another passphrase\nanother passphrase\n")
        assert result.exit_code == 0, result.output
        assert (await client.get("/")).status_code == 303  # sessions ended with the old password
        assert (await sign_in(client, "ann@example.com", created["password"])).status_code == 401
        assert (await sign_in(client, "ann@example.com", "another passphrase")).status_code == 303

        assert (await _cli(settings, tmp_path, "users", "delete", "viv@example.com")).exit_code == 0
        assert (await _cli(settings, tmp_path, "users", "delete", "viv@example.com")).exit_code == 1
        duplicate = await _cli(settings, tmp_path, "users", "create", "--email", "ann@example.com", "--generate-password")
        assert duplicate.exit_code == 1 and "exists" in duplicate.output
        short = await _cli(settings, tmp_path, "users", "create", "--email", "x@example.com", input="short\nshort\n")
        assert short.exit_code == 1
        bad_role = await _cli(settings, tmp_path, "users", "create", "--email", "x@example.com", "--role", "root")
        assert bad_role.exit_code == 2
    finally:
        await client.aclose()


async def test_first_admin_is_created_once(running: Running) -> None:
    accounts = Accounts(running.state.db)
    first = await accounts.ensure_first_admin(running.boot.org_id)
    assert first is not None and first[0] == "admin@localhost" and len(first[1]) >= 16
    assert await accounts.ensure_first_admin(running.boot.org_id) is None
    client = await new_client(running)
    try:
        assert (await sign_in(client, first[0], first[1])).status_code == 303
    finally:
        await client.aclose()
