"""Reports over 10 million recorded requests on PostgreSQL: each answers from the rollups in under a second.

    # 1. data: a fresh database, 10M request-log rows (INSERT ... SELECT generate_series), rollups built from them
    .venv/bin/python -m benchmarks.bench_reports generate --requests 10000000
    # 2. timings: the dashboard's reports over the whole range, through the service and through the HTTP API
    .venv/bin/python -m benchmarks.bench_reports run

``--pg`` names the server (default ``postgresql://postgres@127.0.0.1:5432/test``); the data goes into its own
database ``payi_bench_reports``. ``generate --rollups-only`` skips the request log (reports never read it, so
the timings do not depend on it; the request log is what makes the database realistic in size and cache use).

The traffic: ``--days`` (90) of requests spread evenly, 3 applications, 100 users with a skewed share of the
traffic (user ``floor(100 * r^2)``), each user in one application and one of 20 accounts, working mostly on 2 of
12 use cases, 3 steps per use case, each step on a fixed model (8 models), 1% failed. The rollups are built from
the request log with the recorder's own grouping (hour x application x category x resource x use case x
version x step x user x account), and the daily rollup from them; ``run`` checks that the reports count exactly the
generated requests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx2

from payi_server.app import create_app
from payi_server.auth.keys import KeyHasher
from payi_server.auth.manage import Tenancy
from payi_server.reports.query import build_query
from payi_server.reports.scope import load_scope
from payi_server.reports.service import ReportService
from payi_server.settings import load_settings
from payi_server.store.engine import Database
from payi_server.store.migrate import migrate
from payi_server.store.tables import NARROW_ROLLUPS

from benchmarks.bench_requestlog import narrow_backfill

DB_NAME = "payi_bench_reports"
SECRET = "bench-reports-secret-" + "x" * 40
START = datetime(2026, 1, 1, tzinfo=UTC)
CHUNK = 1_000_000

_REQUESTS_SQL = """
INSERT INTO requests (id, app_id, source, category, resource, event_timestamp, ingest_timestamp, units,
    cost_input, cost_output, cost_total, unpriced, use_case_name, use_case_version, use_case_step, user_id,
    account_name, http_status_code, failed, blocked)
SELECT g,
       ($3::bigint[])[1 + u % 3],
       'ingest', 'system.openai',
       (ARRAY['gpt-4o','gpt-4o-mini','gpt-4.1','gpt-4.1-mini','o3','o4-mini','gpt-5','gpt-5-mini'])[1 + (uc + st) % 8],
       ts, ts,
       json_build_object('text', json_build_object('input', tin, 'output', tout)),
       tin * 0.0000025, tout * 0.00001, tin * 0.0000025 + tout * 0.00001,
       false,
       'uc-' || uc, 1, (ARRAY['plan','draft','review'])[1 + st],
       'user-' || u, 'acct-' || (u % 20),
       CASE WHEN failed THEN 500 ELSE 200 END, failed, false
FROM (
    SELECT g,
           u,
           (u * 7 + (random() < 0.2)::int) % 12 AS uc,
           floor(random() * 3)::int AS st,
           100 + floor(random() * 2000)::int AS tin,
           20 + floor(random() * 800)::int AS tout,
           random() < 0.01 AS failed,
           $4::timestamptz + make_interval(secs => (g - 1) * $5::double precision / $6) AS ts
    FROM (SELECT g, floor(100 * power(random(), 2))::int AS u FROM generate_series($1::bigint, $2::bigint) AS g) AS s0
) AS s
"""

_ROLLUP_SQL = """
INSERT INTO rollup_hourly (bucket, app_id, category, resource, use_case_name, use_case_version, use_case_step,
    user_id, account_name, requests, failed, blocked, unpriced, cost_input, cost_output, cost_total,
    units_input, units_output)
SELECT date_trunc('hour', event_timestamp), app_id, category, resource, coalesce(use_case_name, ''),
       coalesce(use_case_version, 0), coalesce(use_case_step, ''), coalesce(user_id, ''), coalesce(account_name, ''),
       count(*), count(*) FILTER (WHERE failed), count(*) FILTER (WHERE blocked), count(*) FILTER (WHERE unpriced),
       sum(cost_input), sum(cost_output), sum(cost_total),
       sum((units->'text'->>'input')::bigint), sum((units->'text'->>'output')::bigint)
FROM requests WHERE id BETWEEN $1 AND $2
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
ON CONFLICT ON CONSTRAINT pk_rollup_hourly DO UPDATE SET
    requests = rollup_hourly.requests + excluded.requests, failed = rollup_hourly.failed + excluded.failed,
    blocked = rollup_hourly.blocked + excluded.blocked, unpriced = rollup_hourly.unpriced + excluded.unpriced,
    cost_input = rollup_hourly.cost_input + excluded.cost_input,
    cost_output = rollup_hourly.cost_output + excluded.cost_output,
    cost_total = rollup_hourly.cost_total + excluded.cost_total,
    units_input = rollup_hourly.units_input + excluded.units_input,
    units_output = rollup_hourly.units_output + excluded.units_output
"""

# The same sums by UTC day (migration 0011), from the hours once they are all written.
_DAILY_SQL = """
INSERT INTO rollup_daily (bucket, app_id, category, resource, use_case_name, use_case_version, use_case_step,
    user_id, account_name, requests, failed, blocked, unpriced, cost_input, cost_output, cost_total,
    units_input, units_output)
SELECT date_trunc('day', bucket, 'UTC'), app_id, category, resource, use_case_name, use_case_version, use_case_step,
       user_id, account_name, sum(requests), sum(failed), sum(blocked), sum(unpriced), sum(cost_input),
       sum(cost_output), sum(cost_total), sum(units_input), sum(units_output)
FROM rollup_hourly GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
"""


def _url(pg: str, name: str, driver: bool = False) -> str:
    base = pg.rsplit("/", 1)[0] + "/" + name
    return base.replace("postgresql://", "postgresql+asyncpg://") if driver else base


async def generate(pg: str, total: int, days: int, rollups_only: bool) -> None:
    admin = await asyncpg.connect(pg)
    await admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {DB_NAME}")
    await admin.close()
    await migrate(_url(pg, DB_NAME, driver=True))
    db = Database(_url(pg, DB_NAME, driver=True), pool_size=2)
    tenancy = Tenancy(db, KeyHasher(SECRET.encode()))
    await tenancy.check_secret()
    boot = await tenancy.bootstrap()
    assert boot is not None
    apps = [int(boot.app["app_id"])]
    for name in ("billing-prod", "search-prod"):
        created, _keys = await tenancy.create_application(boot.org_id, name)
        apps.append(int(created["app_id"]))
    await db.dispose()

    conn = await asyncpg.connect(_url(pg, DB_NAME))
    await conn.execute("SET TIME ZONE 'UTC'")
    began = time.perf_counter()
    span = days * 86400.0
    for first in range(1, total + 1, CHUNK):
        last = min(first + CHUNK - 1, total)
        await conn.execute(_REQUESTS_SQL, first, last, apps, START, span, total)
        await conn.execute(_ROLLUP_SQL, first, last)
        if rollups_only:
            await conn.execute("DELETE FROM requests WHERE id BETWEEN $1 AND $2", first, last)
        print(f"  {last:>12,} requests  {time.perf_counter() - began:7.1f} s", flush=True)
    await conn.execute(_DAILY_SQL)
    # The narrow rollups (by application, by user: what reports by those read) from the full ones, as migration 0013
    # fills them; the migration above ran on empty tables.
    for statement in narrow_backfill():
        await conn.execute(statement)
    await conn.execute("VACUUM ANALYZE requests")
    await conn.execute("VACUUM ANALYZE rollup_hourly")
    await conn.execute("VACUUM ANALYZE rollup_daily")
    for narrow in NARROW_ROLLUPS:
        await conn.execute(f"VACUUM ANALYZE {narrow.hourly.name}")
        await conn.execute(f"VACUUM ANALYZE {narrow.daily.name}")
    rollup_rows = await conn.fetchval("SELECT count(*) FROM rollup_hourly")
    log_rows = await conn.fetchval("SELECT count(*) FROM requests")
    size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size($1))", DB_NAME)
    await conn.close()
    print(f"generated {total:,} requests over {days} days in {time.perf_counter() - began:.1f} s: "
          f"{log_rows:,} request-log rows, {rollup_rows:,} rollup_hourly rows ({total / max(rollup_rows, 1):.1f} "
          f"requests per rollup row), database {size}")


REPORTS: list[tuple[str, dict[str, Any]]] = [
    ("whole range, per day, Europe/Paris", {"bucket": "day", "tz": "Europe/Paris"}),
    ("whole range, per day, by model", {"bucket": "day", "group_by": ["resource"]}),
    ("whole range, top 10 users", {"bucket": "total", "group_by": ["user"], "top": 10}),
    ("whole range, per month, by application and account", {"bucket": "month", "group_by": ["application", "account"]}),
    ("whole range, per day, top 6 use cases (dashboard chart)", {"bucket": "day", "group_by": ["use_case"], "top": 6}),
    ("last 7 days, per hour, by use case and step", {"bucket": "hour", "group_by": ["use_case", "use_case_step"], "days": 7}),
    ("whole range, one user, per day", {"bucket": "day", "filters": {"user": ["user-3"]}}),
]


async def _time(work: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, float, Any]:
    first_began = time.perf_counter()
    result = await work()
    first = time.perf_counter() - first_began
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        result = await work()
        runs.append(time.perf_counter() - began)
    return first, statistics.median(runs), result


async def run(pg: str, days: int, repeat: int) -> None:
    url = _url(pg, DB_NAME, driver=True)
    db = Database(url, pool_size=4)
    conn = await asyncpg.connect(_url(pg, DB_NAME))
    expected = int(await conn.fetchval("SELECT sum(requests) FROM rollup_hourly"))
    log_rows = await conn.fetchval("SELECT count(*) FROM requests")
    rollup_rows = await conn.fetchval("SELECT count(*) FROM rollup_hourly")
    await conn.close()
    org_id = 1
    scope = await load_scope(db, org_id)
    service = ReportService(db)
    end = START + timedelta(days=days)
    print(f"{expected:,} recorded requests ({log_rows:,} rows in the request log, {rollup_rows:,} rollup rows), "
          f"{len(scope.app_ids)} applications; median of {repeat} runs after a first (cold-ish) run")
    print(f"{'report':58} {'rows':>7} {'first':>8} {'median':>8}")
    worst = 0.0
    for label, spec in REPORTS:
        start = end - timedelta(days=spec.get("days", days))
        query = build_query(start=start, end=end, bucket=spec["bucket"], tz=spec.get("tz", "UTC"),
                            group_by=spec.get("group_by", ()), filters=spec.get("filters"), top=spec.get("top"))
        first, median, report = await _time(lambda q=query: service.spend(scope, q), repeat)
        if "days" not in spec and not spec.get("filters"):
            assert report.totals["requests"] == expected, (report.totals["requests"], expected)
        worst = max(worst, median)
        print(f"{label:58} {len(report.rows):>7} {first * 1000:7.0f}ms {median * 1000:7.0f}ms")
    await db.dispose()

    # The same report through the HTTP API (in process: routing, auth, JSON), with the organisation's key.
    settings = load_settings(database_url=_url(pg, DB_NAME), secret_key=SECRET, log_format="text", access_log=False)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        issued = await app.state.payi.tenancy.create_org_key(org_id, label="bench")
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://bench", timeout=60) as client:
            params = {"start": START.isoformat(), "end": end.isoformat(), "bucket": "day", "group_by": "resource",
                      "tz": "America/New_York"}

            async def call() -> Any:
                response = await client.get("/api/v1/reports/spend", params=params,
                                            headers={"xProxy-api-key": issued.plaintext})
                assert response.status_code == 200, response.text
                return response.json()

            first, median, body = await _time(call, repeat)
        await app.state.payi.tenancy.revoke_key(org_id, int(issued.row["id"]))
    worst = max(worst, median)
    print(f"{'HTTP GET /api/v1/reports/spend (per day by model, NY)':58} {len(body['rows']):>7} "
          f"{first * 1000:7.0f}ms {median * 1000:7.0f}ms")
    print(f"slowest median: {worst * 1000:.0f} ms -> {'PASS' if worst < 1.0 else 'FAIL'} (< 1 s); "
          f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["generate", "run"])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--requests", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rollups-only", action="store_true", help="do not keep the request-log rows")
    args = parser.parse_args()
    if args.command == "generate":
        asyncio.run(generate(args.pg, args.requests, args.days, args.rollups_only))
    else:
        asyncio.run(run(args.pg, args.days, args.repeat))


if __name__ == "__main__":
    main()
