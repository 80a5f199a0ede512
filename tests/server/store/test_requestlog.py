"""The request log's interface (``store.requestlog.RequestLog``) on SQLite and PostgreSQL: what a second backend
must do, operation by operation, and the boundary that keeps every other module off the log's tables."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import payi_server
from payi_server.store.requestlog import LogQuery, RequestLog

from ...conftest import Running
from ..reports.data import CATEGORY, create_app, event, ingest, price

LOG_TABLES = {"requests", "request_limits", "request_payloads", "request_keys"}
# The request log's SQL backend, its duplicate keys (PostgreSQL), the schema and its migrations.
ALLOWED = {"store/requestlog.py", "store/requestkeys.py", "store/tables.py"}
NOW = datetime.now(UTC).replace(microsecond=0)


def test_no_module_but_the_request_log_names_its_tables() -> None:
    root = Path(payi_server.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if name in ALLOWED or name.startswith("store/migrations/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), name)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("tables"):
                offenders += [f"{name}: {a.name}" for a in node.names if a.name in LOG_TABLES]
    assert offenders == []
    # and the check sees an import when there is one
    probe = ast.parse("from ..store.tables import limits, requests")
    assert [a.name for n in ast.walk(probe) if isinstance(n, ast.ImportFrom) for a in n.names if a.name in LOG_TABLES]


async def _limit(running: Running, name: str, key: str) -> str:
    response = await running.client.post("/api/v1/limits", json={"limit_name": name, "max": 1000}, headers=running.headers(key))
    assert response.status_code == 201, response.text
    return str(response.json()["limit"]["limit_id"])


async def test_the_log_s_operations_on_each_database(running: Running) -> None:
    db = running.state.db
    log: RequestLog = db.request_log
    await price(running)
    app_id, key = await create_app(running, "logged")
    app = int(app_id)
    await running.state.tenancy.update_application(running.boot.org_id, app, store_prompts=True)
    await running.state.changes.poll_once()
    limit = await _limit(running, "team", key)
    at = [NOW - timedelta(days=d) for d in (40, 10, 2)]
    await ingest(running, [
        event(at[0], 1000, user_id="ann", provider_response_id="r-old", limit_ids=[limit],
              provider_request_json='{"q": "old"}'),
        event(at[1], 3000, user_id="bob", provider_response_id="r-mid", properties={"team": "red"}),
        event(at[2], 2000, user_id="ann", provider_response_id="r-new", limit_ids=[limit],
              provider_request_json='{"q": "new"}'),
    ], key)
    everything = LogQuery(start=NOW - timedelta(days=60), end=NOW + timedelta(hours=1), filters={})

    # page: keyset order both ways, each application on its own
    rows = await log.page([app], everything, None, 10)
    assert [r["provider_response_id"] for r in rows] == ["r-old", "r-mid", "r-new"]
    old, mid, new = (r["id"] for r in rows)
    first = await log.page([app], everything, None, 2)
    assert [r["id"] for r in first] == [old, mid]
    assert [r["id"] for r in await log.page([app], everything, (first[-1]["event_timestamp"], mid), 2)] == [new]
    newest = LogQuery(start=everything.start, end=everything.end, filters={}, newest_first=True)
    assert [r["id"] for r in await log.page([app], newest, None, 10)] == [new, mid, old]
    default_app = int(running.boot.app["app_id"])
    assert await log.page([default_app], everything, None, 10) == []
    ann = LogQuery(start=everything.start, end=everything.end, filters={"user": ("ann",)})
    assert [r["id"] for r in await log.page([app, default_app], ann, None, 10)] == [old, new]
    assert [r["id"] for r in await log.top([app], everything, "cost", 2)] == [mid, new]
    # over several applications: each one's top on its own index, merged
    await ingest(running, [event(at[1], 2500, provider_response_id="r-other")])
    other = (await log.page([default_app], everything, None, 10))[0]["id"]
    assert [r["id"] for r in await log.top([app, default_app], everything, "cost", 3)] == [mid, other, new]
    assert [r["id"] for r in await log.top([default_app, app], everything, "cost", 10)] == [mid, other, new, old]

    # lookups
    assert await log.recorded([old, new, new + 1]) == {old, new}
    found = await log.find(app, mid)
    assert found is not None and found["cost_total"] == Decimal(3) and found["user_id"] == "bob"
    assert await log.find(default_app, mid) is None
    by_response = await log.find_by_response(app, CATEGORY, "r-new")
    assert by_response is not None and by_response["id"] == new
    assert await log.find_by_response(app, CATEGORY, "r-none") is None
    assert await log.find_by_response(default_app, CATEGORY, "r-new") is None
    assert await log.limit_states([old, mid, new]) == {old: {limit: "ok"}, new: {limit: "ok"}}
    detail = await log.detail([app], new)
    assert detail is not None
    assert detail["payload"]["provider_request_json"] == '{"q": "new"}'
    assert detail["limit_states"] == [{"limit_id": limit, "name": "team", "state": "ok"}]
    assert await log.detail([default_app], new) is None

    # properties, in the caller's transaction
    async with db.write() as conn:
        before, after = await log.update_properties(conn, mid, {"team": None, "tier": "gold"})
    assert (before, after) == ({"team": "red"}, {"tier": "gold"})
    found = await log.find(app, mid)
    assert found is not None and found["properties"] == {"tier": "gold"}

    # the recorder's write path: a row whose key is recorded is not inserted; its original answers for it
    copy = {k: v for k, v in (await log.find(app, new) or {}).items()}
    copy["id"] = new + 7
    async with db.write() as conn:
        assert await log.insert(conn, [copy], NOW) == []
        originals = await log.originals(conn, [(app, CATEGORY, "r-new")], NOW)
    row, states = originals[(app, CATEGORY, "r-new")]
    assert row["id"] == new and states == {limit: "ok"}
    assert await log.recorded([new + 7]) == set()

    # erasure in the caller's transaction: ann's rows lose the name, their payloads go
    hours = [(at[0] - timedelta(hours=1), at[0] + timedelta(hours=1)), (at[2] - timedelta(hours=1), NOW)]
    async with db.write() as conn:
        assert await log.erase(conn, app, "user_id", "ann", hours, False) == (2, 2)
    assert [r["user_id"] for r in await log.page([app], everything, None, 10)] == [None, "bob", None]
    assert (await log.detail([app], new) or {})["payload"] is None

    # retention: the rows before a cutoff leave in batches, links and keys with them
    assert await log.expire_requests(app, NOW - timedelta(days=5), 1) == (1, 0)
    assert await log.expire_requests(app, NOW - timedelta(days=5), 1) == (1, 0)
    assert await log.expire_requests(app, NOW - timedelta(days=5), 1) == (0, 0)
    assert await log.recorded([old, mid, new]) == {new}
    assert await log.limit_states([old]) == {}
    assert await log.find_by_response(app, CATEGORY, "r-old") is None
    assert await log.expire_payloads(app, NOW, 10) == 0
    assert await log.default_rows() == (-1 if db.is_sqlite else 0)
