"""Two proxies measured at once: the CPU a proxied call costs each, where sequential runs are too noisy to tell.

    .venv/bin/python -m benchmarks.bench_pair [--a-tree DIR] [--b-tree DIR] [--a-limit] [--b-limit]
        [--rounds 16] [--duration 4] [--connections 25] [--pg URL] [--stream] [--output FILE]

On a shared 2-core machine the CPU a server spends per call moves by 20-40% from one 5 s run to the next (what
else runs on its core, and the machine's own speed), so a difference of a few percent between two trees, or
between a call with a limit and one without, needs many alternating runs of ``bench_limits``. Here the two sides
run at the same time instead, so the machine's drift weighs on both alike:

- one fake OpenAI upstream (``bench_proxy.fake_upstream``) and two ``payi-server serve`` processes, 1 worker each,
  each in its own data directory with one strict block limit (as ``bench_limits`` creates it), on SQLite, or with
  ``--pg URL`` each on a new PostgreSQL database created next to that one (and dropped after; the database's own CPU
  is not counted);
  ``--a-tree`` / ``--b-tree``: the ``src`` directory a side imports ``payi_server`` from (``PYTHONPATH``; a git
  worktree of another commit), the checkout's own by default; ``--a-limit`` / ``--b-limit``: that side's calls name
  the limit (``xProxy-Limit-IDs``);
- each round pins each server to its own core (``taskset``, the cores swapped every round; the load generators
  and the upstream are not pinned) and loads both at once with ``wrk`` (``--connections`` each, the same small JSON
  chat completion as ``bench_limits``, streamed with ``--stream``) for ``--duration`` seconds, after one unmeasured
  round;
- per side, over all rounds: the CPU per answered call of the server's main thread (the event loop) and of all its
  threads (``/proc``), B - A, and A / B of all threads' CPU (above 1: B costs more).

Prints one line per round and the summary, and writes every figure to ``--output`` (by default
``benchmarks/results/pair-<date>.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.bench_limits import JSON_HEADERS, LIMIT_ID, PROXY_PATH, RESULTS, create_limit, database
from benchmarks.bench_proxy import BODY, STREAM_BODY, fake_upstream
from benchmarks.wrk import Load, load
from tests.e2e.servers import ServerProcess, run_server

_TICK = os.sysconf("SC_CLK_TCK")
SIDES = ("A", "B")


def thread_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds used so far by the process's main thread and by all its threads."""
    main = total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # a thread that ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        used = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
        total += used
        if task.name == str(pid):
            main = used
    return main, total


def pin(pid: int, core: int) -> None:
    """Every thread of ``pid`` onto ``core`` (nothing where ``taskset`` is missing or the core is not there)."""
    if shutil.which("taskset") and core < (os.cpu_count() or 1):
        subprocess.run(["taskset", "-a", "-p", "-c", str(core), str(pid)], capture_output=True, check=False)


def both(
    sides: dict[str, tuple[ServerProcess, dict[str, str]]], connections: int, duration: float, body: bytes = BODY
) -> dict[str, Load]:
    """Load both sides at once; each side's result."""
    out: dict[str, Load] = {}

    def run(name: str) -> None:
        server, headers = sides[name]
        out[name] = load(server.url + PROXY_PATH, headers, body, connections, duration, warmup=0)

    threads = [threading.Thread(target=run, args=(name,)) for name in sides]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def measure(args: argparse.Namespace) -> dict[str, Any]:
    trees = {"A": args.a_tree, "B": args.b_tree}
    limited = {"A": args.a_limit, "B": args.b_limit}
    result: dict[str, Any] = {
        "sides": {name: {"tree": trees[name] or "(this checkout)", "limit": limited[name]} for name in SIDES},
        "connections": args.connections, "duration_s": args.duration, "rounds": [],
        "database": "postgresql" if args.pg else "sqlite", "stream": args.stream,
    }
    body = STREAM_BODY if args.stream else BODY
    with fake_upstream() as fake_url, tempfile.TemporaryDirectory() as workdir, ExitStack() as stack:
        sides: dict[str, tuple[ServerProcess, dict[str, str]]] = {}
        for name in SIDES:
            env = {
                "PAYI_SERVER_OPENAI_BASE_URL": fake_url + "/v1",
                "PAYI_SERVER_ALLOW_PRIVATE_PROVIDER_HOSTS": "true",
                "PAYI_SERVER_ACCESS_LOG": "false",
                "PAYI_SERVER_LOG_LEVEL": "warning",
                "PAYI_SERVER_WORKERS": "1",
                "PAYI_SERVER_DATABASE_URL": stack.enter_context(database("pg" if args.pg else "sqlite", args.pg)),
                "PYTHONPATH": trees[name],
            }
            server = stack.enter_context(run_server(Path(workdir) / name, env))
            key = server.keys["app1"]
            create_limit(server.url, key)
            headers = {**JSON_HEADERS, "xProxy-Api-Key": key, "authorization": "Bearer sk-bench"}
            if limited[name]:
                headers["xProxy-Limit-IDs"] = LIMIT_ID
            sides[name] = (server, headers)
        both(sides, args.connections, args.duration, body)  # warm-up: leases taken, caches filled
        sums = {name: [0, 0.0, 0.0] for name in SIDES}  # calls, main thread CPU, all threads' CPU
        for i in range(args.rounds):
            for k, name in enumerate(SIDES):
                pin(sides[name][0].process.pid, (k + i) % 2)
            before = {name: thread_cpu(sides[name][0].process.pid) for name in SIDES}
            loads = both(sides, args.connections, args.duration, body)
            after = {name: thread_cpu(sides[name][0].process.pid) for name in SIDES}
            entry: dict[str, Any] = {}
            for name in SIDES:
                calls = max(1, loads[name].requests)
                main = after[name][0] - before[name][0]
                total = after[name][1] - before[name][1]
                sums[name][0] += loads[name].requests
                sums[name][1] += main
                sums[name][2] += total
                entry[name] = {"rps": loads[name].rps, "requests": loads[name].requests, "failed": loads[name].failed,
                               "main_us_per_call": round(main * 1e6 / calls, 1),
                               "all_us_per_call": round(total * 1e6 / calls, 1)}
            result["rounds"].append(entry)
            print("  round", i + 1, " | ".join(
                f"{name}: {entry[name]['rps']:,.0f} req/s, {entry[name]['all_us_per_call']} us/call" for name in SIDES
            ), flush=True)
    per_call = {
        name: {"main_us": round(main * 1e6 / max(1, calls), 1), "all_us": round(total * 1e6 / max(1, calls), 1),
               "requests": calls}
        for name, (calls, main, total) in sums.items()
    }
    result["per_call"] = per_call
    result["b_minus_a_us"] = {
        "main": round(per_call["B"]["main_us"] - per_call["A"]["main_us"], 1),
        "all": round(per_call["B"]["all_us"] - per_call["A"]["all_us"], 1),
    }
    b_cost = per_call["B"]["all_us"]
    result["a_over_b"] = round(per_call["A"]["all_us"] / b_cost, 3) if b_cost else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--a-tree", default="", help="src directory side A imports payi_server from")
    parser.add_argument("--b-tree", default="", help="src directory side B imports payi_server from")
    parser.add_argument("--a-limit", action="store_true", help="side A's calls name the strict limit")
    parser.add_argument("--b-limit", action="store_true", help="side B's calls name the strict limit")
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per round")
    parser.add_argument("--connections", type=int, default=25, help="per side")
    parser.add_argument("--pg", default="", help="a PostgreSQL database; each side gets a new one next to it")
    parser.add_argument("--stream", action="store_true", help="streamed calls (SSE) instead of JSON answers")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    result = measure(args)
    per_call, delta = result["per_call"], result["b_minus_a_us"]
    print(f"A: {per_call['A']['all_us']} us/call ({per_call['A']['main_us']} on the event loop); "
          f"B: {per_call['B']['all_us']} us/call ({per_call['B']['main_us']}); "
          f"B - A: {delta['all']:+} us ({delta['main']:+} on the event loop); A / B: {result['a_over_b']}")
    output = args.output or RESULTS / f"pair-{date.today().isoformat()}.json"
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
