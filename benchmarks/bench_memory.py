"""Resident memory of a running server, and what takes it.

    .venv/bin/python -m benchmarks.bench_memory [--workers 2] [--duration 20] [--pg postgresql://...] [--sqlite]

Starts ``payi-server serve`` (PostgreSQL by default, a fresh database) and the fake upstream, then proxies the same
chat completion at 50 connections for ``--duration`` seconds with every call naming one strict block limit far from
its max (each worker holds leases; no tokenizer is built), then for 5 s naming a second one whose max is within
``PREPARE_EXACT_ROOM`` holds of a call (so each worker builds its tokenizer for the exact estimates), and reads
each process's ``Rss`` and ``Pss`` (its share of pages shared with others) from ``/proc/<pid>/smaps_rollup``: at
idle, after the first load and after the second. Then, in fresh interpreters, what the parts cost: the server's
imports, the price catalog, each tokenizer.
Writes ``benchmarks/results/memory-<date>.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.bench_limits import LIMIT_ID, PROXY_PATH, create_limit, database
from benchmarks.bench_proxy import BODY, fake_upstream
from benchmarks.wrk import load
from tests.e2e.servers import run_server

RESULTS = Path(__file__).parent / "results"
NEAR_LIMIT_ID = "bench-near"
NEAR_MAX = 2.0
NEAR_SECONDS = 5.0

# Each in a fresh interpreter: "MB before", "MB after" of the step.
PARTS = {
    "interpreter + the server's imports": "import payi_server.app, payi_server.cli",
    "price catalog (genai-prices seed, in memory)": "from payi_server.pricing.seed import load_seed; load_seed()",
    "tokenizer o200k_base (gpt-4o, gpt-5, o-series)": "from payi_server.proxy.estimate import encoding; "
                                                     "encoding('o200k_base')",
    "tokenizer cl100k_base (gpt-4, gpt-3.5)": "from payi_server.proxy.estimate import encoding; "
                                             "encoding('cl100k_base')",
}
_MEASURE = """
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) / 1024
import payi_server.app, payi_server.cli
before = rss() if {after_imports} else 0.0
{code}
print(before, rss())
"""


def memory(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("Rss", "Pss", "Private_Dirty"):
            out[name.lower() + "_mb"] = round(int(value.split()[0]) / 1024, 1)
    return out


def processes(pid: int) -> dict[str, dict[str, float]]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    found = {"supervisor": memory(pid)}
    for n, child in enumerate(children):
        command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        found[f"worker {n}" if "spawn_main" in command else f"helper {n}"] = memory(int(child))
    return found


def part_costs() -> dict[str, float]:
    costs = {}
    for label, code in PARTS.items():
        first = label.startswith("interpreter")
        script = _MEASURE.format(after_imports="False" if first else "True", code="" if first else code)
        before, after = map(float, subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                                  check=True).stdout.split())
        costs[label] = round(after - before, 1)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sqlite", action="store_true", help="the embedded database instead of PostgreSQL")
    args = parser.parse_args()
    results: dict[str, Any] = {"date": date.today().isoformat(), "workers": args.workers,
                               "database": "sqlite" if args.sqlite else "postgresql", "duration_s": args.duration}
    with tempfile.TemporaryDirectory() as tmp, fake_upstream() as fake_url, \
            database("sqlite" if args.sqlite else "pg", args.pg) as database_url:
        env = {"PAYI_SERVER_OPENAI_BASE_URL": fake_url + "/v1", "PAYI_SERVER_ALLOW_PRIVATE_PROVIDER_HOSTS": "true",
               "PAYI_SERVER_ACCESS_LOG": "false", "PAYI_SERVER_LOG_LEVEL": "warning",
               "PAYI_SERVER_WORKERS": str(args.workers), "PAYI_SERVER_DATABASE_URL": database_url}
        with run_server(Path(tmp) / "srv", env) as server:
            key = server.keys["app1"]
            create_limit(server.url, key)
            results["idle"] = processes(server.process.pid)
            headers = {"content-type": "application/json", "xProxy-Api-Key": key, "authorization": "Bearer sk-bench",
                       "xProxy-Limit-IDs": LIMIT_ID}
            results["load"] = vars(load(server.url + PROXY_PATH, headers, BODY, 50, args.duration, warmup=2))
            results["after_load"] = processes(server.process.pid)
            # A call's byte-counted hold is about 2.6e-5 USD: a max of 2 USD leaves 1,000 < room < 100,000 holds.
            create_limit(server.url, key, NEAR_LIMIT_ID, NEAR_MAX)
            near = {**headers, "xProxy-Limit-IDs": NEAR_LIMIT_ID}
            results["load_near"] = vars(load(server.url + PROXY_PATH, near, BODY, 50, NEAR_SECONDS, warmup=0))
            results["after_load_near"] = processes(server.process.pid)
    results["parts_mb"] = part_costs()
    lines = ["| process | idle RSS MB | after load RSS / PSS MB | after a limit near its max RSS / PSS MB |",
             "|---|---|---|---|"]
    for name, after in results["after_load"].items():
        idle = results["idle"].get(name, {})
        nearer = results["after_load_near"].get(name, {})
        lines.append(f"| {name} | {idle.get('rss_mb', '-')} | {after['rss_mb']} / {after['pss_mb']} | "
                     f"{nearer.get('rss_mb', '-')} / {nearer.get('pss_mb', '-')} |")
    totals = [sum(p["pss_mb"] for p in results[phase].values()) for phase in ("after_load", "after_load_near")]
    lines.append(f"| all (PSS, what the machine gives them) | | {totals[0]:.0f} | {totals[1]:.0f} |")
    lines += ["", "| part | MB |", "|---|---|"] + [f"| {k} | {v} |" for k, v in results["parts_mb"].items()]
    results["table"] = "\n".join(lines)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"memory-{results['date']}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(results["table"])
    print(f"\nwritten to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
