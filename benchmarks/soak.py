"""Soak: steady load through our proxy for N minutes with the memory of every server process sampled.

    .venv/bin/python -m benchmarks.soak [--minutes 10] [--workers 2] [--concurrency 16]

Starts the fake OpenAI upstream (its own process) and ``payi-server serve`` on a fresh PostgreSQL database that
this command creates and drops (``--admin-url``), creates two limits through the REST API, then keeps a fixed
number of connections busy (closed loop, ``benchmarks/loadgen.py``) for ``--minutes``, in windows of
``--window`` seconds, with this mix per window:

- 3/8 of the connections: JSON chat completions, no limit;
- 2/8: streamed chat completions (SSE), no limit;
- 2/8: JSON with ``xProxy-Limit-IDs`` naming a block limit (reserved before the call, settled after);
- 1/8: streamed, naming an allow limit.

Every ``--sample`` seconds it reads VmRSS (and RssAnon) of every process of the server's process group from
``/proc`` (no psutil). At the end it fits a least-squares line to the total RSS over the second half of the run
and applies the plateau criterion (printed with the result):

    slope(second half) < --max-slope MB/min   AND   max(last third) <= max(middle third) * (1 + --max-rise)

Writes ``benchmarks/results/soak.json``. ``--tracemalloc`` starts the server with a ``sitecustomize`` that turns
``tracemalloc`` on in a server process on SIGUSR1 (sent after the warm-up) and dumps a snapshot on SIGUSR2;
snapshots taken at one third and at the end are compared and the top growing allocation sites are reported
(the server runs much slower then: use it to find the cause of growth, not to measure).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
from tests.e2e.servers import run_server

from benchmarks.bench_proxy import BODY, STREAM_BODY, fake_upstream
from benchmarks.loadgen import run

RESULTS = Path(__file__).parent / "results"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# --- process memory from /proc (shared with bench_vs_litellm) --------------------------------------------------
def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces and parentheses: split after the last ')'
    return raw[raw.rfind(")") + 2:].split()


def process_tree(root: int) -> list[int]:
    """``root``, every process in its process group, and every descendant of either."""
    parents: dict[int, int] = {}
    groups: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields:
            parents[int(entry)] = int(fields[1])
            groups[int(entry)] = int(fields[2])
    found = {root} | {pid for pid, group in groups.items() if group == root}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                changed = True
    return sorted(pid for pid in found if pid in parents)


def proc_memory(pid: int) -> dict[str, Any] | None:
    """VmRSS and RssAnon in KiB, the command line, and CPU seconds (user+system) of one process."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    values: dict[str, int] = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon"):
            values[key] = int(rest.split()[0])
    fields = _stat_fields(pid)
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks if fields else 0.0
    if "VmRSS" not in values:  # a zombie
        return None
    return {"pid": pid, "rss_kb": values["VmRSS"], "anon_kb": values.get("RssAnon", 0), "cpu_s": round(cpu, 2),
            "cmd": cmdline[:160]}


class MemorySampler:
    """A thread that samples the memory of process trees every ``interval`` seconds."""

    def __init__(self, roots: dict[str, int], interval: float) -> None:
        self.roots = roots
        self.interval = interval
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.t0 = time.monotonic()

    def sample(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"t": round(time.monotonic() - self.t0, 2)}
        for name, root in self.roots.items():
            procs = [m for m in (proc_memory(pid) for pid in process_tree(root)) if m]
            entry[name] = {
                "rss_mb": round(sum(p["rss_kb"] for p in procs) / 1024, 2),
                "anon_mb": round(sum(p["anon_kb"] for p in procs) / 1024, 2),
                "cpu_s": round(sum(p["cpu_s"] for p in procs), 2),
                "procs": {str(p["pid"]): {"rss_mb": round(p["rss_kb"] / 1024, 2),
                                          "anon_mb": round(p["anon_kb"] / 1024, 2), "cpu_s": p["cpu_s"],
                                          "cmd": p["cmd"]} for p in procs},
            }
        return entry

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.sample())
            self._stop.wait(self.interval)

    def start(self) -> MemorySampler:
        self.t0 = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> list[dict[str, Any]]:
        self._stop.set()
        self._thread.join()
        self.samples.append(self.sample())
        return self.samples


def rss_summary(samples: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """Peak and mean total RSS of one tree, and the peak of each process (by command)."""
    totals = [s[name]["rss_mb"] for s in samples if name in s]
    per_proc: dict[str, float] = {}
    for s in samples:
        for pid, p in s.get(name, {}).get("procs", {}).items():
            label = f"{pid} {p['cmd'][:80]}"
            per_proc[label] = max(per_proc.get(label, 0.0), p["rss_mb"])
    last = samples[-1].get(name, {}) if samples else {}
    return {
        "rss_total_peak_mb": max(totals) if totals else None,
        "rss_total_mean_mb": round(statistics.fmean(totals), 2) if totals else None,
        "rss_total_last_mb": last.get("rss_mb"),
        "processes": len(last.get("procs", {})),
        "cpu_s_total": last.get("cpu_s"),
        "rss_peak_per_process_mb": per_proc,
    }


# --- trend ---------------------------------------------------------------------------------------------------
def slope_mb_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) points, in MB per minute."""
    if len(points) < 2:
        return float("nan")
    mean_t = statistics.fmean(t for t, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return float("nan")
    return sum((t - mean_t) * (y - mean_y) for t, y in points) / var * 60


def plateau(points: list[tuple[float, float]], max_slope: float, max_rise: float) -> dict[str, Any]:
    points = sorted(points)
    n = len(points)
    second_half = points[n // 2:]
    middle = [y for _, y in points[n // 3: 2 * n // 3]]
    last = [y for _, y in points[2 * n // 3:]]
    slope = slope_mb_per_min(second_half)
    full = slope_mb_per_min(points)
    mid_max = max(middle) if middle else float("nan")
    last_max = max(last) if last else float("nan")
    rise = (last_max / mid_max - 1) if mid_max else float("nan")
    ok = slope < max_slope and rise <= max_rise
    return {
        "criterion": f"slope of total RSS over the second half < {max_slope} MB/min and "
                     f"max(last third) <= max(middle third) * {1 + max_rise:.2f}",
        "slope_second_half_mb_per_min": round(slope, 3),
        "slope_whole_run_mb_per_min": round(full, 3),
        "middle_third_max_mb": round(mid_max, 2),
        "last_third_max_mb": round(last_max, 2),
        "last_vs_middle_rise": round(rise, 4),
        "first_mb": round(points[0][1], 2) if points else None,
        "last_mb": round(points[-1][1], 2) if points else None,
        "plateaued": ok,
    }


# --- PostgreSQL ----------------------------------------------------------------------------------------------
def _with_db(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new PostgreSQL database (dropped afterwards, with its connections); yields its URL."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield _with_db(admin_url, name)
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def fetch_one(url: str, sql: str) -> Any:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(sql)
        return dict(row) if row else None
    finally:
        await conn.close()


# --- tracemalloc diagnosis -----------------------------------------------------------------------------------
SITECUSTOMIZE = textwrap.dedent('''
    import os, signal, tracemalloc
    def _start(signum, frame):
        if not tracemalloc.is_tracing():
            tracemalloc.start(int(os.environ.get("SOAK_TRACEMALLOC_FRAMES", "12")))
    signal.signal(signal.SIGUSR1, _start)
    _n = [0]
    def _dump(signum, frame):
        import collections, gc, json
        _n[0] += 1
        base = os.path.join(os.environ["SOAK_TRACEMALLOC_DIR"], f"{os.getpid()}-{_n[0]}")
        tracemalloc.take_snapshot().dump(base + ".snap")
        # the types of live gc-tracked objects, all and by allocation site (most recent frame)
        types, by_site = collections.Counter(), collections.Counter()
        for obj in gc.get_objects():
            name = type(obj).__name__
            types[name] += 1
            tb = tracemalloc.get_object_traceback(obj)
            if tb is not None:
                by_site[f"{tb[-1].filename}:{tb[-1].lineno} {name}"] += 1
        with open(base + ".types.json", "w") as f:
            json.dump({"types": dict(types), "by_site": dict(by_site)}, f)
    signal.signal(signal.SIGUSR2, _dump)
''')


def _signal_tree(root: int, sig: int) -> None:
    for pid in process_tree(root):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _load_types(snap: Path) -> dict[str, Any]:
    path = snap.with_suffix(".types.json")
    return json.loads(path.read_text()) if path.exists() else {}


def _counter_growth(first: dict[str, int], last: dict[str, int], top: int) -> dict[str, int]:
    growth = {k: last.get(k, 0) - first.get(k, 0) for k in set(first) | set(last)}
    return dict(sorted(((k, v) for k, v in growth.items() if v > 0), key=lambda kv: -kv[1])[:top])


def tracemalloc_report(directory: Path, top: int = 25) -> dict[str, Any]:
    """Compare each process's first and last snapshot: the allocation sites that grew most."""
    import tracemalloc

    by_pid: dict[str, list[Path]] = {}
    for path in sorted(directory.glob("*.snap")):
        pid, n = path.stem.split("-")
        by_pid.setdefault(pid, []).append(path)
    out: dict[str, Any] = {}
    for pid, paths in by_pid.items():
        paths.sort(key=lambda p: int(p.stem.split("-")[1]))
        if len(paths) < 2:
            continue
        first = tracemalloc.Snapshot.load(str(paths[0]))
        last = tracemalloc.Snapshot.load(str(paths[-1]))
        filters = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen *>")]
        first, last = first.filter_traces(filters), last.filter_traces(filters)
        total_first = sum(s.size for s in first.statistics("filename"))
        total_last = sum(s.size for s in last.statistics("filename"))
        stats = last.compare_to(first, "traceback")
        types_first = _load_types(paths[0])
        types_last = _load_types(paths[-1])
        out[pid] = {
            "traced_mb_first": round(total_first / 2**20, 2),
            "traced_mb_last": round(total_last / 2**20, 2),
            "top_growth": [
                {"size_diff_kb": round(s.size_diff / 1024, 1), "count_diff": s.count_diff,
                 "traceback": [f"{f.filename}:{f.lineno}" for f in s.traceback][-8:]}
                for s in stats[:top] if s.size_diff > 0
            ],
            "gc_type_growth": _counter_growth(types_first.get("types", {}), types_last.get("types", {}), top),
            "gc_type_growth_by_site": _counter_growth(types_first.get("by_site", {}), types_last.get("by_site", {}),
                                                      top),
        }
    return out


# --- load ----------------------------------------------------------------------------------------------------
async def _create_limits(url: str, key: str) -> None:
    async with httpx2.AsyncClient(base_url=url, headers={"xProxy-api-key": key}) as client:
        for limit_id, limit_type in (("soak-block", "block"), ("soak-allow", "allow")):
            r = await client.post("/api/v1/limits", json={"limit_name": limit_id, "limit_id": limit_id,
                                                          "max": 1e6, "limit_type": limit_type})
            if r.status_code not in (200, 201):
                raise RuntimeError(f"limit creation failed: {r.status_code} {r.text}")


def _mix(concurrency: int) -> list[tuple[str, bytes, dict[str, str], int, bool]]:
    """(name, body, extra headers, connections, streamed) for each kind of request."""
    shares = [("json", BODY, {}, 3, False), ("stream", STREAM_BODY, {}, 2, False),
              ("json-block-limit", BODY, {"xProxy-Limit-IDs": "soak-block"}, 2, False),
              ("stream-allow-limit", STREAM_BODY, {"xProxy-Limit-IDs": "soak-allow"}, 1, True)]
    out = []
    for name, body, extra, share, _ in shares:
        out.append((name, body, extra, max(1, round(concurrency * share / 8)), body is STREAM_BODY))
    return out


async def soak_load(server_url: str, key: str, seconds: float, window: float,
                    concurrency: int, on_window: Any = None) -> list[dict[str, Any]]:
    proxied = server_url + "/api/v1/proxy/openai/v1/chat/completions"
    base = {"content-type": "application/json", "xProxy-Api-Key": key, "authorization": "Bearer sk-soak"}
    windows: list[dict[str, Any]] = []
    start = time.monotonic()
    while (left := seconds - (time.monotonic() - start)) > 1:
        length = min(window, left)
        t = round(time.monotonic() - start, 1)
        results = await asyncio.gather(*(
            run(name, proxied, method="POST", headers={**base, **extra}, body=body, concurrency=c,
                duration=length, warmup=0.0, first_chunk=streamed)
            for name, body, extra, c, streamed in _mix(concurrency)
        ))
        entry = {"t": t, "seconds": round(length, 1)}
        for r in results:
            entry[r.name] = {"requests": len(r.latencies_ms), "errors": r.errors,
                             "non_200": sum(v for k, v in r.statuses.items() if k != 200),
                             "rps": round(r.rps, 1), "p50_ms": round(r.pct(50), 2), "p99_ms": round(r.pct(99), 2)}
        windows.append(entry)
        if on_window:
            on_window(entry)
    return windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the steady load (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="connections kept busy, split over the request mix (default 16)")
    parser.add_argument("--window", type=float, default=30.0, help="seconds per load window (default 30)")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between memory samples (default 5)")
    parser.add_argument("--max-slope", type=float, default=1.0, help="plateau: MB/min bound on the slope")
    parser.add_argument("--max-rise", type=float, default=0.05,
                        help="plateau: bound on max(last third)/max(middle third) - 1 (default 0.05)")
    parser.add_argument("--admin-url", default=ADMIN_URL,
                        help=f"PostgreSQL URL used to create and drop the soak database (default {ADMIN_URL})")
    parser.add_argument("--db-url-query", default="",
                        help="query string appended to the server's database URL, e.g. "
                             "prepared_statement_cache_size=0 (to test a cause of growth)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="diagnose growth: tracemalloc in every server process, snapshots compared")
    parser.add_argument("--output", type=Path, default=RESULTS / "soak.json")
    args = parser.parse_args()

    tm_dir: Path | None = None
    with tempfile.TemporaryDirectory() as tmp, fake_upstream() as fake_url, \
            fresh_database(args.admin_url, "payi_soak") as db_url:
        env = {
            "PAYI_SERVER_OPENAI_BASE_URL": fake_url + "/v1",
            "PAYI_SERVER_ACCESS_LOG": "false",
            "PAYI_SERVER_LOG_LEVEL": "warning",
            "PAYI_SERVER_WORKERS": str(args.workers),
            "PAYI_SERVER_DATABASE_URL": db_url + ("?" + args.db_url_query if args.db_url_query else ""),
        }
        if args.tracemalloc:
            tm_dir = Path(tmp) / "tracemalloc"
            tm_dir.mkdir()
            site = Path(tmp) / "site"
            site.mkdir()
            (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
            env.update(PYTHONPATH=str(site), SOAK_TRACEMALLOC_DIR=str(tm_dir))
        with run_server(Path(tmp) / "srv", env, timeout=60) as server:
            key = server.keys["app1"]
            asyncio.run(_create_limits(server.url, key))
            # warm up (connection pools, caches, first-use imports) before the first sample counts
            warm = asyncio.run(soak_load(server.url, key, 15, 15, args.concurrency))
            if args.tracemalloc:
                _signal_tree(server.process.pid, signal.SIGUSR1)
            sampler = MemorySampler({"server": server.process.pid}, args.sample).start()
            seconds = args.minutes * 60
            snapped = [False]

            def on_window(entry: dict[str, Any]) -> None:
                total = sum(v["requests"] for k, v in entry.items() if isinstance(v, dict))
                errors = sum(v["errors"] + v["non_200"] for k, v in entry.items() if isinstance(v, dict))
                rss = sampler.samples[-1]["server"]["rss_mb"] if sampler.samples else float("nan")
                print(f"  t={entry['t']:>6.0f}s  {total / entry['seconds']:7.1f} req/s  errors={errors}  "
                      f"server RSS {rss:.1f} MB", file=sys.stderr, flush=True)
                if args.tracemalloc and not snapped[0] and entry["t"] >= seconds / 3:
                    _signal_tree(server.process.pid, signal.SIGUSR2)
                    snapped[0] = True

            started = time.time()
            windows = asyncio.run(soak_load(server.url, key, seconds, args.window, args.concurrency, on_window))
            samples = sampler.stop()
            if args.tracemalloc:
                _signal_tree(server.process.pid, signal.SIGUSR2)
                time.sleep(5)
            time.sleep(2)  # let the last records commit
            recorded = asyncio.run(fetch_one(db_url, "SELECT count(*) AS n, sum(cost_total) AS cost FROM requests"))
        tm_report = tracemalloc_report(tm_dir) if tm_dir is not None else None

    points = [(s["t"], s["server"]["rss_mb"]) for s in samples]
    anon_points = [(s["t"], s["server"]["anon_mb"]) for s in samples]
    per_pid: dict[str, list[tuple[float, float]]] = {}
    for s in samples:
        for pid, p in s["server"]["procs"].items():
            per_pid.setdefault(f"{pid} {p['cmd'][:80]}", []).append((s["t"], p["rss_mb"]))
    sent = sum(w[k]["requests"] for w in windows for k in w if isinstance(w[k], dict))
    failed = sum(w[k]["errors"] + w[k]["non_200"] for w in windows for k in w if isinstance(w[k], dict))
    result: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "minutes": args.minutes,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "db_url_query": args.db_url_query or None,
        "mix": [{"name": n, "connections": c, "limit": e.get("xProxy-Limit-IDs")} for n, _, e, c, _ in
                _mix(args.concurrency)],
        "requests": sent,
        "warmup_requests": sum(w[k]["requests"] for w in warm for k in w if isinstance(w[k], dict)),
        "failed": failed,
        "mean_rps": round(sent / (args.minutes * 60), 1),
        "recorded_in_db": {"requests": recorded["n"] if recorded else None,
                           "cost_sum": float(recorded["cost"]) if recorded and recorded["cost"] is not None
                           else None},
        "rss": plateau(points, args.max_slope, args.max_rise),
        "rss_anon": plateau(anon_points, args.max_slope, args.max_rise),
        "per_process": {k: plateau(v, args.max_slope, args.max_rise) for k, v in per_pid.items() if len(v) > 6},
        "memory": rss_summary(samples, "server"),
        "windows": windows,
        "samples": [{"t": s["t"], "rss_mb": s["server"]["rss_mb"], "anon_mb": s["server"]["anon_mb"],
                     "per_pid_rss_mb": {pid: p["rss_mb"] for pid, p in s["server"]["procs"].items()}}
                    for s in samples],
    }
    if tm_report is not None:
        result["tracemalloc"] = tm_report
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    brief = {k: result[k] for k in ("minutes", "workers", "concurrency", "requests", "warmup_requests", "failed",
                                    "mean_rps",
                                    "recorded_in_db", "rss", "rss_anon")}
    brief["per_process_slope_mb_per_min"] = {k: v["slope_second_half_mb_per_min"]
                                            for k, v in result["per_process"].items()}
    print(json.dumps(brief, indent=2))
    if "tracemalloc" in result:
        for pid, rep in result["tracemalloc"].items():
            print(f"tracemalloc {pid}: {rep['traced_mb_first']} -> {rep['traced_mb_last']} MB traced")
            for item in rep["top_growth"][:10]:
                print(f"  +{item['size_diff_kb']} KiB ({item['count_diff']:+d} blocks) {item['traceback'][-1]}")
            print(f"  gc-tracked objects that grew: {rep['gc_type_growth']}")
            print(f"  ... by allocation site: {rep['gc_type_growth_by_site']}")


if __name__ == "__main__":
    main()
