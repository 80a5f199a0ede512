"""Closed-loop HTTP load with ``wrk`` (Debian package) where it is installed, else ``benchmarks.loadgen``.

wrk is C: at 50 connections on this 2-core machine it leaves the server most of the CPU, where the Python load
generator (running in the benchmark's own process) takes about a core. ``load`` runs a warm-up that is not
measured, then the measured run, and returns requests/s, p50, p99 and the failed count.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.loadgen import run

# wrk's report as one JSON line: latencies in microseconds; "failed" counts socket errors, timeouts and
# answers other than 2xx/3xx (those are in "requests" too).
_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "us": %d, "p50_us": %.1f, "p99_us": %.1f, "failed": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    failed: int  # socket errors, timeouts and answers other than 2xx/3xx


def loader() -> str:
    return "wrk" if shutil.which("wrk") else "benchmarks.loadgen"


def _lua(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid Lua string literal for what we send (ASCII, escaped)


def _wrk(url: str, headers: dict[str, str], body: bytes, connections: int, seconds: int) -> Load:
    with tempfile.TemporaryDirectory() as tmp:
        body_file = Path(tmp) / "body"
        body_file.write_bytes(body)
        lines = [
            'wrk.method = "POST"',
            f"local f = io.open({_lua(str(body_file))}, 'rb'); wrk.body = f:read('*a'); f:close()",
        ]
        lines += [f"wrk.headers[{_lua(name)}] = {_lua(value)}" for name, value in headers.items()]
        script = Path(tmp) / "load.lua"
        script.write_text("\n".join(lines) + _DONE)
        command = ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{seconds}s",
                   "--timeout", "10s", "-s", str(script), url]
        out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    return Load(
        rps=round(report["requests"] / (report["us"] / 1e6), 1),
        p50_ms=round(report["p50_us"] / 1000, 3),
        p99_ms=round(report["p99_us"] / 1000, 3),
        requests=report["requests"],
        failed=report["failed"],
    )


def load(url: str, headers: dict[str, str], body: bytes, connections: int, duration: float,
         warmup: float = 3.0) -> Load:
    """POST ``body`` at ``connections`` for ``duration`` seconds after a ``warmup`` that is not measured."""
    if shutil.which("wrk"):
        if warmup > 0:
            _wrk(url, headers, body, connections, max(1, round(warmup)))
        return _wrk(url, headers, body, connections, max(1, round(duration)))
    result = asyncio.run(run("load", url, method="POST", headers=headers, body=body,
                             concurrency=connections, duration=duration, warmup=warmup))
    failed = result.errors + sum(n for status, n in result.statuses.items() if not 200 <= status < 400)
    return Load(rps=round(result.rps, 1), p50_ms=round(result.pct(50), 3), p99_ms=round(result.pct(99), 3),
                requests=len(result.latencies_ms), failed=failed)
