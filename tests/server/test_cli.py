"""The management commands of ``payi-server`` with --json output, on both databases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from payi_server.cli import app

from ..conftest import BACKENDS
from .conftest_helpers import cli_env


def _run(runner: CliRunner, env: dict[str, str], *args: str) -> Any:
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_apps_and_keys_commands(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    env = cli_env(database_url, tmp_path)
    created = _run(runner, env, "apps", "create", "billing-prod", "--store-prompts", "--json")
    assert created["application"]["name"] == "billing-prod"
    assert [k["slot"] for k in created["keys"]] == [1, 2]
    assert all(k["key"].startswith("payi_app_") for k in created["keys"])

    apps = _run(runner, env, "apps", "list", "--json")
    assert {a["name"] for a in apps} == {"default", "billing-prod"}

    keys = _run(runner, env, "keys", "list", "--app", "billing-prod", "--json")
    assert sorted(k["slot"] for k in keys) == [1, 2]
    assert all("key" not in k for k in keys)

    new = _run(runner, env, "keys", "regenerate", "billing-prod", "--slot", "1", "--json")
    assert new["slot"] == 1 and new["key"].startswith("payi_app_")
    old_slot1 = next(k for k in keys if k["slot"] == 1)
    revoked = _run(runner, env, "keys", "list", "--app", "billing-prod", "--include-revoked", "--json")
    assert next(k for k in revoked if k["key_id"] == old_slot1["key_id"])["revoked_at"] is not None

    expired = _run(runner, env, "keys", "expire", new["key_id"], "--at", "2030-01-01T00:00:00Z", "--json")
    assert expired["expires_at"].startswith("2030-01-01")
    org_key = _run(runner, env, "keys", "create-org", "--label", "ci", "--json")
    assert org_key["key"].startswith("payi_org_")
    gone = _run(runner, env, "keys", "revoke", org_key["key_id"], "--json")
    assert gone["revoked_at"] is not None
    deleted = _run(runner, env, "apps", "delete", "billing-prod", "--json")
    assert deleted["name"] == "billing-prod"
    assert {a["name"] for a in _run(runner, env, "apps", "list", "--json")} == {"default"}


def test_deployments_commands(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    env = cli_env(database_url, tmp_path)
    _run(runner, env, "apps", "create", "azure-prod", "--json")
    refused = runner.invoke(app, ["deployments", "set", "azure-prod", "prod-chat", "no-such-model"], env=env)
    assert refused.exit_code == 1 and "resource_not_found" in refused.output
    mapped = _run(runner, env, "deployments", "set", "azure-prod", "prod-chat", "gpt-4o", "--json")
    assert (mapped["deployment"], mapped["model"], mapped["category"]) == ("prod-chat", "gpt-4o", "system.azureopenai")
    remapped = _run(runner, env, "deployments", "set", "azure-prod", "prod-chat", "gpt-4o-mini", "--json")
    assert remapped["model"] == "gpt-4o-mini"
    listed = _run(runner, env, "deployments", "list", "azure-prod", "--json")
    assert [(d["deployment"], d["model"]) for d in listed] == [("prod-chat", "gpt-4o-mini")]
    table = runner.invoke(app, ["deployments", "list", "azure-prod"], env={**env, "COLUMNS": "80"})
    assert table.exit_code == 0 and "prod-chat" in table.output and "gpt-4o-mini" in table.output
    removed = runner.invoke(app, ["deployments", "remove", "azure-prod", "prod-chat"], env=env)
    assert removed.exit_code == 0, removed.output
    assert _run(runner, env, "deployments", "list", "azure-prod", "--json") == []
    again = runner.invoke(app, ["deployments", "remove", "azure-prod", "prod-chat"], env=env)
    assert again.exit_code == 1 and "deployment_not_found" in again.output


@pytest.mark.parametrize(
    "args",
    [
        ["apps", "delete", "no-such-app"],
        ["keys", "revoke", "987654"],
        ["keys", "expire", "1", "--at", "not-a-date"],
        ["keys", "regenerate", "default", "--slot", "3"],
    ],
)
def test_cli_errors_are_clear(database_url: str, tmp_path: Path, args: list[str]) -> None:
    result = CliRunner().invoke(app, args, env=cli_env(database_url, tmp_path))
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def test_malformed_setting_is_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["apps", "list"], env={"PAYI_SERVER_PORT": "x", "PAYI_SERVER_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "PAYI_SERVER_PORT" in result.output


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrate_prepares_an_empty_database_with_the_price_catalog(backend: str, tmp_path: Path) -> None:
    """``payi-server migrate`` brings in the price catalog too: with ``PAYI_SERVER_MIGRATE_ON_START=false`` (and in
    the workers ``serve`` starts) a process never does it at start."""
    import asyncio
    import uuid

    from tests.conftest import _pg_exec, _with_db, pg_base_url

    if backend == "sqlite":
        url, drop = f"sqlite:///{tmp_path / 'empty.db'}", None
    else:
        base = pg_base_url()
        if not base:
            pytest.skip("PostgreSQL runs need PAYI_TEST_DATABASE_URL")
        name = f"payi_empty_{uuid.uuid4().hex[:8]}"
        asyncio.run(_pg_exec(base, f"CREATE DATABASE {name}"))
        url, drop = _with_db(base, name), f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    try:
        runner = CliRunner()
        env = cli_env(url, tmp_path)
        first = runner.invoke(app, ["migrate"], env=env)
        assert first.exit_code == 0, first.output
        added = int(first.stdout.split("price catalog synced: ")[1].split(" ")[0])
        assert added > 100, first.stdout
        again = runner.invoke(app, ["migrate"], env=env)
        assert again.exit_code == 0 and "price catalog synced" not in again.stdout, again.output
    finally:
        if drop and (base := pg_base_url()):
            asyncio.run(_pg_exec(base, drop))
