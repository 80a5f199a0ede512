"""Authenticated-request overhead: ``GET /api/v1/whoami`` (key verified on a warm cache) against the
unauthenticated ``GET /healthz`` on the same server, sequential and at 50 concurrent connections.

    .venv/bin/python -m benchmarks.bench_auth [--duration 5]

Starts ``payi-server serve`` (1 worker, SQLite in a temporary directory) and prints a JSON summary. Also times
``KeyCache.authenticate`` in process (no HTTP) for the pure verification cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from benchmarks.loadgen import run
from tests.e2e.servers import run_server


async def _http(url: str, key: str, duration: float) -> dict[str, object]:
    out: dict[str, object] = {}
    for concurrency in (1, 50):
        health = await run("healthz", url + "/healthz", concurrency=concurrency, duration=duration)
        auth = await run(
            "whoami", url + "/api/v1/whoami", headers={"xProxy-api-key": key}, concurrency=concurrency, duration=duration
        )
        out[f"c{concurrency}"] = {
            "healthz": health.summary(),
            "whoami": auth.summary(),
            "added_p50_ms": round(auth.pct(50) - health.pct(50), 3),
            "added_p99_ms": round(auth.pct(99) - health.pct(99), 3),
        }
    return out


async def _in_process(tmp: Path) -> float:
    from payi_server.app import start_state, stop_state
    from payi_server.settings import load_settings

    settings = load_settings(data_dir=tmp / "inproc", secret_key="b" * 40, access_log=False)
    state = await start_state(settings)
    try:
        boot = await state.tenancy.bootstrap()
        assert boot is not None
        key = boot.app_keys[0].plaintext
        await state.keys.authenticate(key)
        n = 100_000
        t0 = time.perf_counter()
        for _ in range(n):
            await state.keys.authenticate(key)
        return (time.perf_counter() - t0) / n * 1e6
    finally:
        await stop_state(state)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with run_server(root / "srv", env={"PAYI_SERVER_ACCESS_LOG": "false"}) as server:
            http = asyncio.run(_http(server.url, server.keys["app1"], args.duration))
        verify_us = asyncio.run(_in_process(root))
    print(json.dumps({"http": http, "authenticate_warm_us": round(verify_us, 2)}, indent=2))


if __name__ == "__main__":
    main()
