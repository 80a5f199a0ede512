"""The README's soak command runs as written: a few seconds of it, end to end, against a real server.

The soak had stopped working unnoticed: it created its limits with a max the API had since learned to refuse.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not os.environ.get("PAYI_TEST_DATABASE_URL"), reason="the soak runs on PostgreSQL")
def test_a_short_soak_runs_and_records_every_call(tmp_path: Path) -> None:
    output = tmp_path / "soak.json"
    admin_url = os.environ["PAYI_TEST_DATABASE_URL"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--minutes", "0.1", "--window", "2", "--sample", "1",
         "--concurrency", "8", "--admin-url", admin_url, "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(output.read_text())
    assert result["requests"] > 0 and result["failed"] == 0
    # every answered call, warm-up included, is in the request log
    assert result["recorded_in_db"]["requests"] == result["requests"] + result["warmup_requests"]
    assert result["memory"]["rss_total_peak_mb"] > 0


@pytest.mark.parametrize("database", ["sqlite", "postgresql", "sqlite-streams"])
def test_the_pair_benchmark_measures_two_servers_at_once(database: str, tmp_path: Path) -> None:
    """``bench_pair`` as documented: one short round, side B naming the limit; both sides answered calls and each
    has its CPU per call. ``--pg``: each side on a database of its own; ``--stream``: streamed calls."""
    stream = database.endswith("-streams")
    database = database.removesuffix("-streams")
    pg = os.environ.get("PAYI_TEST_DATABASE_URL", "")
    if database == "postgresql" and not pg:
        pytest.skip("PAYI_TEST_DATABASE_URL is not set")
    output = tmp_path / "pair.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_pair", "--rounds", "1", "--duration", "1", "--connections", "4",
         "--b-limit", "--output", str(output), *(["--pg", pg] if database == "postgresql" else []),
         *(["--stream"] if stream else [])],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(output.read_text())
    assert result["database"] == database and result["stream"] is stream
    assert result["sides"]["A"]["limit"] is False and result["sides"]["B"]["limit"] is True
    [round_] = result["rounds"]
    for side in ("A", "B"):
        assert round_[side]["requests"] > 0 and round_[side]["failed"] == 0
        assert result["per_call"][side]["all_us"] >= result["per_call"][side]["main_us"] > 0
    assert "B - A:" in done.stdout


@pytest.mark.skipif(not os.environ.get("PAYI_TEST_DATABASE_URL"), reason="the request log is partitioned on PostgreSQL")
def test_the_request_log_benchmark_sweeps_months_and_times_the_lock(tmp_path: Path) -> None:
    """``bench_requestlog --retention-only --months N`` as documented, on a small fill: each month's sweep drops
    its days, and the probe's longest wait for an insert's lock on the log is recorded."""
    output = tmp_path / "requestlog.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_requestlog", "--rows", "200000", "--chunk", "100000",
         "--retention-only", "--months", "2", "--admin-url", os.environ["PAYI_TEST_DATABASE_URL"],
         "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    retention = json.loads(output.read_text())["retention"]
    assert [sweep["complete"] for sweep in retention["sweeps"]] == [True, True]
    for sweep in retention["sweeps"]:
        assert sweep["removed"]["partitions"] >= 29 and sweep["rows_deleted"] > 0
        assert 0 < sweep["lock_wait_max_ms"] < sweep["seconds"] * 1000
    assert retention["seconds"] == retention["sweeps"][0]["seconds"]


def test_the_floor_benchmark_runs_the_floor_and_ours_side_by_side(tmp_path: Path) -> None:
    """``bench_floor`` as documented, one second a measure: the floor and our proxy both answered JSON and streamed
    calls sequentially and under load, and the CPU a call cost the proxy and the fake upstream is counted."""
    output = tmp_path / "floor.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_floor", "--duration", "1", "--warmup", "0", "--connections", "4",
         "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(output.read_text())
    for kind in ("json", "sse"):
        for name in ("floor", "ours"):
            run = result[kind]["load"][name]
            assert run["requests"] > 0 and run["failed"] == 0
            assert run["cpu_us_per_call"]["proxy"] > 0 and run["cpu_us_per_call"]["upstream"] > 0
            assert result[kind]["sequential"][name]["requests"] > 0
    assert ">= 0.70x" in done.stdout and "CPU a call" in done.stdout


def test_the_stream_processor_benchmark_compares_both_paths() -> None:
    """``bench_stream_processor`` as documented, on a short stream: a row per read shape, both paths timed (it
    checks first that their outputs are equal, and fails if not)."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_stream_processor", "--tokens", "20", "--repeat", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    shapes = ("| an event a read |", "| 4 events a read |", "| the stream in one read |")
    rows = [line for line in done.stdout.splitlines() if line.startswith(shapes)]
    assert len(rows) == 3
    for row in rows:
        whole, each = (float(cell.replace(",", "")) for cell in row.strip("| ").split(" | ")[1:])
        assert whole > 0 and each > 0
