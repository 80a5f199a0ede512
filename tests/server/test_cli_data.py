"""``payi-server retention ...`` and ``payi-server erase`` with --json output, on both databases, against a running
server's database."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from payi_server.cli import app

from ..conftest import Running
from .conftest_helpers import cli_env
from .reports.data import event, ingest, price, report


async def _cli(env: dict[str, str], *args: str, code: int = 0) -> Any:
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout.strip().splitlines()[-1]) if code == 0 and "--json" in args else result.output


async def test_retention_and_erase_commands(running: Running, tmp_path: Path) -> None:
    env = cli_env(running.state.settings.database_url, tmp_path)
    await price(running)
    old = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    new = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    await ingest(running, [event(old, 1000, user_id="ann"), event(new, 2000, user_id="ann"), event(new, 4000)])

    shown = await _cli(env, "retention", "show", "--json")
    assert [(r["name"], r["request_days"], r["effective_request_days"]) for r in shown] == [("default", None, None)]
    changed = await _cli(env, "retention", "set", "default", "--requests", "30", "--payloads", "7", "--json")
    assert (changed["request_days"], changed["payload_days"]) == (30, 7)
    assert (await _cli(env, "retention", "show", "default", "--json"))[0]["effective_payload_days"] == 7
    assert "invalid_days" in await _cli(env, "retention", "set", "default", "--requests", "-3", code=1)
    assert "nothing_to_change" in await _cli(env, "retention", "set", "default", code=1)

    ran = await _cli(env, "retention", "run", "--json")
    assert (ran["applications"], ran["requests"], ran["payloads"]) == (1, 1, 0)
    status = await _cli(env, "retention", "status", "--json")
    assert status["running"] is False and status["result"]["requests"] == 1 and status["finished_at"]
    assert status["request_days"] is None and status["interval_seconds"] == 3600
    back = await _cli(env, "retention", "set", "default", "--requests", "default", "--json")
    assert back["request_days"] is None and back["payload_days"] == 7

    totals = (await report(running, running.org_key, start=old, bucket="total"))["totals"]
    erased = await _cli(env, "erase", "default", "--user", "ann", "--json")
    assert erased == {"requests_anonymised": 1, "payloads_deleted": 0, "rollup_rows_merged": 2}
    assert (await report(running, running.org_key, start=old, bucket="total"))["totals"] == totals
    by_user = await report(running, running.org_key, start=old, bucket="total", group_by="user")
    assert [(r["user"], r["cost_total"]) for r in by_user["rows"]] == [(None, 7.0)]
    assert "one of --user or --account" in await _cli(env, "erase", "default", code=2)
    assert "application_not_found" in await _cli(env, "erase", "nope", "--account", "x", code=1)
