"""Our proxy beside the floor of its own stack (``benchmarks.floor``), on the same fake upstream, in one run.

    .venv/bin/python -m benchmarks.bench_floor [--duration 10] [--connections 50] [--database-url URL]
        [--warmup 3] [--output FILE]

Starts the fake OpenAI upstream, the floor app (uvicorn + uvloop + httptools, one worker) and ``payi-server serve``
(one worker; SQLite unless ``--database-url``; authentication, pricing and recording on, no limit). For a JSON chat
completion and for a streamed one (SSE):

- sequential: one connection, the fake called directly, through the floor and through ours; the added latency is
  each minus direct (p50, p99); for SSE the time to the first streamed chunk;
- under load: ``wrk`` at ``--connections`` (``benchmarks.loadgen`` without wrk) after ``--warmup`` seconds of it:
  requests/s, p50, p99, and the CPU a call cost each process (``/proc``, all threads): the proxy (floor or ours),
  the fake upstream and ``wrk``. On a machine the three share, the floor's rate is bounded by their sum, ours by
  its own main thread (the event loop): the figures say how far a ratio can go on this machine.

Prints a table with ours / floor ratios and the issue's targets (throughput >= 70% of the floor's, added p50 <=
floor + 0.25 ms, p99 <= 3 x p50 under load), and writes ``--output`` (``benchmarks/results/floor-<date>.json`` by
default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.bench_pair import thread_cpu
from benchmarks.bench_proxy import BODY, STREAM_BODY, fake_upstream
from benchmarks.loadgen import run
from benchmarks.wrk import load, loader
from tests.e2e.servers import free_port, run_server, stop

RESULTS = Path(__file__).parent / "results"
OPENAI_PATH = "/v1/chat/completions"
PROXY_PATH = "/api/v1/proxy/openai" + OPENAI_PATH
JSON_HEADERS = {"content-type": "application/json"}


@contextmanager
def floor_app(upstream: str) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "benchmarks.floor:app", "--port", str(port), "--loop", "uvloop",
               "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    process = subprocess.Popen(command, env={**os.environ, "FLOOR_UPSTREAM": upstream},
                               cwd=Path(__file__).parent.parent, start_new_session=True, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the floor app did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def child_pid(pattern: str) -> int | None:
    """The pid of this process's child whose command line holds ``pattern`` (the fake upstream, the floor app)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == os.getpid() and \
                    pattern in (entry / "cmdline").read_text().replace("\0", " "):
                return int(entry.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


def loaded(url: str, headers: dict[str, str], body: bytes, connections: int, duration: float, warmup: float,
           pids: dict[str, int | None]) -> dict[str, Any]:
    """``load`` after ``warmup`` seconds of it, and the CPU each of ``pids`` and the load generator spent a call."""
    if warmup > 0:
        load(url, headers, body, connections, warmup, warmup=0)
    before = {name: thread_cpu(pid)[1] for name, pid in pids.items() if pid is not None}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = asdict(load(url, headers, body, connections, duration, warmup=0))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    calls = max(1, result["requests"])
    cpu = {name: round((thread_cpu(pids[name])[1] - used) / calls * 1e6, 1)  # type: ignore[arg-type]
           for name, used in before.items()}
    if shutil.which("wrk"):
        used = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
        cpu["wrk"] = round(used / calls * 1e6, 1)
    result["cpu_us_per_call"] = cpu
    return result


def sequential(urls: dict[str, tuple[str, dict[str, str]]], body: bytes, stream: bool, duration: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (url, headers) in urls.items():
        result = asyncio.run(run(name, url, method="POST", headers=headers, body=body, concurrency=1,
                                 duration=duration, first_chunk=stream))
        out[name] = {"p50_ms": round(result.pct(50), 3), "p99_ms": round(result.pct(99), 3),
                     "requests": len(result.latencies_ms), "errors": result.errors}
    for name in urls:
        if name != "direct":
            out[name]["added_p50_ms"] = round(out[name]["p50_ms"] - out["direct"]["p50_ms"], 3)
            out[name]["added_p99_ms"] = round(out[name]["p99_ms"] - out["direct"]["p99_ms"], 3)
    return out


def table(results: dict[str, Any]) -> str:
    lines = [
        f"One worker each; loader {results['loader']}, {results['connections']} connections, "
        f"{results['duration_s']:g} s per run; sequential: one connection, added = minus calling the fake directly.",
        "",
        "| call | measure | floor | ours | ours / floor | target |",
        "|---|---|---|---|---|---|",
    ]
    for kind in ("json", "sse"):
        seq, loaded = results[kind]["sequential"], results[kind]["load"]
        what = "added to the first chunk" if kind == "sse" else "added"
        f50, o50 = seq["floor"]["added_p50_ms"], seq["ours"]["added_p50_ms"]
        lines.append(f"| {kind} | sequential {what}, p50 ms | {f50:.2f} | {o50:.2f} | +{o50 - f50:.2f} ms | "
                     f"<= floor + 0.25 ms |")
        f99, o99 = seq["floor"]["added_p99_ms"], seq["ours"]["added_p99_ms"]
        lines.append(f"| {kind} | sequential {what}, p99 ms | {f99:.2f} | {o99:.2f} | | |")
        frps, orps = loaded["floor"]["rps"], loaded["ours"]["rps"]
        ratio = orps / frps if frps else 0.0
        lines.append(f"| {kind} | {results['connections']} connections, req/s | {frps:,.0f} | {orps:,.0f} | "
                     f"{ratio:.2f}x | >= 0.70x |")
        for name in ("floor", "ours"):
            p50, p99 = loaded[name]["p50_ms"], loaded[name]["p99_ms"]
            loaded[name]["p99_over_p50"] = round(p99 / p50, 2) if p50 else None
        lines.append(f"| {kind} | {results['connections']} connections, p50 / p99 ms | "
                     f"{loaded['floor']['p50_ms']:.1f} / {loaded['floor']['p99_ms']:.1f} | "
                     f"{loaded['ours']['p50_ms']:.1f} / {loaded['ours']['p99_ms']:.1f} | "
                     f"p99 = {loaded['ours']['p99_over_p50']}x p50 | p99 <= 3x p50 |")
        cpu = {name: loaded[name].get("cpu_us_per_call", {}) for name in ("floor", "ours")}
        if cpu["floor"].get("proxy") and cpu["ours"].get("proxy"):
            def spent(side: dict[str, float]) -> str:
                return " / ".join(f"{side[k]:.0f}" for k in ("proxy", "upstream", "wrk") if k in side)

            lines.append(f"| {kind} | CPU a call, us: proxy / fake upstream / wrk | {spent(cpu['floor'])} | "
                         f"{spent(cpu['ours'])} | {cpu['ours']['proxy'] / cpu['floor']['proxy']:.2f}x the floor's | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temporary directory")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before each measured one")
    parser.add_argument("--output", default="", help="default: benchmarks/results/floor-<date>.json")
    args = parser.parse_args()
    results: dict[str, Any] = {"date": date.today().isoformat(), "loader": loader(), "connections": args.connections,
                               "duration_s": args.duration}
    with tempfile.TemporaryDirectory() as tmp, fake_upstream() as fake_url, floor_app(fake_url) as floor_url:
        env = {"PAYI_SERVER_OPENAI_BASE_URL": fake_url + "/v1", "PAYI_SERVER_ALLOW_PRIVATE_PROVIDER_HOSTS": "true",
               "PAYI_SERVER_ACCESS_LOG": "false", "PAYI_SERVER_LOG_LEVEL": "warning", "PAYI_SERVER_WORKERS": "1"}
        if args.database_url:
            env["PAYI_SERVER_DATABASE_URL"] = args.database_url
        with run_server(Path(tmp) / "srv", env) as server:
            ours_headers = {**JSON_HEADERS, "xProxy-Api-Key": server.keys["app1"], "authorization": "Bearer sk-bench"}
            urls = {
                "direct": (fake_url + OPENAI_PATH, JSON_HEADERS),
                "floor": (floor_url + OPENAI_PATH, JSON_HEADERS),
                "ours": (server.url + PROXY_PATH, ours_headers),
            }
            upstream = child_pid("tests.fakes.upstream")
            proxies = {"floor": child_pid("benchmarks.floor:app"), "ours": server.process.pid}
            for kind, body in (("json", BODY), ("sse", STREAM_BODY)):
                print(f"measuring {kind} ...", file=sys.stderr, flush=True)
                results[kind] = {
                    "sequential": sequential(urls, body, kind == "sse", args.duration),
                    "load": {name: loaded(urls[name][0], urls[name][1], body, args.connections, args.duration,
                                          args.warmup, {"proxy": proxies[name], "upstream": upstream})
                             for name in ("floor", "ours")},
                }
    results["table"] = table(results)
    RESULTS.mkdir(exist_ok=True)
    path = Path(args.output) if args.output else RESULTS / f"floor-{results['date']}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(results["table"])
    print(f"\nwritten to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
