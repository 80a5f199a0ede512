"""Proxy overhead and throughput against the fake OpenAI upstream.

    .venv/bin/python -m benchmarks.bench_proxy [--duration 10] [--workers 2]

Starts the fake upstream (its own process, no added latency) and ``payi-server serve`` (SQLite by default, or
``--database-url``), then measures with the same load generator:

- added latency: proxied minus direct, p50 and p99, sequential and at 100 concurrent connections, for a
  non-streaming chat completion and for the time to the first streamed chunk;
- proxied requests per second with authentication, pricing and recording on, without and with a limit named
  on every request (an allow limit: charged synchronously before the answer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2

from benchmarks.loadgen import run
from tests.e2e.servers import run_server

BODY = json.dumps(
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "say something short"}], "max_tokens": 16}
).encode()
STREAM_BODY = json.dumps(
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "say something short"}], "max_tokens": 16,
     "stream": True}
).encode()


@contextmanager
def fake_upstream(workers: int = 1) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.upstream", "--port", "0", "--workers", str(workers), "--max-recorded", "0"],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.search(r"(http://\S+)", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"fake upstream did not start: {line}")
    try:
        yield match.group(1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


async def _add_limit(url: str, key: str, db_url: str) -> None:
    from payi_server.store.changes import utcnow
    from payi_server.store.engine import Database
    from payi_server.store.tables import limits

    app_id = int(httpx2.get(url + "/api/v1/whoami", headers={"xProxy-api-key": key}).json()["app_id"])
    db = Database(db_url, pool_size=1)
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            limits.insert().values(
                app_id=app_id, limit_id="bench", name="bench", limit_type="allow", max=Decimal(1_000_000),
                threshold=None, enforcement="default", created_at=now, updated_at=now,
            )
        )
    await db.dispose()


async def _pair(name: str, direct: str, proxied: str, headers: dict[str, str], body: bytes, concurrency: int,
                duration: float) -> dict[str, Any]:
    a = await run(name + "-direct", direct, method="POST", headers={"content-type": "application/json"}, body=body,
                  concurrency=concurrency, duration=duration)
    b = await run(name + "-proxied", proxied, method="POST", headers=headers, body=body, concurrency=concurrency,
                  duration=duration)
    return {
        "direct": a.summary(),
        "proxied": b.summary(),
        "added_p50_ms": round(b.pct(50) - a.pct(50), 3),
        "added_p99_ms": round(b.pct(99) - a.pct(99), 3),
    }


async def _ttfb(name: str, url: str, headers: dict[str, str], concurrency: int, duration: float) -> Any:
    return await run(name, url, method="POST", headers=headers, body=STREAM_BODY, concurrency=concurrency,
                     duration=duration, first_chunk=True)


async def measure(server_url: str, key: str, fake_url: str, duration: float, db_url: str) -> dict[str, Any]:
    direct = fake_url + "/v1/chat/completions"
    proxied = server_url + "/api/v1/proxy/openai/v1/chat/completions"
    headers = {"content-type": "application/json", "xProxy-Api-Key": key, "authorization": "Bearer sk-bench"}
    out: dict[str, Any] = {}
    for concurrency in (1, 100):
        out[f"json_c{concurrency}"] = await _pair("json", direct, proxied, headers, BODY, concurrency, duration)
        d = await _ttfb("stream-direct", direct, {"content-type": "application/json"}, concurrency, duration)
        p = await _ttfb("stream-proxied", proxied, headers, concurrency, duration)
        out[f"stream_ttfb_c{concurrency}"] = {
            "direct": d.summary(),
            "proxied": p.summary(),
            "added_p50_ms": round(p.pct(50) - d.pct(50), 3),
            "added_p99_ms": round(p.pct(99) - d.pct(99), 3),
        }
    await _add_limit(server_url, key, db_url)
    limited = await run("json-with-limit", proxied, method="POST", headers={**headers, "xProxy-Limit-IDs": "bench"},
                        body=BODY, concurrency=100, duration=duration)
    out["throughput_no_limit_rps"] = out["json_c100"]["proxied"]["rps"]
    out["throughput_with_limit_rps"] = round(limited.rps, 1)
    out["with_limit"] = limited.summary()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temporary directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, fake_upstream() as fake_url:
        env = {
            "PAYI_SERVER_OPENAI_BASE_URL": fake_url + "/v1",
            "PAYI_SERVER_ACCESS_LOG": "false",
            "PAYI_SERVER_LOG_LEVEL": "warning",
            "PAYI_SERVER_WORKERS": str(args.workers),
        }
        if args.database_url:
            env["PAYI_SERVER_DATABASE_URL"] = args.database_url
        with run_server(Path(tmp) / "srv", env) as server:
            db_url = args.database_url or f"sqlite:///{Path(tmp) / 'srv' / 'data' / 'payi.db'}"
            db_url = db_url.replace("sqlite:///", "sqlite+aiosqlite:///").replace("postgresql://", "postgresql+asyncpg://")
            time.sleep(1)
            result = asyncio.run(measure(server.url, server.keys["app1"], fake_url, args.duration, db_url))
    result["workers"] = args.workers
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
