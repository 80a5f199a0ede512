"""``payi-server export requests|report`` on both databases, against events ingested through the API."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from payi_server.cli import app
from payi_server.settings import Settings

from ...conftest import Running
from ..conftest_helpers import cli_env
from .data import create_app, event, ingest, price


async def _cli(settings: Settings, tmp_path: Path, *args: str) -> Any:
    env = cli_env(settings.database_url, tmp_path)
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    return result


async def test_export_requests_and_report_files(running: Running, settings: Settings, tmp_path: Path) -> None:
    await price(running)
    _second, second_key = await create_app(running, "second")
    await ingest(running, [event(f"2026-04-01T{h:02d}:10:00Z", 1000, user_id=f"u{h % 2}") for h in range(6)])
    await ingest(running, [event("2026-04-01T03:00:00Z", 5000, user_id="other-app")], key=second_key)

    out = tmp_path / "requests.jsonl"
    result = await _cli(settings, tmp_path, "export", "requests", "--output", str(out), "--start", "2026-04-01",
                        "--end", "2026-04-02", "--app", "default", "--filter", "user=u1")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["user_id"] for r in rows] == ["u1", "u1", "u1"]
    assert "wrote 3 requests" in result.output

    out_csv = tmp_path / "all.csv"
    result = await _cli(settings, tmp_path, "export", "requests", "-o", str(out_csv), "--format", "csv",
                        "--start", "2026-04-01T00:00:00Z", "--end", "2026-04-02T00:00:00Z")
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert len(table) == 7 and table[0]["event_timestamp"].startswith("2026-04-01T00:10:00")

    report = tmp_path / "report.csv"
    result = await _cli(settings, tmp_path, "export", "report", "-o", str(report), "--start", "2026-04-01",
                        "--end", "2026-04-02", "--bucket", "total", "--group-by", "application", "--group-by", "user")
    assert result.exit_code == 0, result.output
    by = {(r["application_name"], r["user"]): r["cost_total"] for r in csv.DictReader(io.StringIO(report.read_text()))}
    assert by == {("default", "u0"): "3.0000000000", ("default", "u1"): "3.0000000000",
                  ("second", "other-app"): "5.0000000000"}

    as_json = tmp_path / "report.json"
    result = await _cli(settings, tmp_path, "export", "report", "-o", str(as_json), "--format", "json",
                        "--start", "2026-03-31T22:00:00", "--end", "2026-04-02", "--tz", "Europe/Paris")
    assert result.exit_code == 0, result.output
    body = json.loads(as_json.read_text())
    assert body["timezone"] == "Europe/Paris" and body["totals"]["cost_total"] == 11.0


async def test_export_refuses_bad_arguments(running: Running, settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "x"
    for args in (
        ["export", "requests", "-o", str(out), "--format", "xml"],
        ["export", "requests", "-o", str(out), "--filter", "nonsense"],
        ["export", "report", "-o", str(out), "--start", "yesterday"],
    ):
        result = await _cli(settings, tmp_path, *args)
        assert result.exit_code == 2, (args, result.output)
    result = await _cli(settings, tmp_path, "export", "report", "-o", str(out), "--group-by", "colour")
    assert result.exit_code == 1 and "Unknown dimension" in result.output
