"""Head-to-head: our proxy against the LiteLLM proxy, same fake upstream, same load, same machine, one run.

    .venv/bin/python -m benchmarks.bench_vs_litellm [--duration 10] [--workers 1] [--concurrency 50]

What it does, in one command:

1. Installs LiteLLM into its own virtual environment, ``.cache/litellm-venv`` (pinned: ``litellm[proxy]``
   and ``prisma``, the Prisma Client Python that LiteLLM's database layer needs, and ``httptools``, the HTTP
   parser uvicorn uses when present, as our server does), once; later runs reuse it.
   LiteLLM keeps its data with Prisma, whose CLI (npm ``prisma``) and native engines are normally downloaded
   from Prisma's own binary host, which this machine cannot reach. So: the CLI comes from npm (for
   ``prisma generate``), the migrations that LiteLLM ships (``litellm_proxy_extras/migrations``) are applied
   in order with plain SQL, and the native query engine is replaced by ``litellm_config/prisma_engine_shim.mjs``:
   the same engines commit built to WebAssembly (npm ``@prisma/query-engine-wasm``) over Prisma's PostgreSQL
   driver adapter, behind the HTTP interface Prisma Client Python expects (see that file).
2. Starts the fake OpenAI upstream (its own process), creates two fresh PostgreSQL databases (dropped at the
   end), starts ``payi-server serve`` on one and ``litellm --config litellm_config/config.yaml`` (master key,
   database, spend logs on) on the other, with the same number of worker processes, and creates a LiteLLM
   virtual key so that spend is tracked per key (ours: an application key, as always).
3. Measures with ``benchmarks/loadgen.py``, for the fake called directly, ours and LiteLLM in turn: JSON chat
   completions and the time to the first streamed chunk, sequentially (1 connection) and at ``--concurrency``
   connections. Added latency = proxied minus direct (p50, p99); throughput = requests/s at ``--concurrency``.
   RSS (``/proc``, every process of each server, LiteLLM's engine process included and also shown apart) and
   CPU seconds are sampled during the whole measurement.
4. Checks that both recorded spend: sends exactly ``--spend-check`` more requests to each, waits for their
   writers, and compares the rows added to our ``requests`` table and LiteLLM's ``LiteLLM_SpendLogs`` (and the
   virtual key's spend) with what was sent.

Prints a JSON summary with the ratios (ours / LiteLLM) and writes it to ``benchmarks/results/vs_litellm.json``.
The aim (issue 8): at least 3x LiteLLM's throughput and at most a third of its added latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
from tests.e2e.servers import free_port, run_server

from benchmarks.bench_proxy import BODY, STREAM_BODY, fake_upstream
from benchmarks.loadgen import Result, run
from benchmarks.soak import (
    ADMIN_URL,
    MemorySampler,
    fetch_one,
    fresh_database,
    proc_memory,
    process_tree,
    rss_summary,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
CONFIG_DIR = Path(__file__).parent / "litellm_config"
VENV = ROOT / ".cache" / "litellm-venv"
PRISMA_HOME = ROOT / ".cache" / "litellm-prisma"
ENGINE_DIR = PRISMA_HOME / "engine"

# Pins. litellm 1.106.12 is the newest release here whose ``proxy`` extra resolves from PyPI (later ones pin a
# ``litellm-proxy`` / ``litellm-proxy-extras`` build that is not published). prisma 0.15.0 is the newest Prisma
# Client Python (LiteLLM asks for >=0.11,<1.0); it expects Prisma CLI 5.17.0 and engines commit 393aa359...
LITELLM_VERSION = "1.106.12"
PRISMA_PY_VERSION = "0.15.0"
ENGINE_COMMIT = "393aa359c9ad4a4bb28630fb5613f9c281cde053"
# uvicorn parses HTTP with httptools when it is installed and with the pure-Python h11 otherwise; litellm[proxy]
# does not bring it, our server does: give LiteLLM the same parser (the same version as ours).
EXTRA_PIP = ["httptools==0.9.0"]
NPM_PACKAGES = [
    f"@prisma/query-engine-wasm@5.17.0-31.{ENGINE_COMMIT}",
    "@prisma/adapter-pg@5.17.0",
    "@prisma/driver-adapter-utils@5.17.0",
    "pg@8.13.1",
]
MASTER_KEY = "sk-bench-master-0000"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- LiteLLM installation ------------------------------------------------------------------------------------
def _site_packages() -> Path:
    found = sorted(VENV.glob("lib/python3*/site-packages"))
    if not found:
        raise RuntimeError(f"no site-packages under {VENV}")
    return found[0]


def prisma_env() -> dict[str, str]:
    return {
        "PATH": f"{VENV / 'bin'}:{os.environ.get('PATH', '')}",
        "PRISMA_HOME_DIR": str(PRISMA_HOME),
        "PRISMA_BINARY_CACHE_DIR": str(PRISMA_HOME / "binaries"),
        "PRISMA_QUERY_ENGINE_BINARY": str(ENGINE_DIR / "query-engine"),
        "PRISMA_SCHEMA_ENGINE_BINARY": str(ENGINE_DIR / "schema-engine"),
        "PRISMA_HIDE_UPDATE_MESSAGE": "true",
        "PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING": "1",
        "SHIM_ENGINE_COMMIT": ENGINE_COMMIT,
    }


def _write_engine_files() -> None:
    ENGINE_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copy(CONFIG_DIR / "prisma_engine_shim.mjs", ENGINE_DIR / "prisma_engine_shim.mjs")
    wrapper = ENGINE_DIR / "query-engine"
    wrapper.write_text('#!/bin/sh\nexec node "$(dirname "$0")/prisma_engine_shim.mjs" "$@"\n')
    wrapper.chmod(0o755)
    # LiteLLM's start-up schema diff asks the schema engine, which is unavailable: fail fast (it then boots on)
    stub = ENGINE_DIR / "schema-engine"
    stub.write_text('#!/bin/sh\necho "schema engine unavailable here (migrations applied as SQL)" >&2\nexit 1\n')
    stub.chmod(0o755)


def ensure_litellm(force: bool = False) -> None:
    pins = {"litellm": LITELLM_VERSION, "prisma": PRISMA_PY_VERSION, "extra": EXTRA_PIP, "npm": NPM_PACKAGES, "v": 2}
    marker = VENV / ".bench-ready.json"
    _write_engine_files()
    if not force and marker.exists() and json.loads(marker.read_text()) == pins:
        return
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit("node and npm are needed (Prisma's CLI and the engine stand-in are Node programs)")
    log(f"installing litellm[proxy]=={LITELLM_VERSION} and prisma=={PRISMA_PY_VERSION} into {VENV} ...")
    if not (VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                    f"litellm[proxy]=={LITELLM_VERSION}", f"prisma=={PRISMA_PY_VERSION}", *EXTRA_PIP], check=True)
    log("installing the Prisma engine stand-in (npm) ...")
    (ENGINE_DIR / "package.json").write_text(json.dumps(
        {"name": "litellm-bench-prisma-engine", "version": "1.0.0", "private": True, "type": "module"}))
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--save-exact", "--loglevel", "error",
                    *NPM_PACKAGES], cwd=ENGINE_DIR, check=True)
    log("prisma generate (Prisma Client Python for LiteLLM's schema) ...")
    schema = _site_packages() / "litellm" / "proxy" / "schema.prisma"
    subprocess.run([str(VENV / "bin" / "prisma"), "generate", "--schema", str(schema)],
                   env={**os.environ, **prisma_env()}, cwd=schema.parent, check=True)
    marker.write_text(json.dumps(pins))


def migrations() -> list[Path]:
    folder = _site_packages() / "litellm_proxy_extras" / "migrations"
    return [d / "migration.sql" for d in sorted(folder.iterdir()) if (d / "migration.sql").exists()]


async def apply_migrations(db_url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        files = migrations()
        for path in files:
            await conn.execute(path.read_text())
        return len(files)
    finally:
        await conn.close()


# --- LiteLLM process -----------------------------------------------------------------------------------------
class LiteLLM:
    def __init__(self, url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.url = url
        self.process = process
        self.log_path = log_path
        self.key = ""


@contextmanager
def run_litellm(workdir: Path, fake_url: str, db_url: str, workers: int, timeout: float = 180) -> Iterator[LiteLLM]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYI_", "LITELLM_", "PRISMA_"))}
    env.update(prisma_env())
    env.update({
        "DATABASE_URL": db_url,
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "BENCH_FAKE_OPENAI_BASE": fake_url + "/v1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the cost map from GitHub
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOG": "ERROR",  # also turns uvicorn's access log off, as PAYI_SERVER_ACCESS_LOG=false does ours
        "DISABLE_SCHEMA_UPDATE": "true",  # migrations were applied as SQL
        "NO_DOCS": "True",
    })
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "litellm.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            [str(VENV / "bin" / "litellm"), "--config", str(CONFIG_DIR / "config.yaml"), "--host", "127.0.0.1",
             "--port", str(port), "--num_workers", str(workers)],
            cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    proxy = LiteLLM(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"litellm exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                r = httpx2.get(proxy.url + "/health/readiness", timeout=2)
                if r.status_code == 200 and r.json().get("db") == "connected":
                    break
            except (httpx2.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"litellm did not become ready:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.5)
        r = httpx2.post(proxy.url + "/key/generate", headers={"Authorization": f"Bearer {MASTER_KEY}"},
                        json={"models": ["gpt-4o-mini"], "key_alias": "bench"}, timeout=30)
        r.raise_for_status()
        proxy.key = r.json()["key"]
        yield proxy
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# --- measurement ---------------------------------------------------------------------------------------------
def _added(proxied: Result, direct: Result) -> dict[str, float]:
    return {"added_p50_ms": round(proxied.pct(50) - direct.pct(50), 3),
            "added_p99_ms": round(proxied.pct(99) - direct.pct(99), 3)}


def tree_cpu_seconds(root: int) -> float:
    return sum(m["cpu_s"] for m in (proc_memory(pid) for pid in process_tree(root)) if m)


async def measure(targets: dict[str, tuple[str, dict[str, str]]], concurrency: int, duration: float,
                  roots: dict[str, int]) -> dict[str, Any]:
    """Each scenario runs the fake directly, then ours and LiteLLM in an order that alternates per scenario.

    The CPU time each server's processes used during its run is read from /proc before and after; divided by the
    requests served (the measured ones scaled by (warm-up + duration) / duration, as the load generator does not
    count its warm-up requests) it gives CPU milliseconds per request, which other load on the machine distorts
    much less than requests/s."""
    out: dict[str, Any] = {}
    scenarios = [("json_c1", BODY, 1, False), ("stream_ttfb_c1", STREAM_BODY, 1, True),
                 (f"json_c{concurrency}", BODY, concurrency, False),
                 (f"stream_ttfb_c{concurrency}", STREAM_BODY, concurrency, True)]
    for index, (name, body, conc, first_chunk) in enumerate(scenarios):
        order = ["direct", "ours", "litellm"] if index % 2 == 0 else ["direct", "litellm", "ours"]
        results: dict[str, Result] = {}
        cpu_ms: dict[str, float | None] = {}
        for who in order:
            url, headers = targets[who]
            cpu0 = tree_cpu_seconds(roots[who]) if who in roots else 0.0
            results[who] = await run(f"{name}-{who}", url, method="POST", headers=headers, body=body,
                                     concurrency=conc, duration=duration, first_chunk=first_chunk)
            r = results[who]
            if who in roots:
                served = len(r.latencies_ms) * (duration + 1.0) / duration
                cpu_ms[who] = round((tree_cpu_seconds(roots[who]) - cpu0) * 1000 / served, 3) if served else None
            log(f"  {name:<16} {who:<8} {r.rps:8.1f} req/s  p50 {r.pct(50):8.2f} ms  p99 {r.pct(99):8.2f} ms  "
                f"errors {r.errors}  statuses {r.statuses}")
        out[name] = {who: results[who].summary() for who in ("direct", "ours", "litellm")}
        for who in ("ours", "litellm"):
            out[name][who].update(_added(results[who], results["direct"]))
            out[name][who]["server_cpu_ms_per_request"] = cpu_ms.get(who)
    return out


async def send_exactly(url: str, headers: dict[str, str], n: int, concurrency: int = 8) -> dict[str, int]:
    """Send exactly ``n`` requests (alternating JSON and streamed), reading every answer to the end."""
    statuses: dict[int, int] = {}
    counter = iter(range(n))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        async def worker() -> None:
            for i in counter:
                async with session.post(url, headers=headers, data=STREAM_BODY if i % 2 else BODY) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


OURS_SQL = "SELECT count(*) AS n, coalesce(sum(cost_total), 0) AS cost FROM requests"
LITELLM_SQL = 'SELECT count(*) AS n, coalesce(sum(spend), 0) AS cost FROM "LiteLLM_SpendLogs"'
LITELLM_KEY_SQL = """SELECT coalesce(sum(spend), 0) AS cost FROM "LiteLLM_VerificationToken" WHERE key_alias = 'bench'"""


async def wait_for_rows(db_url: str, sql: str, at_least: int, limit: float) -> tuple[dict[str, Any], float]:
    start = time.monotonic()
    while True:
        row = await fetch_one(db_url, sql)
        if row["n"] >= at_least or time.monotonic() - start > limit:
            # a little longer, to see that nothing more arrives (nothing written twice)
            await asyncio.sleep(2)
            return await fetch_one(db_url, sql), round(time.monotonic() - start, 1)
        await asyncio.sleep(0.5)


async def spend_check(n: int, targets: dict[str, tuple[str, dict[str, str]]], dbs: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for who, sql, wait in (("ours", OURS_SQL, 30.0), ("litellm", LITELLM_SQL, 120.0)):
        # let the writes of the measurement settle (two equal counts in a row) before counting
        before, prev = await fetch_one(dbs[who], sql), None
        for _ in range(40):
            if before == prev:
                break
            await asyncio.sleep(2 if who == "ours" else 6)
            prev, before = before, await fetch_one(dbs[who], sql)
        url, headers = targets[who]
        statuses = await send_exactly(url, headers, n)
        after, waited = await wait_for_rows(dbs[who], sql, before["n"] + n, wait)
        added = after["n"] - before["n"]
        cost = float(after["cost"]) - float(before["cost"])
        out[who] = {
            "sent": n, "statuses": statuses, "rows_added": added, "seconds_until_recorded": waited,
            "all_recorded_once": added == n, "cost_added": round(cost, 10),
            "cost_per_request": round(cost / added, 12) if added else None,
            "total_rows": after["n"], "total_cost": round(float(after["cost"]), 8),
        }
    key_spend = await fetch_one(dbs["litellm"], LITELLM_KEY_SQL)
    out["litellm"]["virtual_key_spend"] = round(float(key_spend["cost"]), 8) if key_spend else None
    out["tables"] = {"ours": "requests (count, sum(cost_total))",
                     "litellm": '"LiteLLM_SpendLogs" (count, sum(spend)); "LiteLLM_VerificationToken".spend'}
    return out


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def summarize(scen: dict[str, Any], concurrency: int) -> dict[str, Any]:
    c = concurrency
    ours_rps, ll_rps = scen[f"json_c{c}"]["ours"]["rps"], scen[f"json_c{c}"]["litellm"]["rps"]
    ours_srps, ll_srps = scen[f"stream_ttfb_c{c}"]["ours"]["rps"], scen[f"stream_ttfb_c{c}"]["litellm"]["rps"]
    ratios: dict[str, Any] = {
        f"throughput_json_c{c}_ours_over_litellm": _ratio(ours_rps, ll_rps),
        f"throughput_stream_c{c}_ours_over_litellm": _ratio(ours_srps, ll_srps),
    }
    for name in scen:
        for p in ("p50", "p99"):
            ratios[f"added_{p}_{name}_ours_over_litellm"] = _ratio(scen[name]["ours"][f"added_{p}_ms"],
                                                                  scen[name]["litellm"][f"added_{p}_ms"])
    for name in scen:
        ratios[f"cpu_per_request_{name}_ours_over_litellm"] = _ratio(
            scen[name]["ours"]["server_cpu_ms_per_request"] or 0, scen[name]["litellm"]["server_cpu_ms_per_request"] or 0)
    aims = {
        "throughput_at_least_3x": bool(ratios[f"throughput_json_c{c}_ours_over_litellm"] or 0) and
        ratios[f"throughput_json_c{c}_ours_over_litellm"] >= 3,
        "added_latency_at_most_a_third_c1_p50": (ratios["added_p50_json_c1_ours_over_litellm"] or 99) <= 1 / 3,
        "added_latency_at_most_a_third_c1_p99": (ratios["added_p99_json_c1_ours_over_litellm"] or 99) <= 1 / 3,
    }
    table = {name: {who: {"rps": scen[name][who]["rps"], "p50_ms": scen[name][who]["p50_ms"],
                          "p99_ms": scen[name][who]["p99_ms"],
                          **({k: scen[name][who][k] for k in ("added_p50_ms", "added_p99_ms",
                                                               "server_cpu_ms_per_request")}
                             if who != "direct" else {})}
                    for who in ("direct", "ours", "litellm")} for name in scen}
    return {"ratios": ratios, "aims": aims, "table": table}


def _git_rev() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "src"], cwd=ROOT,
                               capture_output=True, text=True).stdout
        return rev.strip() + ("+uncommitted-src-changes" if dirty.strip() else "")
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (default 10)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes for EACH proxy (default 1: on 2 cores the load generator and "
                             "the fake upstream need the other core)")
    parser.add_argument("--concurrency", type=int, default=50, help="connections for the concurrent runs")
    parser.add_argument("--spend-check", type=int, default=200,
                        help="requests sent to each proxy after the measurement to check spend recording")
    parser.add_argument("--sample", type=float, default=1.0, help="seconds between memory samples")
    parser.add_argument("--admin-url", default=ADMIN_URL,
                        help=f"PostgreSQL URL used to create and drop the two databases (default {ADMIN_URL})")
    parser.add_argument("--reinstall", action="store_true", help="reinstall LiteLLM's environment")
    parser.add_argument("--setup-only", action="store_true", help="install LiteLLM's environment and stop")
    parser.add_argument("--output", type=Path, default=RESULTS / "vs_litellm.json")
    args = parser.parse_args()

    ensure_litellm(force=args.reinstall)
    if args.setup_only:
        return
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp, fake_upstream() as fake_url, \
            fresh_database(args.admin_url, "payi_vs") as ours_db, \
            fresh_database(args.admin_url, "litellm_vs") as litellm_db:
        applied = asyncio.run(apply_migrations(litellm_db))
        log(f"LiteLLM database: {applied} migrations applied")
        env = {
            "PAYI_SERVER_OPENAI_BASE_URL": fake_url + "/v1",
            "PAYI_SERVER_ACCESS_LOG": "false",
            "PAYI_SERVER_LOG_LEVEL": "warning",
            "PAYI_SERVER_WORKERS": str(args.workers),
            "PAYI_SERVER_DATABASE_URL": ours_db,
        }
        with run_server(Path(tmp) / "ours", env) as ours, \
                run_litellm(Path(tmp) / "litellm", fake_url, litellm_db, args.workers) as litellm:
            targets = {
                "direct": (fake_url + "/v1/chat/completions", {"content-type": "application/json"}),
                "ours": (ours.url + "/api/v1/proxy/openai/v1/chat/completions",
                         {"content-type": "application/json", "xProxy-Api-Key": ours.keys["app1"],
                          "authorization": "Bearer sk-bench"}),
                "litellm": (litellm.url + "/v1/chat/completions",
                            {"content-type": "application/json", "authorization": f"Bearer {litellm.key}"}),
            }
            roots = {"ours": ours.process.pid, "litellm": litellm.process.pid}
            time.sleep(2)
            idle = MemorySampler(roots, 1.0).sample()
            sampler = MemorySampler(roots, args.sample).start()
            log(f"measuring (workers={args.workers}, concurrency={args.concurrency}, {args.duration}s each) ...")
            scenarios = asyncio.run(measure(targets, args.concurrency, args.duration, roots))
            samples = sampler.stop()
            log("spend check ...")
            spend = asyncio.run(spend_check(args.spend_check, targets, {"ours": ours_db, "litellm": litellm_db}))
            engine_pids = [p for p in process_tree(litellm.process.pid)
                           if (m := proc_memory(p)) and "prisma_engine_shim" in m["cmd"]]
    memory: dict[str, Any] = {}
    for who in ("ours", "litellm"):
        memory[who] = {"idle_rss_mb": idle[who]["rss_mb"], **rss_summary(samples, who)}
        first, last = samples[0][who]["cpu_s"], samples[-1][who]["cpu_s"]
        memory[who]["cpu_s_during_measurement"] = round(last - first, 1)
        per_proc: dict[str, float] = {}
        for pid, p in samples[-1][who]["procs"].items():
            start = next((s[who]["procs"][pid]["cpu_s"] for s in samples if pid in s[who]["procs"]), 0.0)
            per_proc[f"{pid} {p['cmd'][:80]}"] = round(p["cpu_s"] - start, 1)
        memory[who]["cpu_s_during_measurement_per_process"] = per_proc
    engine_rss = [sum(p["rss_mb"] for pid, p in s["litellm"]["procs"].items() if "prisma_engine_shim" in p["cmd"])
                  for s in samples]
    memory["litellm"]["engine_stand_in_rss_peak_mb"] = max(engine_rss) if engine_rss else None
    memory["litellm"]["rss_total_peak_without_engine_stand_in_mb"] = round(max(
        s["litellm"]["rss_mb"] - e for s, e in zip(samples, engine_rss, strict=True)), 2) if samples else None
    memory["ratio_peak_rss_ours_over_litellm"] = _ratio(memory["ours"]["rss_total_peak_mb"],
                                                        memory["litellm"]["rss_total_peak_mb"])
    memory["ratio_peak_rss_ours_over_litellm_without_engine"] = _ratio(
        memory["ours"]["rss_total_peak_mb"], memory["litellm"]["rss_total_peak_without_engine_stand_in_mb"])
    summary = summarize(scenarios, args.concurrency)
    result: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "command": "python -m benchmarks.bench_vs_litellm " + " ".join(sys.argv[1:]),
        "ours_revision": _git_rev(),
        "litellm": {"version": LITELLM_VERSION, "prisma_client_python": PRISMA_PY_VERSION,
                    "engine": f"@prisma/query-engine-wasm 5.17.0 ({ENGINE_COMMIT[:8]}) via prisma_engine_shim.mjs",
                    "engine_processes": len(engine_pids),
                    "config": "benchmarks/litellm_config/config.yaml (master key, virtual key, PostgreSQL, "
                              "spend logs on)"},
        "workers_each": args.workers,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "cpus": os.cpu_count(),
        **summary,
        "memory": memory,
        "spend_tracking": spend,
        "scenarios": scenarios,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    brief = {k: result[k] for k in ("litellm", "workers_each", "concurrency", "ratios", "aims", "table")}
    brief["memory_peak_rss_mb"] = {"ours": memory["ours"]["rss_total_peak_mb"],
                                   "litellm": memory["litellm"]["rss_total_peak_mb"],
                                   "litellm_without_engine_stand_in":
                                       memory["litellm"]["rss_total_peak_without_engine_stand_in_mb"]}
    brief["spend_tracking"] = {who: {k: spend[who][k] for k in ("sent", "rows_added", "all_recorded_once",
                                                                "cost_per_request", "seconds_until_recorded")}
                               for who in ("ours", "litellm")}
    print(json.dumps(brief, indent=2))


if __name__ == "__main__":
    main()
