"""Proxied throughput and added latency with one hot strict block limit, against the same calls without one.

    .venv/bin/python -m benchmarks.bench_limits [--duration 5] [--connections 50] [--rounds 10] [--only pg|sqlite]
        [--pg postgresql://postgres@127.0.0.1:5432/test] [--redis redis://127.0.0.1:6379/0]

Starts the fake OpenAI upstream (``bench_proxy.fake_upstream``), then, one configuration after the other,
``payi-server serve`` on a fresh database: PostgreSQL with ``--workers 2``, the same with Redis
(``PAYI_SERVER_REDIS_URL``; ``--redis ''`` skips it), and SQLite with 1 worker. In each, the application key
creates one block limit with enforcement ``strict`` and a max of 1e6 USD (``POST /api/v1/limits``; the run
spends far less, so it never blocks), and the same small JSON chat completion (gpt-4o-mini, max_tokens 16,
``/api/v1/proxy/openai/v1/chat/completions``) is measured without a limit, then with every call naming that
limit (``xProxy-Limit-IDs``), so every call contends for it:

- throughput: ``wrk`` (``benchmarks.loadgen`` when wrk is not installed) at ``--connections`` for
  ``--duration`` seconds (whole seconds with wrk), each run after a 1 s warm-up, in ``--rounds`` rounds (10) of
  one run without the limit and one with it, after one 10 s warm-up with the limit (each worker takes its first
  lease; until 2026-12-04 it also built its tokenizer then). The rounds alternate their order (none then limit,
  limit then none), so a drift of the machine during a round weighs on both sides alike. The ratio limit / no limit is taken over all
  rounds (the mean req/s of each side); single runs on a 2-core machine move by 10-20%, and one round's ratio by
  more, so the table also gives the median round's ratio and the middle half of the rounds' ratios (every round
  is in the JSON); req/s is the mean over the rounds, p50 and p99 the median over them; the fake upstream called
  directly the same way gives the ceiling;
- CPU per answered call, over every round: the server's processes (supervisor and workers, read from ``/proc``)
  and the database's (``postgres`` and ``redis-server`` processes). The machine is saturated in these runs, so
  throughput follows the CPU each call costs; per call, that cost moves much less between rounds than the
  throughput does;
- sequential added latency: one connection, proxied minus calling the fake upstream directly, p50 and p99.

Prints a markdown table for the README and writes it, every figure and the errors each server logged to
``benchmarks/results/limits-<date>.json``. A configuration whose server does not start (or that fails) is
reported as failed and the others still run; failed calls, and calls the limit blocked, show in the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx2

from benchmarks.bench_proxy import BODY, _pair, fake_upstream
from benchmarks.wrk import Load, load, loader
from tests.e2e.servers import run_server

LIMIT_ID = "bench-hot"
# Far above what a run spends (about 1e-5 USD a call). Not higher: SQLite holds money as an integer of
# 1e-10 USD, so a max above about 9.2e8 USD cannot be stored there.
LIMIT_MAX = 1_000_000
PROXY_PATH = "/api/v1/proxy/openai/v1/chat/completions"
WARMUP = 1.0  # seconds of load before each measured run (wrk's least)
FIRST_WARMUP = 10.0  # seconds of calls naming the limit, once before the rounds
RESULTS = Path(__file__).parent / "results"
JSON_HEADERS = {"content-type": "application/json"}

@dataclass(frozen=True)
class Config:
    label: str
    backend: str  # "pg" | "sqlite"
    workers: int
    redis: bool = False


CONFIGS = (
    Config("PostgreSQL, 2 workers", "pg", 2),
    Config("PostgreSQL, 2 workers, Redis", "pg", 2, redis=True),
    Config("SQLite, 1 worker", "sqlite", 1),
)


def throughput(url: str, headers: dict[str, str], connections: int, duration: float) -> Load:
    """Closed-loop load at ``connections`` for ``duration`` seconds after a warm-up that is not measured."""
    return load(url, headers, BODY, connections, duration, warmup=WARMUP)


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(server_group: int) -> dict[str, float]:
    """CPU seconds used so far by the server's processes (its process group: supervisor and workers) and by the
    database's (every ``postgres`` and ``redis-server`` process of the machine), from ``/proc``."""
    out = {"server": 0.0, "database": 0.0}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:  # gone meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        used = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
        if int(fields[2]) == server_group:
            out["server"] += used
        elif name in ("postgres", "redis-server"):
            out["database"] += used
    return out


def measured(url: str, headers: dict[str, str], connections: int, duration: float, group: int) -> dict[str, Any]:
    """``throughput``, with the CPU the server and the database used per answered call during the measured part."""
    load(url, headers, BODY, connections, WARMUP, warmup=0)
    before = cpu_seconds(group)
    result = asdict(load(url, headers, BODY, connections, duration, warmup=0))
    after = cpu_seconds(group)
    calls = max(1, result["requests"])
    for name in ("server", "database"):
        result[f"{name}_cpu_ms_per_call"] = round((after[name] - before[name]) * 1000 / calls, 3)
    return result


async def _admin(pg: str, sql: str) -> None:
    conn = await asyncpg.connect(pg)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def database(backend: str, pg: str) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; "" (the server's own SQLite file) for ``sqlite``."""
    if backend == "sqlite":
        yield ""
        return
    name = f"payi_bench_limits_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(pg, f"CREATE DATABASE {name}"))
    try:
        yield pg.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(_admin(pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def create_limit(url: str, key: str, limit_id: str = LIMIT_ID, maximum: float = LIMIT_MAX) -> None:
    body = {"limit_name": limit_id, "limit_id": limit_id, "max": maximum, "limit_type": "block",
            "properties": {"enforcement": "strict"}}
    response = httpx2.post(url + "/api/v1/limits", headers={"xProxy-Api-Key": key}, json=body, timeout=30)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"POST /api/v1/limits answered {response.status_code}: {response.text[:300]}")
    limit = response.json()["limit"]
    if (limit["limit_type"], limit["enforcement"]) != ("block", "strict"):
        raise RuntimeError(f"the benchmark's limit is not a strict block limit: {limit}")


def logged_errors(output: str) -> dict[str, int]:
    """The error lines of the server's JSON log, counted by message (and the last line of their traceback)."""
    counts: Counter[str] = Counter()
    for line in output.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "critical"):
            exc = str(entry.get("exc", "")).strip()
            counts[str(entry.get("msg")) + (": " + exc.splitlines()[-1] if exc else "")] += 1
    return dict(counts.most_common(5))


def summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each side over all rounds (req/s the mean, p50 and p99 the median, calls summed), the ratio of the sides'
    mean req/s, and the rounds' own ratios: their median and middle half."""
    out: dict[str, Any] = {}
    for side in ("no_limit", "limit"):
        runs = [r[side] for r in rounds]
        out[side] = {
            "rps": round(statistics.fmean(r["rps"] for r in runs), 1),
            "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 3),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 3),
            "requests": sum(r["requests"] for r in runs),
            "failed": sum(r["failed"] for r in runs),
        }
    ratios = sorted(r["ratio"] for r in rounds if r["ratio"] is not None)
    out["ratio"] = round(out["limit"]["rps"] / out["no_limit"]["rps"], 3) if out["no_limit"]["rps"] else None
    if ratios:
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        out["round_ratios"] = {"median": round(statistics.median(ratios), 3),
                               "middle_half": [round(quartiles[0], 3), round(quartiles[2], 3)],
                               "all": ratios}
    return out


def measure(
    config: Config, args: argparse.Namespace, fake_url: str, workdir: Path, result: dict[str, Any]
) -> None:
    """Fills ``result`` as it goes, so that a failure keeps what was measured and what the server logged."""
    result.update(workers=config.workers, database=config.backend, redis=config.redis)
    with database(config.backend, args.pg) as database_url:
        env = {
            "PAYI_SERVER_OPENAI_BASE_URL": fake_url + "/v1",
            "PAYI_SERVER_ALLOW_PRIVATE_PROVIDER_HOSTS": "true",
            "PAYI_SERVER_ACCESS_LOG": "false",
            "PAYI_SERVER_LOG_LEVEL": "warning",
            "PAYI_SERVER_WORKERS": str(config.workers),
            "PAYI_SERVER_DATABASE_URL": database_url,
        }
        if config.redis:
            env["PAYI_SERVER_REDIS_URL"] = args.redis
            env["PAYI_SERVER_REDIS_PREFIX"] = f"payi-bench-{uuid.uuid4().hex[:8]}"
        with run_server(workdir, env) as server:
            try:
                key = server.keys["app1"]
                create_limit(server.url, key)
                proxied = server.url + PROXY_PATH
                plain = {**JSON_HEADERS, "xProxy-Api-Key": key, "authorization": "Bearer sk-bench"}
                limited = {**plain, "xProxy-Limit-IDs": LIMIT_ID}
                rounds: list[dict[str, Any]] = result.setdefault("rounds", [])
                group = server.process.pid  # the server leads its own process group (its workers are in it)
                # Once, before the rounds: each worker takes its first lease (and, until the tokenizer was built only
                # near a limit's max, built it: about a second of CPU, which once fell into the first round).
                load(proxied, limited, BODY, args.connections, FIRST_WARMUP, warmup=0)
                for i in range(args.rounds):
                    # none then limit, then limit then none: a drift of the machine weighs on both sides alike
                    sides = ("no_limit", "limit") if i % 2 == 0 else ("limit", "no_limit")
                    runs = {side: measured(proxied, limited if side == "limit" else plain, args.connections,
                                           args.duration, group) for side in sides}
                    ratio = round(runs["limit"]["rps"] / runs["no_limit"]["rps"], 3) if runs["no_limit"]["rps"] else None
                    rounds.append({**runs, "ratio": ratio, "order": list(sides)})
                result.update(summary(rounds))
                # CPU per call over every round (the steadier measure of what the limit costs)
                result["cpu_ms_per_call"] = {
                    side: {
                        name: round(
                            sum(r[side][f"{name}_cpu_ms_per_call"] * r[side]["requests"] for r in rounds)
                            / max(1, sum(r[side]["requests"] for r in rounds)),
                            3,
                        )
                        for name in ("server", "database")
                    }
                    for side in ("no_limit", "limit")
                }
                direct = fake_url + "/v1/chat/completions"
                result["sequential"] = {
                    name: asyncio.run(_pair("sequential", direct, proxied, headers, BODY, 1, args.duration))
                    for name, headers in (("no_limit", plain), ("limit", limited))
                }
                answer = httpx2.get(f"{server.url}/api/v1/limits/{LIMIT_ID}", headers={"xProxy-Api-Key": key})
                limit = answer.json()["limit"]
                result["limit_after"] = {"totals": limit["totals"], "reserved": limit["reserved"]}
            finally:
                result["server_errors"] = logged_errors(server.output)


def _cells(load: dict[str, Any]) -> list[str]:
    if not load["requests"]:
        return ["0 (no call answered)", "-", "-"]
    failed = f" ({load['failed']} failed)" if load["failed"] else ""
    return [f"{load['rps']:,.0f}{failed}", f"{load['p50_ms']:.1f}", f"{load['p99_ms']:.1f}"]


def table(results: dict[str, Any]) -> str:
    lines = [
        f"Loader {results['loader']}, {results['connections']} connections, {results['duration_s']:g} s per "
        f"run, {results.get('rounds', 1)} rounds (no limit and the limit, their order alternating); req/s: the "
        "mean over the rounds, p50 and p99 the median; limit / no limit: the ratio of the mean req/s (the median "
        "round's ratio and the middle half of the rounds' in brackets); CPU per answered call over all rounds: the "
        "server's processes + the database's; added latency: 1 connection, proxied minus direct.",
        "",
        "| configuration | limit | req/s | p50 ms | p99 ms | limit / no limit | CPU ms / call | added p50 ms"
        " | added p99 ms |",
        "|---|---|---|---|---|---|---|---|---|",
        "| fake upstream, direct | - | " + " | ".join(_cells(results["upstream_direct"])) + " | | | | |",
    ]
    for label, result in results["configurations"].items():
        if "error" in result:
            reason = result["error"].strip().splitlines()[-1][:100].replace("|", "/")
            lines.append(f"| {label} | failed: {reason} | | | | | | | |")
            continue
        # far below its max, the limit should block nothing: calls it blocked (in any run, warm-ups too) show
        blocked = result["limit_after"]["totals"]["requests"]["blocked"]
        hot = f"hot strict block ({blocked} blocked)" if blocked else "hot strict block"
        for name, shown in (("no_limit", "none"), ("limit", hot)):
            ratio = ""
            if name == "limit" and result["ratio"] is not None:
                ratio = f"**{result['ratio']:.2f}x**"
                spread = result.get("round_ratios")
                if spread:
                    low, high = spread["middle_half"]
                    ratio += f" ({spread['median']:.2f}x; {low:.2f}-{high:.2f}x)"
            seq = result["sequential"][name]
            cpu = result.get("cpu_ms_per_call", {}).get(name)
            used = f"{cpu['server']:.2f} + {cpu['database']:.2f}" if cpu else ""
            lines.append(f"| {label} | {shown} | " + " | ".join(_cells(result[name]))
                         + f" | {ratio} | {used} | {seq['added_p50_ms']:.2f} | {seq['added_p99_ms']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10,
                        help="throughput rounds per configuration (no limit and the limit, in alternating order)")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="an existing database; each configuration creates and drops its own next to it")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="'' skips that configuration")
    parser.add_argument("--only", choices=("pg", "sqlite"), help="only the PostgreSQL or the SQLite ones")
    args = parser.parse_args()
    configs = [c for c in CONFIGS if args.only in (None, c.backend) and (args.redis or not c.redis)]
    revision = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=False).stdout.strip()
    results: dict[str, Any] = {
        "date": date.today().isoformat(), "revision": revision, "loader": loader(),
        "connections": args.connections, "duration_s": args.duration, "rounds": args.rounds,
        "configurations": {},
    }
    with tempfile.TemporaryDirectory() as tmp, fake_upstream() as fake_url:
        direct = throughput(fake_url + "/v1/chat/completions", JSON_HEADERS, args.connections, args.duration)
        results["upstream_direct"] = asdict(direct)
        for i, config in enumerate(configs):
            print(f"measuring {config.label} ...", file=sys.stderr, flush=True)
            result: dict[str, Any] = {}
            try:
                measure(config, args, fake_url, Path(tmp) / f"server{i}", result)
            except Exception as exc:  # a server that fails must not hide the other configurations
                result["error"] = f"{type(exc).__name__}: {exc}"
                print(f"{config.label} failed: {exc}", file=sys.stderr, flush=True)
            if result.get("server_errors"):
                print(f"{config.label}: the server logged errors: {result['server_errors']}", file=sys.stderr)
            results["configurations"][config.label] = result
    results["table"] = table(results)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"limits-{results['date']}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(results["table"])
    print(f"\nwritten to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
