"""Ingest throughput: events/s through ``POST /api/v1/ingest/bulk`` (batches of 1,000) and ingests/s through
single ``POST /api/v1/ingest`` at 50 concurrent clients, on SQLite and on PostgreSQL. Load: ``wrk`` where it is
installed (``benchmarks.wrk``), else the Python load generator.

    .venv/bin/python -m benchmarks.bench_ingest [--duration 10] [--workers 1] [--pg postgresql://postgres@127.0.0.1:5432/test]

Each backend gets a fresh database and a ``payi-server serve`` process; the load generator runs in this process.
Events are priced (Bedrock claude-3-haiku), attributed (user, use case) and recorded with their rollups.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import uuid
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks.wrk import load, loader
from tests.e2e.servers import run_server

RESULTS = Path(__file__).parent / "results"
BULK_CONNECTIONS = 2  # two bulk posts of 1,000 events in flight
SINGLE_CONNECTIONS = 50

EVENT = {
    "category": "system.aws.bedrock",
    "resource": "anthropic.claude-3-haiku-20240307-v1:0",
    "units": {"text": {"input": 50, "output": 100}},
    "user_id": "bench-user",
    "use_case_name": "bench",
    "use_case_id": "5d2b7c1e-0000-4000-8000-000000000001",  # the SDK sends a stable client-generated id
}


async def _fresh_pg(base: str) -> tuple[str, str]:
    name = f"payi_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(base)
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    return base.rsplit("/", 1)[0] + "/" + name, name


async def _drop_pg(base: str, name: str) -> None:
    conn = await asyncpg.connect(base)
    await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await conn.close()


def _measure(url: str, key: str, duration: float) -> dict[str, Any]:
    headers = {"xProxy-api-key": key, "content-type": "application/json"}
    bulk_body = json.dumps([dict(EVENT, provider_response_id=None) for _ in range(1000)]).encode()
    bulk = load(url + "/api/v1/ingest/bulk", headers, bulk_body, BULK_CONNECTIONS, duration)
    single_body = json.dumps({k: v for k, v in EVENT.items() if k in ("category", "resource", "units")}).encode()
    single_headers = {
        **headers,
        "xProxy-User-ID": "bench-user",
        "xProxy-UseCase-Name": "bench",
        "xProxy-UseCase-ID": EVENT["use_case_id"],
    }
    single = load(url + "/api/v1/ingest", single_headers, single_body, SINGLE_CONNECTIONS, duration)
    return {
        "bulk_events_per_s": round(bulk.rps * 1000),
        "bulk": asdict(bulk),
        "single_ingests_per_s": round(single.rps),
        "single": asdict(single),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args()
    results: dict[str, Any] = {"workers": args.workers, "duration_s": args.duration, "loader": loader(),
                               "bulk_connections": BULK_CONNECTIONS, "single_connections": SINGLE_CONNECTIONS}
    env_common = {"PAYI_SERVER_ACCESS_LOG": "false", "PAYI_SERVER_LOG_LEVEL": "warning", "PAYI_SERVER_WORKERS": str(args.workers)}
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "sqlite"):
            with run_server(Path(tmp) / "sqlite", env_common) as server:
                results["sqlite"] = _measure(server.url, server.keys["app1"], args.duration)
        if args.only in (None, "postgresql"):
            url, name = asyncio.run(_fresh_pg(args.pg))
            try:
                env = {**env_common, "PAYI_SERVER_DATABASE_URL": url, "PAYI_SERVER_DATABASE_POOL_SIZE": "20"}
                with run_server(Path(tmp) / "pg", env) as server:
                    results["postgresql"] = _measure(server.url, server.keys["app1"], args.duration)
            finally:
                asyncio.run(_drop_pg(args.pg, name))
    results["date"] = date.today().isoformat()
    out = RESULTS / f"ingest-{results['date']}.json"
    RESULTS.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
