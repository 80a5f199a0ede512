"""The request log at scale on PostgreSQL: proxy and ingest against an empty and a filled database, the dashboard's
reports and request pages on the filled one, and the retention of one month.

    .venv/bin/python -m benchmarks.bench_requestlog [--rows 100000000] [--keep] [--admin-url URL]

``--rows 1000000`` is a quick run (about 5 minutes). Steps:

1. **Fill** a database (``payi_bench_requestlog``, next to ``--admin-url``): created, migrated with
   ``payi-server migrate``, an organisation with 3 applications and a budget limit each, then ``--rows`` request
   rows written server-side (``INSERT ... SELECT ... FROM generate_series``, ``--chunk`` rows a statement, each
   committed) over 395 days ending at the last midnight (UTC): 200 users (skewed), 20 accounts, 12 use cases of 3
   steps, 8 models of 3 providers, 70% proxied, 1% failed, 20% linked to their application's limit, 10% with a
   property, 1% with a stored prompt and response, a unique ``provider_response_id`` each. Values are hashes of
   the row number (the same rows every time). Ids are snowflakes of the row's time (``payi_server.ids``), so a
   log partitioned by id ranges gets each row in its day's partition (created first, by the server's own code
   where it has it). The rollups (``rollup_hourly`` with its latency histogram, ``rollup_daily``,
   ``rollup_limit_hourly``, ``rollup_property_hourly``) are aggregated from the rows just written, the narrow
   rollups (by application, by user) from those as migration 0013 makes them, and the limits' totals from theirs.
   After the first 1M rows the bytes per row are measured and the fill stops if the rest would not fit on the
   disk with a 20% margin. ``--keep`` keeps the filled database for the next run (which then does not refill).
2. **Proxy and ingest, in turns** (empty, filled, empty, filled: the machine's speed varies): ``payi-server serve
   --workers 2`` on a fresh empty database (same organisation, applications and limits) or on the filled one;
   the JSON chat completion of ``bench_limits`` through the fake upstream at ``--connections`` for ``--duration``
   seconds after a 3 s warm-up, then single ingests at 50 connections and bulk ingests of 1,000 events at 2
   (``bench_ingest``'s calls). Loader: ``wrk`` where installed (``benchmarks.wrk``). Ratios filled / empty.
3. **Reports** on the filled database through HTTP: ``GET /api/v1/reports/spend`` over the last month and year
   (by hour and day, by user and resource), the dashboard's overview and request list (newest and oldest first,
   a user's, the next page, the most expensive), one request's page and ``GET /api/v1/requests/{id}/result``:
   the first call, then median and max of ``--repeat`` more. Each median must be under 1 s.
4. **Retention of one month**: with a server default of 365 days, a sweep as at the end of the filled range plus
   10 minutes expires the first 30 days (``Retention.sweep``, the server's code). A log that is not partitioned
   is deleted in the sweep's batches: stopped after ``--retention-cap`` seconds and extrapolated. ``--months N``:
   then a month further each time, N sweeps in all. During each sweep a probe takes an insert's lock on
   ``requests`` every 5 ms; the longest wait is how long the sweep held up the recorder. With ``--keep`` the
   expired rows are written back afterwards (the rollups were never touched).

Prints a table and writes every figure to ``benchmarks/results/requestlog-<date>.json`` (or ``--output``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx2

from benchmarks.bench_ingest import EVENT
from benchmarks.bench_limits import PROXY_PATH, logged_errors
from benchmarks.bench_proxy import BODY, fake_upstream
from benchmarks.wrk import Load, load, loader
from payi_server.auth.keys import KeyHasher
from payi_server.auth.manage import Tenancy
from payi_server.ids import EPOCH_MS, NODE_BITS, SEQ_BITS
from payi_server.store.engine import Database
from payi_server.store.retention import Defaults, Retention
from payi_server.store.tables import LATENCY_BOUNDS_MS, NARROW_ROLLUPS, ROLLUP_LATENCY_COLUMNS
from payi_server.web.accounts import Accounts
from tests.e2e.servers import payi_server_command, run_server

RESULTS = Path(__file__).parent / "results"
FILLED_DB = "payi_bench_requestlog"
SECRET = "bench-requestlog-secret-" + "x" * 40
EMAIL = "bench@example.com"
PASSWORD = "bench-requestlog-password-1"
DAYS = 395  # about 13 months
RETENTION_DAYS = 365
EXPIRED_DAYS = 30
FIRST_CHUNK = 1_000_000  # bytes per row are measured after it
SHIFT = NODE_BITS + SEQ_BITS
NODE = (1 << NODE_BITS) - 1  # a node number the running servers are unlikely to hold; ids never collide anyway
APPS = ("default", "billing-prod", "search-prod")
LIMIT_ID = "budget"

# category, resource, $ per input unit, $ per output unit, provider URI (proxied calls)
MODELS = (
    ("system.openai", "gpt-4o", 2.5e-6, 1e-5, "https://api.openai.com/v1/chat/completions"),
    ("system.openai", "gpt-4o-mini", 1.5e-7, 6e-7, "https://api.openai.com/v1/chat/completions"),
    ("system.openai", "gpt-4.1", 2e-6, 8e-6, "https://api.openai.com/v1/chat/completions"),
    ("system.openai", "gpt-4.1-mini", 4e-7, 1.6e-6, "https://api.openai.com/v1/chat/completions"),
    ("system.openai", "o4-mini", 1.1e-6, 4.4e-6, "https://api.openai.com/v1/responses"),
    ("system.anthropic", "claude-sonnet-4-5", 3e-6, 1.5e-5, "https://api.anthropic.com/v1/messages"),
    ("system.anthropic", "claude-haiku-4-5", 8e-7, 4e-6, "https://api.anthropic.com/v1/messages"),
    ("system.aws.bedrock", "anthropic.claude-3-haiku-20240307-v1:0", 2.5e-7, 1.25e-6,
     "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1:0/converse"),
)


def _sql_text_array(values: list[str]) -> str:
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]::text[]"


# One generated row per g: every value from hashes of g (hashint8extended, 16 bits a value), so a range of g is the
# same rows whenever it is generated. $1..$2: g range; $3: application ids; $4: first ms of the range (since the
# snowflake epoch); $5: span in ms; $6: total rows; $7: resource ids per model (NULL: not in the catalog);
# $8: the applications' limit ids (pk).
def _r(n: int) -> str:
    """The ``n``-th uniform value in [0, 1) of the row (four per hash)."""
    return f"(((h{n // 4} >> {16 * (n % 4)}) & 65535)::float8 / 65536.0)"


_PRICE_IN = "ARRAY[" + ",".join(repr(m[2]) for m in MODELS) + "]::float8[]"
_PRICE_OUT = "ARRAY[" + ",".join(repr(m[3]) for m in MODELS) + "]::float8[]"
_GENERATED = f"""
SELECT g, id, app, u, m, uc, st, tin, tout, lat, proxied, failed, linked, prop, stored, limit_pk, ts,
       ($7::bigint[])[m] AS resource_id,
       (tin * ({_PRICE_IN})[m])::numeric(38, 10) AS cost_in,
       (tout * ({_PRICE_OUT})[m])::numeric(38, 10) AS cost_out
FROM (
    SELECT g, u, uc, st, 1 + (uc + st) % {len(MODELS)} AS m,
           ((($4::bigint + off_ms) << {SHIFT}) | ({NODE} << {SEQ_BITS}) | (g & {(1 << SEQ_BITS) - 1})) AS id,
           timestamptz '2024-01-01 00:00:00+00' + ($4::bigint + off_ms) * interval '1 millisecond' AS ts,
           ($3::bigint[])[1 + u % 3] AS app,
           ($8::bigint[])[1 + u % 3] AS limit_pk,
           100 + floor(2000 * {_r(3)})::int AS tin,
           20 + floor(800 * {_r(4)})::int AS tout,
           (150 + floor(-800 * ln(1 - {_r(5)})))::int AS lat,
           {_r(6)} < 0.7 AS proxied,
           {_r(7)} < 0.01 AS failed,
           {_r(8)} < 0.2 AS linked,
           {_r(9)} < 0.1 AS prop,
           {_r(10)} < 0.01 AS stored
    FROM (
        SELECT g, off_ms, h0, h1, h2, u, (u * 7 + ({_r(2)} < 0.2)::int) % 12 AS uc, floor(3 * {_r(1)})::int AS st
        FROM (
            SELECT g, off_ms, h0, h1, h2, floor(200 * power({_r(0)}, 2))::int AS u
            FROM (
                SELECT g, ((g - 1) * $5::bigint) / $6::bigint AS off_ms, hashint8extended(g, 1) AS h0,
                       hashint8extended(g, 2) AS h1, hashint8extended(g, 3) AS h2
                FROM generate_series($1::bigint, $2::bigint) AS g
            ) AS s0
        ) AS s1
    ) AS s2
) AS s
"""

_CATS = _sql_text_array([m[0] for m in MODELS])
_RESOURCES = _sql_text_array([m[1] for m in MODELS])
_URIS = _sql_text_array([m[4] for m in MODELS])
_STEPS = _sql_text_array(["plan", "draft", "review"])

_INSERT_REQUESTS = f"""
INSERT INTO requests (id, app_id, source, category, resource, resource_id, event_timestamp, ingest_timestamp, units,
    cost_input, cost_output, cost_total, unpriced, use_case_id, use_case_name, use_case_version, use_case_step, user_id,
    account_name, limit_ids, properties, http_status_code, failed, blocked, end_to_end_latency_ms,
    time_to_first_token_ms, provider_response_id, provider_uri)
SELECT id, app, CASE WHEN proxied THEN 'proxy' ELSE 'ingest' END, ({_CATS})[m], ({_RESOURCES})[m], resource_id,
       ts, ts, ('{{"text": {{"input": ' || tin || ', "output": ' || tout || '}}}}')::json,
       cost_in, cost_out, cost_in + cost_out, resource_id IS NULL,
       'uci-' || to_hex(g / 4), 'uc-' || uc, 1, ({_STEPS})[1 + st], 'user-' || u, 'acct-' || (u % 20),
       CASE WHEN linked THEN '["{LIMIT_ID}"]'::json END,
       CASE WHEN prop THEN CASE WHEN g % 5 = 0 THEN '{{"env": "staging"}}' ELSE '{{"env": "prod"}}' END::json END,
       CASE WHEN failed THEN 500 ELSE 200 END, failed, false, lat,
       CASE WHEN proxied AND g % 3 = 0 THEN lat / 4 END,
       'resp-' || g, CASE WHEN proxied THEN ({_URIS})[m] END
FROM ({_GENERATED}) AS r
"""

_INSERT_LINKS = f"""
INSERT INTO request_limits (request_id, limit_pk, state)
SELECT id, limit_pk, 'ok' FROM ({_GENERATED}) AS r WHERE linked
"""

_INSERT_PAYLOADS = f"""
INSERT INTO request_payloads (request_id, app_id, event_timestamp, provider_request_json, provider_response_json)
SELECT id, app, ts,
       json_build_object('model', ({_RESOURCES})[m], 'max_tokens', 1024, 'messages', json_build_array(
           json_build_object('role', 'system', 'content', 'You are the ' || ({_STEPS})[1 + st] || ' step of use case '
                             || uc || '. Answer briefly and cite the documents given.'),
           json_build_object('role', 'user', 'content', repeat('Summarise the attached report section ' || g || '. ',
                             4))))::text,
       to_json(repeat('Here is a short summary of section ' || g || ' as asked. ', 6))
FROM ({_GENERATED}) AS r WHERE stored
"""

# The duplicate keys, where the log keeps them in their own table (a partitioned log: ``request_keys``; they live
# as long as their requests, ``store/requestkeys.py``).
_INSERT_KEYS = f"""
INSERT INTO request_keys (request_id, app_id, category, provider_response_id)
SELECT id, app, ({_CATS})[m], 'resp-' || g FROM ({_GENERATED}) AS r
"""

_NO_CONFLICT = " ON CONFLICT DO NOTHING"


def narrow_backfill() -> list[str]:
    """The statements of migration 0013 that fill the narrow rollups from the full ones (a module named by digits)."""
    return importlib.import_module("payi_server.store.migrations.versions.0013_narrow_rollups").backfill()

_LATENCY_SUMS = ",\n".join(
    f"count(*) FILTER (WHERE lb = {i})" for i in range(len(ROLLUP_LATENCY_COLUMNS))
)
_BOUNDS = "ARRAY[" + ",".join(str(b) for b in LATENCY_BOUNDS_MS) + "]::int[]"
_MEASURES = ("requests", "failed", "blocked", "unpriced", "cost_input", "cost_output", "cost_total", "units_input",
             "units_output", *ROLLUP_LATENCY_COLUMNS)
_ROLLUP_HOURLY = f"""
INSERT INTO rollup_hourly (bucket, app_id, category, resource, use_case_name, use_case_version, use_case_step,
    user_id, account_name, {", ".join(_MEASURES)})
SELECT date_trunc('hour', event_timestamp), app_id, category, resource, coalesce(use_case_name, ''),
       coalesce(use_case_version, 0), coalesce(use_case_step, ''), coalesce(user_id, ''), coalesce(account_name, ''),
       count(*), count(*) FILTER (WHERE failed), count(*) FILTER (WHERE blocked), count(*) FILTER (WHERE unpriced),
       sum(cost_input), sum(cost_output), sum(cost_total),
       sum((units->'text'->>'input')::bigint), sum((units->'text'->>'output')::bigint),
       {_LATENCY_SUMS}
FROM (SELECT *, width_bucket(end_to_end_latency_ms, {_BOUNDS}) AS lb FROM requests WHERE id BETWEEN $1 AND $2) AS r
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
ON CONFLICT ON CONSTRAINT pk_rollup_hourly DO UPDATE SET
    {", ".join(f"{c} = rollup_hourly.{c} + excluded.{c}" for c in _MEASURES)}
"""
# The same sums by UTC day (migration 0011), from the rows: a day can span two chunks, so not from the hours.
_ROLLUP_DAILY = _ROLLUP_HOURLY.replace("rollup_hourly", "rollup_daily").replace(
    "date_trunc('hour', event_timestamp)", "date_trunc('day', event_timestamp, 'UTC')"
)

_ROLLUP_LIMITS = """
INSERT INTO rollup_limit_hourly (bucket, app_id, limit_pk, requests, cost_total)
SELECT date_trunc('hour', r.event_timestamp), r.app_id, l.limit_pk, count(*), sum(r.cost_total)
FROM requests AS r JOIN request_limits AS l ON l.request_id = r.id
WHERE r.id BETWEEN $1 AND $2 AND l.request_id BETWEEN $1 AND $2
GROUP BY 1, 2, 3
ON CONFLICT ON CONSTRAINT pk_rollup_limit_hourly DO UPDATE SET
    requests = rollup_limit_hourly.requests + excluded.requests,
    cost_total = rollup_limit_hourly.cost_total + excluded.cost_total
"""

_ROLLUP_PROPERTIES = """
INSERT INTO rollup_property_hourly (bucket, app_id, name, value, requests, cost_total)
SELECT date_trunc('hour', r.event_timestamp), r.app_id, p.key, p.value, count(*), sum(r.cost_total)
FROM requests AS r CROSS JOIN LATERAL json_each_text(r.properties) AS p
WHERE r.id BETWEEN $1 AND $2 AND r.properties IS NOT NULL
GROUP BY 1, 2, 3, 4
ON CONFLICT ON CONSTRAINT pk_rollup_property_hourly DO UPDATE SET
    requests = rollup_property_hourly.requests + excluded.requests,
    cost_total = rollup_property_hourly.cost_total + excluded.cost_total
"""

_LIMIT_TOTALS = """
UPDATE limits SET spent_total = t.cost, spent_input = t.cost_in, spent_output = t.cost_out,
                  count_ok = t.n, count_total = t.n
FROM (SELECT l.limit_pk, count(*) AS n, sum(r.cost_total) AS cost, sum(r.cost_input) AS cost_in,
             sum(r.cost_output) AS cost_out
      FROM request_limits AS l JOIN requests AS r ON r.id = l.request_id GROUP BY l.limit_pk) AS t
WHERE limits.id = t.limit_pk
"""

LOG_TABLES = ("requests", "request_limits", "request_payloads", "request_keys")


# --- databases --------------------------------------------------------------------------------------------------
def _url(admin: str, name: str, driver: bool = False) -> str:
    base = admin.rsplit("/", 1)[0] + "/" + name
    return base.replace("postgresql://", "postgresql+asyncpg://") if driver else base


async def _admin(admin: str, *statements: str) -> list[Any]:
    conn = await asyncpg.connect(admin)
    try:
        return [await conn.fetch(s) for s in statements]
    finally:
        await conn.close()


def _migrate(url: str) -> None:
    """``payi-server migrate``: the migrations and the price catalog, as an operator prepares a database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYI_")}
    env.update(PAYI_SERVER_DATABASE_URL=url, PAYI_SERVER_SECRET_KEY=SECRET, PAYI_SERVER_LOG_LEVEL="warning")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([*payi_server_command(), "migrate"], env=env, cwd=tmp, check=True, capture_output=True,
                       text=True)


async def _setup_tenancy(url: str) -> dict[str, Any]:
    """An organisation, the applications and a budget limit each; returns their ids."""
    db = Database(url.replace("postgresql://", "postgresql+asyncpg://"), pool_size=2)
    try:
        tenancy = Tenancy(db, KeyHasher(SECRET.encode()))
        await tenancy.check_secret()
        boot = await tenancy.bootstrap()
        assert boot is not None, "the benchmark's database already had an organisation"
        apps = [int(boot.app["app_id"])]
        for name in APPS[1:]:
            created, _keys = await tenancy.create_application(boot.org_id, name)
            apps.append(int(created["app_id"]))
        await Accounts(db).create_user(boot.org_id, EMAIL, PASSWORD, "viewer")
    finally:
        await db.dispose()
    conn = await asyncpg.connect(url)
    try:
        limit_pks = [
            await conn.fetchval(
                """INSERT INTO limits (app_id, limit_id, name, limit_type, max, enforcement, spent_input, spent_output,
                       spent_total, reserved, count_ok, count_exceeded, count_overrun, count_blocked,
                       count_blocked_external, count_failed, count_total, created_at, updated_at)
                   VALUES ($1, $2, $2, 'block', 100000000, 'default', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, now(), now())
                   RETURNING id""",
                app, LIMIT_ID,
            )
            for app in apps
        ]
    finally:
        await conn.close()
    return {"org_id": boot.org_id, "apps": apps, "limit_pks": limit_pks}


async def _issue_keys(url: str, setup: dict[str, Any]) -> dict[str, str]:
    """Fresh keys for this run (a kept database's earlier ones were shown once and are gone)."""
    db = Database(url.replace("postgresql://", "postgresql+asyncpg://"), pool_size=2)
    try:
        tenancy = Tenancy(db, KeyHasher(SECRET.encode()))
        app_key = await tenancy.regenerate(setup["org_id"], setup["apps"][0], 1)
        org_key = await tenancy.create_org_key(setup["org_id"], label="bench")
        return {"app": app_key.plaintext, "org": org_key.plaintext}
    finally:
        await db.dispose()


@contextmanager
def empty_database(admin: str) -> Iterator[tuple[str, dict[str, Any]]]:
    name = f"payi_bench_requestlog_empty_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(admin, f"CREATE DATABASE {name}"))
    try:
        url = _url(admin, name)
        _migrate(url)
        setup = asyncio.run(_setup_tenancy(url))
        yield url, setup
    finally:
        asyncio.run(_admin(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


# --- partitions ---------------------------------------------------------------------------------------------------
def _day_id(day: datetime) -> int:
    return (int(day.timestamp() * 1000) - EPOCH_MS) << SHIFT


async def partitioned_tables(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "WHERE c.relname = ANY($1::text[])", list(LOG_TABLES))
    return sorted(r["relname"] for r in rows)


async def create_partitions(conn: asyncpg.Connection, url: str, start: datetime, end: datetime) -> list[str]:
    """The day partitions of ``[start, end)`` of each partitioned request-log table, made by the server's own
    ``store.partitions.ensure_days`` where the tree has it; the partitioned tables.

    A new database's ``*_legacy`` partitions (every id below the cut-over of migration 0010, that is all of the
    filled range) are empty: they are given back the range below ``start`` only, as on a server that has run on
    partitions since before the filled range."""
    tables = await partitioned_tables(conn)
    for table in tables:
        legacy = f"{table}_legacy"
        if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", legacy):
            if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {legacy})"):
                continue
            async with conn.transaction():
                await conn.execute(f"ALTER TABLE {table} DETACH PARTITION {legacy}")
                await conn.execute(f"ALTER TABLE {table} ATTACH PARTITION {legacy} "
                                   f"FOR VALUES FROM (MINVALUE) TO ({_day_id(start)})")
    if not tables:
        return tables
    try:
        ensure_days = importlib.import_module("payi_server.store.partitions").ensure_days
    except (ImportError, AttributeError):
        for table in tables:
            await _own_partitions(conn, table, start, end)
        return tables
    db = Database(url.replace("postgresql://", "postgresql+asyncpg://"), pool_size=1)
    try:
        day, last = start.date(), (end - timedelta(microseconds=1)).date()
        while day <= last:  # a month a transaction: each partition takes a few locks
            days = min(30, (last - day).days + 1)

            def month(sync_conn: Any, first: date = day, more: int = days - 1) -> None:
                ensure_days(sync_conn, first, more)

            async with db.write() as sa_conn:
                await sa_conn.run_sync(month)
            day += timedelta(days=days)
    finally:
        await db.dispose()
    return tables


async def _own_partitions(conn: asyncpg.Connection, table: str, start: datetime, end: datetime) -> None:
    day = start
    while day < end:
        name = f"{table}_p{day:%Y%m%d}"
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
                           f"FOR VALUES FROM ({_day_id(day)}) TO ({_day_id(day + timedelta(days=1))})")
        if table == "request_keys":
            await conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS uq_{name}_key ON {name} "
                               "(app_id, category, provider_response_id)")
        day += timedelta(days=1)


# --- the fill -----------------------------------------------------------------------------------------------------
def _span(end: datetime) -> tuple[datetime, int]:
    start = end - timedelta(days=DAYS)
    return start, DAYS * 86_400_000


async def _resource_ids(conn: asyncpg.Connection) -> list[int | None]:
    out: list[int | None] = []
    for category, resource, *_ in MODELS:
        out.append(await conn.fetchval(
            "SELECT max(id) FROM resources WHERE org_id IS NULL AND category = $1 AND resource = $2",
            category, resource))
    return out


async def _write_rows(conn: asyncpg.Connection, first: int, last: int, meta: dict[str, Any], *, rollups: bool,
                      refill: bool = False) -> dict[str, float]:
    """Rows ``first..last``, their links and payloads (and their rollups); returns seconds per statement."""
    start = datetime.fromisoformat(meta["start"])
    start_ms = int(start.timestamp() * 1000) - EPOCH_MS
    args = (first, last, meta["apps"], start_ms, meta["span_ms"], meta["rows"], meta["resource_ids"],
            meta["limit_pks"])
    suffix = _NO_CONFLICT if refill else ""
    seconds: dict[str, float] = {}
    statements = [("requests", _INSERT_REQUESTS), ("links", _INSERT_LINKS), ("payloads", _INSERT_PAYLOADS)]
    if "request_keys" in meta["partitioned_tables"]:
        statements.append(("keys", _INSERT_KEYS))
    async with conn.transaction():
        for name, sql in statements:
            t0 = time.perf_counter()
            await conn.execute(sql + suffix, *args)
            seconds[name] = time.perf_counter() - t0
        if rollups:
            lo = (start_ms + ((first - 1) * meta["span_ms"]) // meta["rows"]) << SHIFT
            hi = ((start_ms + ((last - 1) * meta["span_ms"]) // meta["rows"] + 1) << SHIFT) - 1
            for name, sql in (("rollups", _ROLLUP_HOURLY), ("daily rollups", _ROLLUP_DAILY), ("limit rollups", _ROLLUP_LIMITS),
                              ("property rollups", _ROLLUP_PROPERTIES)):
                t0 = time.perf_counter()
                await conn.execute(sql, lo, hi)
                seconds[name] = time.perf_counter() - t0
    return seconds


_SIZES = """
SELECT coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE t LIKE 'request%'), 0) AS log,
       coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE t LIKE 'rollup%'), 0) AS rollups
FROM (SELECT oid, regexp_replace(relname, '_(p[0-9]{8}|default|legacy)$', '') AS t FROM pg_class
      WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace) AS c
"""


async def _estimate(conn: asyncpg.Connection, filled: int, rows: int, base: int) -> dict[str, Any]:
    """The database's size with ``rows``, from its size with ``filled``: the request log grows with its rows; the
    rollups with their groups, which are at most one per hour and combination of dimensions seen (at a few rows
    per hour, a row is a group of its own; at 100M rows, thousands of rows share one)."""
    sizes = await conn.fetchrow(_SIZES)
    rollup_rows = await conn.fetchval("SELECT count(*) FROM rollup_hourly")
    combinations = await conn.fetchval(
        "SELECT count(*) FROM (SELECT DISTINCT app_id, category, resource, use_case_name, use_case_version, "
        "use_case_step, user_id, account_name FROM rollup_hourly) AS d")
    most = min(rollup_rows * rows // filled, DAYS * 24 * combinations)
    other = await _log_bytes(conn) - base - sizes["log"] - sizes["rollups"]
    total = sizes["log"] * rows // filled + sizes["rollups"] * most // max(rollup_rows, 1) + other
    return {"bytes": int(total), "log_bytes_per_row": round(sizes["log"] / filled), "rollup_rows": int(most),
            "rollup_bytes_per_row": round(sizes["rollups"] / max(rollup_rows, 1))}


async def _log_bytes(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT pg_database_size(current_database())"))


def _free_bytes(path: str) -> int:
    for candidate in (path, "/var/lib/postgresql", "/"):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return 0


async def fill(admin: str, rows: int, chunk: int) -> dict[str, Any]:
    """A new filled database; returns what was filled (kept as the database's comment)."""
    await _admin(admin, f"DROP DATABASE IF EXISTS {FILLED_DB} WITH (FORCE)", f"CREATE DATABASE {FILLED_DB}")
    url = _url(admin, FILLED_DB)
    began = time.perf_counter()
    _migrate(url)
    setup = await _setup_tenancy(url)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start, span_ms = _span(end)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET TIME ZONE 'UTC'; SET synchronous_commit = off; SET work_mem = '256MB'")
        meta = {**setup, "rows": rows, "start": start.isoformat(), "end": end.isoformat(), "span_ms": span_ms,
                "resource_ids": await _resource_ids(conn)}
        meta["partitioned_tables"] = await create_partitions(conn, url, start, end + timedelta(days=1))
        data_dir = str(await conn.fetchval("SHOW data_directory"))
        base = await _log_bytes(conn)
        print(f"filling {rows:,} rows from {start:%Y-%m-%d} to {end:%Y-%m-%d}, {chunk:,} a statement"
              f" (partitioned: {', '.join(meta['partitioned_tables']) or 'no'})", flush=True)
        fill_began = time.perf_counter()
        first = 1
        while first <= rows:
            last = min(rows, first + (FIRST_CHUNK if first == 1 else chunk) - 1)
            t0 = time.perf_counter()
            seconds = await _write_rows(conn, first, last, meta, rollups=True)
            took = time.perf_counter() - t0
            elapsed = time.perf_counter() - fill_began
            parts = ", ".join(f"{name} {s:.1f}" for name, s in seconds.items())
            print(f"  {last:>13,} rows  {(last - first + 1) / took:>9,.0f} rows/s  {elapsed:8.1f} s  ({parts} s)",
                  flush=True)
            if first == 1:
                meta["estimate"] = estimate = await _estimate(conn, last, rows, base)
                free = _free_bytes(data_dir)
                need = (estimate["bytes"] - (await _log_bytes(conn) - base)) * 1.2
                print(f"  estimate for {rows:,} rows: {estimate['bytes'] / 1e9:,.1f} GB "
                      f"({estimate['log_bytes_per_row']} bytes a request-log row, up to "
                      f"{estimate['rollup_rows']:,} rollup rows); {free / 1e9:,.1f} GB free", flush=True)
                if need > free:
                    raise SystemExit(f"not enough disk: the rest needs {need / 1e9:,.1f} GB with a 20% margin, "
                                     f"{free / 1e9:,.1f} GB free")
            first = last + 1
        meta["fill_seconds"] = round(time.perf_counter() - fill_began, 1)
        # The narrow rollups (by application, by user) from the full ones, as migration 0013 makes them.
        t0 = time.perf_counter()
        for statement in narrow_backfill():
            await conn.execute(statement)
        meta["narrow_rollup_seconds"] = round(time.perf_counter() - t0, 1)
        await conn.execute(_LIMIT_TOTALS)
        t0 = time.perf_counter()
        for table in ("requests", "request_limits", "request_payloads", "rollup_hourly", "rollup_daily",
                      "rollup_limit_hourly", "rollup_property_hourly",
                      *(t.name for n in NARROW_ROLLUPS for t in (n.hourly, n.daily))):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        meta["vacuum_seconds"] = round(time.perf_counter() - t0, 1)
        meta["database_bytes"] = await _log_bytes(conn)
        meta["bytes_per_row"] = round((meta["database_bytes"] - base) / rows)
        meta["rollup_hourly_rows"] = await conn.fetchval("SELECT count(*) FROM rollup_hourly")
        meta["rollup_daily_rows"] = await conn.fetchval("SELECT count(*) FROM rollup_daily")
        meta["rollup_user_hourly_rows"] = await conn.fetchval("SELECT count(*) FROM rollup_user_hourly")
        meta["total_seconds"] = round(time.perf_counter() - began, 1)
        await conn.execute(f"COMMENT ON DATABASE {FILLED_DB} IS '{json.dumps(meta)}'")
    finally:
        await conn.close()
    print(f"filled {rows:,} rows in {meta['fill_seconds']:,} s ({rows / meta['fill_seconds']:,.0f} rows/s), "
          f"vacuum {meta['vacuum_seconds']} s, database {meta['database_bytes'] / 1e9:.2f} GB, "
          f"{meta['bytes_per_row']} bytes/row, {meta['rollup_hourly_rows']:,} rollup_hourly rows, "
          f"{meta['rollup_daily_rows']:,} rollup_daily rows, {meta['rollup_user_hourly_rows']:,} rollup_user_hourly"
          f" rows (narrow rollups {meta['narrow_rollup_seconds']} s)", flush=True)
    return meta


async def kept(admin: str, rows: int) -> dict[str, Any] | None:
    """The kept database's fill, if it holds ``rows``."""
    found = await _admin(admin, "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database "
                                f"WHERE datname = '{FILLED_DB}'")
    if not found[0] or not found[0][0]["c"]:
        return None
    meta: dict[str, Any] = json.loads(found[0][0]["c"])
    return meta if meta.get("rows") == rows else None


# --- proxy and ingest ---------------------------------------------------------------------------------------------
def _server_env(url: str, fake_url: str) -> dict[str, str]:
    return {
        "PAYI_SERVER_DATABASE_URL": url,
        "PAYI_SERVER_SECRET_KEY": SECRET,
        "PAYI_SERVER_WORKERS": "2",
        "PAYI_SERVER_DATABASE_POOL_SIZE": "20",
        "PAYI_SERVER_OPENAI_BASE_URL": fake_url + "/v1",
        "PAYI_SERVER_ALLOW_PRIVATE_PROVIDER_HOSTS": "true",
        "PAYI_SERVER_ACCESS_LOG": "false",
        "PAYI_SERVER_LOG_LEVEL": "warning",
        "PAYI_SERVER_RETENTION_INTERVAL": str(7 * 86_400),
    }


def _turn(url: str, setup: dict[str, Any], fake_url: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    keys = asyncio.run(_issue_keys(url, setup))
    result: dict[str, Any] = {}
    with run_server(workdir, _server_env(url, fake_url)) as server:
        try:
            proxy_headers = {"content-type": "application/json", "xProxy-Api-Key": keys["app"],
                             "authorization": "Bearer sk-bench"}
            result["proxy"] = asdict(load(server.url + PROXY_PATH, proxy_headers, BODY, args.connections,
                                          args.duration))
            headers = {"xProxy-api-key": keys["app"], "content-type": "application/json"}
            single_body = json.dumps({k: v for k, v in EVENT.items() if k in ("category", "resource", "units")})
            single_headers = {**headers, "xProxy-User-ID": "bench-user", "xProxy-UseCase-Name": "bench",
                              "xProxy-UseCase-ID": str(EVENT["use_case_id"])}
            result["ingest_single"] = asdict(load(server.url + "/api/v1/ingest", single_headers,
                                                  single_body.encode(), 50, args.duration))
            bulk_body = json.dumps([dict(EVENT, provider_response_id=None) for _ in range(1000)]).encode()
            bulk = load(server.url + "/api/v1/ingest/bulk", headers, bulk_body, 2, args.duration)
            result["ingest_bulk"] = {**asdict(bulk), "events_per_s": round(bulk.rps * 1000)}
        finally:
            result["server_errors"] = logged_errors(server.output)
    return result


def _mean(turns: list[dict[str, Any]], kind: str, field: str) -> float:
    return statistics.fmean(t[kind][field] for t in turns)


def compare(turns: list[dict[str, Any]]) -> dict[str, Any]:
    empty = [t for t in turns if t["database"] == "empty"]
    filled = [t for t in turns if t["database"] == "filled"]
    out: dict[str, Any] = {}
    for kind in ("proxy", "ingest_single", "ingest_bulk"):
        row = {}
        for field in ("rps", "p50_ms", "p99_ms"):
            e, f = _mean(empty, kind, field), _mean(filled, kind, field)
            row[field] = {"empty": round(e, 2), "filled": round(f, 2), "ratio": round(f / e, 3) if e else None}
        out[kind] = row
    return out


# --- reports ------------------------------------------------------------------------------------------------------
def _login(client: httpx2.Client) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "no sign-in form"
    answer = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1),
                                         "next": "/"})
    assert answer.status_code == 303, f"sign-in answered {answer.status_code}"


def _timed(client: httpx2.Client, path: str, params: dict[str, Any] | None, headers: dict[str, str],
           repeat: int) -> dict[str, Any]:
    times = []
    size = 0
    for _ in range(repeat + 1):
        t0 = time.perf_counter()
        answer = client.get(path, params=params, headers=headers)
        times.append(time.perf_counter() - t0)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path} {params} answered {answer.status_code}: {answer.text[:300]}")
        size = len(answer.content)
    rest = times[1:] or times
    return {"first_ms": round(times[0] * 1000, 1), "median_ms": round(statistics.median(rest) * 1000, 1),
            "max_ms": round(max(rest) * 1000, 1), "bytes": size}


def reports(url: str, setup: dict[str, Any], meta: dict[str, Any], fake_url: str, workdir: Path,
            repeat: int) -> dict[str, Any]:
    keys = asyncio.run(_issue_keys(url, setup))
    end = datetime.fromisoformat(meta["end"])
    month, year = (end - timedelta(days=30)).isoformat(), (end - timedelta(days=365)).isoformat()
    request_id = asyncio.run(_a_request(url, setup["apps"][0], meta))
    org = {"xProxy-api-key": keys["org"]}
    app = {"xProxy-api-key": keys["app"]}
    spend = "/api/v1/reports/spend"
    calls: list[tuple[str, str, dict[str, Any] | None, dict[str, str]]] = [
        ("API spend: month by hour, by user", spend,
         {"start": month, "end": end.isoformat(), "bucket": "hour", "group_by": "user"}, org),
        ("API spend: month by day, by resource", spend,
         {"start": month, "end": end.isoformat(), "bucket": "day", "group_by": "resource"}, org),
        ("API spend: year by day, by user", spend,
         {"start": year, "end": end.isoformat(), "bucket": "day", "group_by": "user"}, org),
        ("API spend: year by day, by resource", spend,
         {"start": year, "end": end.isoformat(), "bucket": "day", "group_by": "resource"}, org),
        ("API spend: year by month, top 10 users", spend,
         {"start": year, "end": end.isoformat(), "bucket": "month", "group_by": "user", "top": 10}, org),
        ("API spend: year by day, one application's key", spend,
         {"start": year, "end": end.isoformat(), "bucket": "day"}, app),
        ("dashboard overview, last 30 days", "/", {"range": "30d"}, {}),
        ("dashboard overview, last 12 months", "/", {"range": "365d"}, {}),
        ("dashboard requests, last 7 days, newest first", "/requests", None, {}),
        ("dashboard requests, last 30 days, oldest first", "/requests", {"range": "30d", "sort": "oldest"}, {}),
        ("dashboard requests, last 30 days, one user", "/requests", {"range": "30d", "user": "user-42"}, {}),
        ("dashboard requests, last 30 days, most expensive", "/requests", {"range": "30d", "sort": "cost"}, {}),
        ("dashboard request page, by id", f"/requests/{request_id}", None, {}),
        ("API request result, by id", f"/api/v1/requests/{request_id}/result", None, app),
    ]
    out: dict[str, Any] = {"request_id": str(request_id)}
    with run_server(workdir, _server_env(url, fake_url)) as server:
        with httpx2.Client(base_url=server.url, timeout=600) as client:  # slow reports at 100M rows
            _login(client)
            for label, path, params, headers in calls:
                out[label] = _timed(client, path, params, headers, repeat)
                print(f"  {label:55} {out[label]['median_ms']:8.1f} ms", flush=True)
            page = client.get("/requests", params={"range": "30d"})
            link = re.search(r'href="(/requests\?[^"]*cursor=[^"]+)"', page.text)
            if link:
                out["dashboard requests, next page"] = _timed(client, link.group(1).replace("&amp;", "&"), None,
                                                              {}, repeat)
        out["server_errors"] = logged_errors(server.output)
    return out


async def _a_request(url: str, app_id: int, meta: dict[str, Any]) -> int:
    """A request of the application from the middle of the filled range."""
    middle = datetime.fromisoformat(meta["start"]) + timedelta(days=DAYS // 2)
    conn = await asyncpg.connect(url)
    try:
        found = await conn.fetchval("SELECT id FROM requests WHERE id >= $1 AND app_id = $2 ORDER BY id LIMIT 1",
                                    _day_id(middle), app_id)
    finally:
        await conn.close()
    return int(found)


# --- retention ----------------------------------------------------------------------------------------------------
async def retention(url: str, meta: dict[str, Any], cap: float, keep: bool, months: int = 1) -> dict[str, Any]:
    """Expire the first 30 days: the server default of 365 days, swept as at the filled range's end + 10 min; with
    ``months`` more than 1, then a month further each time (``sweeps``: each one's figures; the first's are also
    the answer's own). During each sweep a probe takes an insert's lock on ``requests`` every 5 ms: the longest
    wait is how long the sweep held up the recorder."""
    start = datetime.fromisoformat(meta["start"])
    db = Database(url.replace("postgresql://", "postgresql+asyncpg://"), pool_size=4)
    out: dict[str, Any] = {"cap_s": cap, "sweeps": []}
    conn = await asyncpg.connect(url)
    probe = await asyncpg.connect(url)
    try:
        out["partitioned_tables"] = await partitioned_tables(conn)
        for month in range(months):
            cutoff = start + timedelta(days=EXPIRED_DAYS * (month + 1), minutes=10)
            now = cutoff + timedelta(days=RETENTION_DAYS)
            sweep: dict[str, Any] = {"cutoff": cutoff.isoformat(), "now": now.isoformat()}
            sweep["rows_before"] = await conn.fetchval("SELECT count(*) FROM requests")
            deadline = time.monotonic() + cap

            async def within_cap() -> bool:
                return time.monotonic() < deadline

            waits: list[float] = []
            done = asyncio.Event()

            async def probing() -> None:
                while not done.is_set():
                    t = time.perf_counter()
                    async with probe.transaction():
                        await probe.execute("LOCK TABLE requests IN ROW EXCLUSIVE MODE")
                    waits.append(time.perf_counter() - t)
                    await asyncio.sleep(0.005)

            task = asyncio.create_task(probing())
            t0 = time.perf_counter()
            sweeper = Retention(db, Defaults(request_days=RETENTION_DAYS))
            try:
                removed = await sweeper.sweep(now=now, renew=within_cap)
            finally:
                sweep["seconds"] = round(time.perf_counter() - t0, 3)
                done.set()
                await task
            sweep["timings"] = {step: round(seconds, 3) for step, seconds in sweeper.last_timings.items()}
            sweep["lock_wait_max_ms"] = round(max(waits, default=0.0) * 1000, 1)
            sweep["removed"] = removed
            sweep["rows_after"] = await conn.fetchval("SELECT count(*) FROM requests")
            left = await conn.fetchval("SELECT count(*) FROM requests WHERE event_timestamp < $1 AND id < $2",
                                       cutoff, _day_id(cutoff + timedelta(days=1)))
            sweep["expired_left"] = left
            sweep["complete"] = left == 0
            deleted = sweep["rows_before"] - sweep["rows_after"]
            sweep["rows_deleted"] = deleted
            if left and deleted:
                sweep["extrapolated_seconds"] = round(sweep["seconds"] * (deleted + left) / deleted, 1)
            out["sweeps"].append(sweep)
            if not sweep["complete"]:
                break
        out.update({k: v for k, v in out["sweeps"][0].items()})
        if keep:
            out["refill_seconds"] = await _refill(conn, url, meta, datetime.fromisoformat(out["sweeps"][-1]["cutoff"]))
    finally:
        await probe.close()
        await conn.close()
        await db.dispose()
    return out


async def _refill(conn: asyncpg.Connection, url: str, meta: dict[str, Any], cutoff: datetime) -> float:
    """Write back what the sweep deleted, so the kept database stays whole (its rollups were never touched)."""
    start = datetime.fromisoformat(meta["start"])
    last = int((cutoff - start).total_seconds() * 1000) * meta["rows"] // meta["span_ms"] + 1
    t0 = time.perf_counter()
    await create_partitions(conn, url, start, cutoff + timedelta(days=1))
    await conn.execute("SET TIME ZONE 'UTC'; SET synchronous_commit = off")
    step = 5_000_000
    for first in range(1, last + 1, step):
        await _write_rows(conn, first, min(last, first + step - 1), meta, rollups=False, refill=True)
    await conn.execute("VACUUM (ANALYZE) requests")
    return round(time.perf_counter() - t0, 1)


# --- output -------------------------------------------------------------------------------------------------------
def table(results: dict[str, Any]) -> str:
    meta = results["fill"]
    lines = [
        f"{meta['rows']:,} request rows over {DAYS} days ({meta['bytes_per_row']} bytes/row, database "
        f"{meta['database_bytes'] / 1e9:.1f} GB; partitioned: {', '.join(meta['partitioned_tables']) or 'no'}); "
        f"schema {results['schema_revision']}; loader {results['loader']}, {results['connections']} connections "
        f"(bulk: 2), {results['duration_s']:g} s a run, `serve --workers 2`, mean of {len(results['turns']) // 2} "
        "turns each.",
        "",
        "| load | req/s empty | req/s filled | ratio | p50 ms empty / filled | p99 ms empty / filled |",
        "|---|---|---|---|---|---|",
    ]
    names = {"proxy": "proxy, JSON chat", "ingest_single": "ingest, single",
             "ingest_bulk": "ingest, bulks of 1,000 (events/s)"}
    per = {"ingest_bulk": 1000}  # requests/s to events/s
    for kind, row in results["comparison"].items():
        k = per.get(kind, 1)
        lines.append(f"| {names[kind]} | {row['rps']['empty'] * k:,.0f} | {row['rps']['filled'] * k:,.0f} | "
                     f"{row['rps']['ratio']:.2f}x | {row['p50_ms']['empty']:.1f} / {row['p50_ms']['filled']:.1f} | "
                     f"{row['p99_ms']['empty']:.1f} / {row['p99_ms']['filled']:.1f} |")
    lines += ["", "Each turn (req/s, p50 ms):", ""]
    for i, turn in enumerate(results["turns"], 1):
        cells = ", ".join(f"{names[k]} {turn[k]['rps'] * per.get(k, 1):,.0f} / {turn[k]['p50_ms']:.0f}" for k in names)
        lines.append(f"- turn {i}, {turn['database']}: {cells}")
    lines += ["", "| call on the filled database | first ms | median ms | max ms | bytes |", "|---|---|---|---|---|"]
    for label, timing in results.get("reports", {}).items():
        if isinstance(timing, dict) and "median_ms" in timing:
            lines.append(f"| {label} | {timing['first_ms']:.0f} | {timing['median_ms']:.0f} | {timing['max_ms']:.0f} "
                         f"| {timing['bytes']:,} |")
    r = results.get("retention")
    if r is None:
        return "\n".join(lines)
    how = "dropping partitions" if r["partitioned_tables"] else "batch deletes"
    line = (f"\nRetention of {EXPIRED_DAYS} days ({how}): {r['rows_deleted']:,} rows in {r['seconds']:.2f} s")
    if r.get("timings"):
        line += " (" + ", ".join(f"{step} {seconds:.2f} s" for step, seconds in r["timings"].items()) + ")"
    if r.get("lock_wait_max_ms") is not None:
        line += f"; an insert's lock on the log waited at most {r['lock_wait_max_ms']:.0f} ms"
    if not r["complete"]:
        line += (f", stopped at the {r['cap_s']:g} s cap with {r['expired_left']:,} expired rows left "
                 f"(whole month extrapolated: {r.get('extrapolated_seconds', '?')} s)")
    lines.append(line)
    for n, sweep in enumerate(r.get("sweeps", [])[1:], 2):
        steps = ", ".join(f"{step} {seconds:.2f} s" for step, seconds in sweep["timings"].items())
        lines.append(f"- month {n}: {sweep['rows_deleted']:,} rows in {sweep['seconds']:.2f} s ({steps}); the lock "
                     f"waited at most {sweep['lock_wait_max_ms']:.0f} ms")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--chunk", type=int, default=5_000_000, help="rows a fill statement")
    parser.add_argument("--keep", action="store_true", help="keep the filled database (a next run reuses it)")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="an existing database; the benchmark's databases are created next to it")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of each load run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--turns", type=int, default=2, help="pairs of turns (empty, filled)")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls of each report after the first")
    parser.add_argument("--reports-only", action="store_true",
                        help="measure the reports alone (no load turns, no retention): with --keep, after a change")
    parser.add_argument("--retention-only", action="store_true",
                        help="measure the retention alone (no load turns, no reports): with --keep, on a settled "
                             "database")
    parser.add_argument("--output", type=Path, default=None,
                        help="where the figures go (by default benchmarks/results/requestlog-<date>[-part].json)")
    parser.add_argument("--months", type=int, default=1,
                        help="retention: sweep this many months, a month further each time")
    parser.add_argument("--retention-cap", type=float, default=120.0,
                        help="seconds the retention sweep may run (batch deletes of a log not partitioned)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")  # the sweep's warnings, if any
    revision = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=False).stdout.strip()
    results: dict[str, Any] = {"date": date.today().isoformat(), "revision": revision, "rows": args.rows,
                               "loader": loader(), "connections": args.connections, "duration_s": args.duration}
    meta = asyncio.run(kept(args.admin_url, args.rows)) if args.keep else None
    if meta is None:
        meta = asyncio.run(fill(args.admin_url, args.rows, args.chunk))
    else:
        print(f"reusing the kept {FILLED_DB} ({args.rows:,} rows, filled {meta['end'][:10]})", flush=True)
    results["fill"] = meta
    results["schema_revision"] = asyncio.run(_admin(_url(args.admin_url, FILLED_DB),
                                                    "SELECT version_num FROM alembic_version"))[0][0][0]
    filled_url = _url(args.admin_url, FILLED_DB)
    filled_setup = {k: meta[k] for k in ("org_id", "apps", "limit_pks")}
    try:
        with tempfile.TemporaryDirectory() as tmp, fake_upstream() as fake_url:
            turns = []
            if args.retention_only:
                args.turns = 0
            for i, which in enumerate(("empty", "filled") * (0 if args.reports_only else args.turns)):
                print(f"turn {i + 1}: {which} database ...", file=sys.stderr, flush=True)
                workdir = Path(tmp) / f"turn{i}"
                if which == "empty":
                    with empty_database(args.admin_url) as (url, setup):
                        turns.append({"database": which, **_turn(url, setup, fake_url, workdir, args)})
                else:
                    turns.append({"database": which, **_turn(filled_url, filled_setup, fake_url, workdir, args)})
            results["turns"] = turns
            results["comparison"] = compare(turns) if turns else {}
            if not args.retention_only:
                print("reports on the filled database ...", file=sys.stderr, flush=True)
                results["reports"] = reports(filled_url, filled_setup, meta, fake_url, Path(tmp) / "reports",
                                             args.repeat)
        if not args.reports_only:
            print("retention of one month ...", file=sys.stderr, flush=True)
            results["retention"] = asyncio.run(retention(filled_url, meta, args.retention_cap, args.keep, args.months))
    finally:
        if not args.keep:
            asyncio.run(_admin(args.admin_url, f"DROP DATABASE IF EXISTS {FILLED_DB} WITH (FORCE)"))
    results["table"] = table(results)
    suffix = "-reports" if args.reports_only else "-retention" if args.retention_only else ""
    path = args.output or RESULTS / f"requestlog-{results['date']}{suffix}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(results["table"])
    print(f"\nwritten to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
