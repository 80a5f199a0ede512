"""Who sees what in reports and exports, and the streamed request-log export (CSV / JSON lines)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from payi_server.reports.requestlog import iter_requests, read_page, safe_uri
from payi_server.store.requestlog import LogQuery
from payi_server.reports.scope import load_scope

from ...conftest import Running
from .data import create_app, event, ingest, other_organization, price, report

WINDOW = {"start": "2026-04-01T00:00:00Z", "end": "2026-04-02T00:00:00Z", "bucket": "total"}


async def test_application_keys_see_their_application_and_organisation_keys_see_all(running: Running) -> None:
    await price(running)
    second_id, second_key = await create_app(running, "second")
    await ingest(running, [event("2026-04-01T01:00:00Z", 1000)])
    await ingest(running, [event("2026-04-01T02:00:00Z", 2000)], key=second_key)

    assert (await report(running, **WINDOW))["totals"]["cost_total"] == 1.0
    assert (await report(running, second_key, **WINDOW))["totals"]["cost_total"] == 2.0
    org = await report(running, running.org_key, **WINDOW, group_by="application")
    assert {r["application_name"]: r["cost_total"] for r in org["rows"]} == {"default": 1.0, "second": 2.0}
    narrowed = await report(running, running.org_key, **WINDOW, application="second")
    assert narrowed["totals"]["cost_total"] == 2.0 and narrowed["applications"] == [second_id]
    # an application key cannot widen its view to a sibling application
    response = await running.client.get(
        "/api/v1/reports/spend", params={**WINDOW, "application": second_id}, headers=running.headers()
    )
    assert response.status_code == 404
    assert response.json()["xproxy_error"]["code"] == "application_not_found"


async def test_another_organisation_sees_nothing_of_ours(running: Running) -> None:
    await price(running)
    await ingest(running, [event("2026-04-01T01:00:00Z", 1000, user_id="ours")])
    _org, other_org_key, other_app, other_app_key = await other_organization(running)
    body = await report(running, other_org_key, **WINDOW, group_by="user")
    assert body["rows"] == [] and body["applications"] == [other_app]
    assert (await report(running, other_app_key, **WINDOW))["rows"] == []
    ours = str(running.boot.app["app_id"])
    for key in (other_org_key, other_app_key):
        for path in ("/api/v1/reports/spend", "/api/v1/reports/requests"):
            response = await running.client.get(path, params={"application": ours}, headers=running.headers(key))
            assert response.status_code == 404, (path, response.text)
        export = await running.client.get(
            "/api/v1/reports/requests", params={"start": "2026-01-01T00:00:00Z"}, headers=running.headers(key)
        )
        assert export.status_code == 200 and export.text == ""


async def test_request_log_export_jsonl_and_csv(running: Running) -> None:
    await price(running)
    items = [
        event(f"2026-04-01T{h:02d}:00:00Z", 1000 * (h + 1), user_id=f"u{h % 2}", provider_uri=f"https://api.example.com/v1/x?key=SECRET{h}")
        for h in range(5)
    ]
    await ingest(running, items)
    params = {"start": "2026-04-01T00:00:00Z", "end": "2026-04-02T00:00:00Z"}
    response = await running.client.get("/api/v1/reports/requests", params=params, headers=running.headers())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in response.text.splitlines()]
    assert [r["cost_total"] for r in rows] == ["1.0000000000", "2.0000000000", "3.0000000000", "4.0000000000", "5.0000000000"]
    assert all(r["provider_uri"] == "https://api.example.com/v1/x" for r in rows)
    assert "SECRET" not in response.text
    assert rows[0]["units"] == {"text": {"input": 1000, "output": 0}}

    response = await running.client.get(
        "/api/v1/reports/requests", params={**params, "format": "csv", "user": "u1"}, headers=running.headers()
    )
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["user_id"], r["cost_total"]) for r in table] == [("u1", "2.0000000000"), ("u1", "4.0000000000")]
    assert json.loads(table[0]["units"]) == {"text": {"input": 2000, "output": 0}}

    bad = await running.client.get("/api/v1/reports/requests", params={"limit": "x"}, headers=running.headers())
    assert bad.status_code == 400 and bad.json()["xproxy_error"]["code"] == "invalid_parameter"


async def test_keyset_pages_cover_every_row_once(running: Running) -> None:
    await price(running)
    same_time = "2026-04-01T05:00:00Z"  # many rows with one timestamp: the id breaks the tie
    await ingest(running, [event(same_time, 1000 + i) for i in range(7)] + [event("2026-04-01T06:00:00Z", 5)])
    scope = await load_scope(running.state.db, running.boot.org_id)
    query = LogQuery(start=datetime(2026, 4, 1, tzinfo=UTC), end=datetime(2026, 4, 2, tzinfo=UTC), filters={})
    pages = [page async for page in iter_requests(running.state.db, scope, query, page_size=3)]
    assert [len(p) for p in pages] == [3, 3, 2]
    ids = [r["request_id"] for p in pages for r in p]
    assert len(set(ids)) == 8
    assert [r["units"]["text"]["input"] for p in pages for r in p][-1] == 5


def test_provider_uris_lose_credentials() -> None:
    assert safe_uri("https://user:pw@host.example:8443/v1/models?key=abc#frag") == "https://host.example:8443/v1/models"
    assert safe_uri(None) is None


async def test_pages_over_several_applications_merge_in_order(running: Running) -> None:
    await price(running)
    _second, second_key = await create_app(running, "second")
    await ingest(running, [event(f"2026-04-01T0{h}:00:00Z", 1000, user_id="ann" if h % 2 else "bob") for h in range(0, 8, 2)])
    await ingest(running, [event(f"2026-04-01T0{h}:00:00Z", 1000, user_id="ann" if h % 2 else "bob") for h in range(1, 8, 2)],
                 key=second_key)
    scope = await load_scope(running.state.db, running.boot.org_id)
    window = {"start": datetime(2026, 4, 1, tzinfo=UTC), "end": datetime(2026, 4, 2, tzinfo=UTC)}
    newest = LogQuery(**window, filters={}, newest_first=True)
    first = await read_page(running.state.db, scope, newest, None, 3)
    assert [r["event_timestamp"].hour for r in first] == [7, 6, 5]
    after = (first[-1]["event_timestamp"], first[-1]["id"])
    assert [r["event_timestamp"].hour for r in await read_page(running.state.db, scope, newest, after, 10)] == [4, 3, 2, 1, 0]
    # a filter: the rollups tell which applications and hours can match
    anns = LogQuery(**window, filters={"user": ("ann",)}, newest_first=True)
    assert [r["event_timestamp"].hour for r in await read_page(running.state.db, scope, anns, None, 10)] == [7, 5, 3, 1]
    nobody = LogQuery(**window, filters={"user": ("nobody",)})
    assert await read_page(running.state.db, scope, nobody, None, 10) == []
    oldest = [r["request_id"] async for page in iter_requests(running.state.db, scope, LogQuery(**window, filters={}), 3) for r in page]
    assert len(oldest) == 8 and len(set(oldest)) == 8
