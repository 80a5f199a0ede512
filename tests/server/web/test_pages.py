"""What the dashboard pages show, on SQLite and PostgreSQL: spend, breakdowns, limits, use cases, requests,
applications and keys (a new key shown once, then refused once replaced), exports, empty states, time zones."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

from payi_server.store.changes import utcnow

from ...conftest import Running
from ..reports.data import event, ingest, price
from .conftest import Login
from .helpers import hidden


def _chart(html: str, chart_id: str) -> dict:  # type: ignore[type-arg]
    found = re.search(rf'<script type="application/json" id="{chart_id}-data">(.*?)</script>', html, re.S)
    assert found, f"no data for {chart_id}"
    return json.loads(found.group(1))  # type: ignore[no-any-return]


async def _recent(running: Running) -> None:
    """Events of the last hours: two use cases, two models, two users."""
    await price(running)
    await price(running, "m2")
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    await ingest(
        running,
        [
            event(now - timedelta(hours=2), 1000, use_case_name="support", use_case_id="s1", user_id="ann"),
            event(now - timedelta(hours=1), 2000, resource="m2", use_case_name="support", use_case_id="s2", user_id="bob"),
            event(now, 4000, use_case_name="search", use_case_id="q1", user_id="ann", account_name="acme"),
        ],
    )


async def test_empty_dashboard_shows_empty_states(running: Running, login: Login) -> None:
    client = await login("ops@example.com")
    for path, text in (
        ("/", "No spend recorded in this range"),
        ("/limits", "No limits yet"),
        ("/use-cases", "No use cases yet"),
        ("/requests", "No requests in this range"),
        ("/breakdown/user", "Nothing recorded in this range"),
        ("/breakdown/property", "No request properties recorded"),
    ):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert text in response.text, path
        assert response.headers["cache-control"] == "no-store"


async def test_overview_shows_spend_chart_and_tops_and_filters_by_use_case(running: Running, login: Login) -> None:
    await _recent(running)
    client = await login("ops@example.com")
    page = await client.get("/", params={"range": "24h"})
    assert page.status_code == 200
    assert 'id="total-spend">$7.00<' in page.text
    chart = _chart(page.text, "spend-chart")
    assert chart["bucket"] == "hour" and len(chart["x"]) == 24
    assert [s["label"] for s in chart["series"]] == ["Spend"]
    assert sum(chart["series"][0]["values"]) == 7.0
    for top in ("m1", "m2", "support", "search", "ann", "bob"):
        assert f">{top}</a>" in page.text, top

    support = await client.get("/", params={"range": "24h", "use_case": "support"})
    assert 'id="total-spend">$3.00<' in support.text
    assert sum(_chart(support.text, "spend-chart")["series"][0]["values"]) == 3.0
    assert '<option value="support" selected>' in support.text

    days = await client.get("/", params={"range": "7d"})
    assert _chart(days.text, "spend-chart")["bucket"] == "day"
    custom = await client.get("/", params={"range": "custom", "start_date": "2020-01-01", "end_date": "2020-01-31"})
    assert "No spend recorded" in custom.text
    for bad in ("9999-12-31", "0001-01-01", "not-a-date"):
        page = await client.get("/", params={"range": "custom", "start_date": bad, "end_date": bad})
        assert page.status_code == 200, bad


async def test_time_zone_of_the_browser_buckets_days(running: Running, login: Login) -> None:
    await price(running)
    await ingest(running, [event("2026-03-28T23:30:00Z", 1000)])  # Paris: 29 March
    client = await login("ops@example.com")
    params = {"range": "custom", "start_date": "2026-03-27", "end_date": "2026-03-30", "bucket": "day"}
    client.cookies.set("payi_tz", "Europe/Paris")
    paris = _chart((await client.get("/", params=params)).text, "spend-chart")
    client.cookies.set("payi_tz", "UTC")
    utc = _chart((await client.get("/", params=params)).text, "spend-chart")
    assert paris["series"][0]["values"] == [0.0, 0.0, 1.0, 0.0]
    assert utc["series"][0]["values"] == [0.0, 1.0, 0.0, 0.0]
    client.cookies.set("payi_tz", "Not/AZone")
    assert 'data-tz="UTC"' in (await client.get("/")).text


async def test_every_breakdown_page(running: Running, login: Login) -> None:
    await _recent(running)
    response = await running.client.post("/api/v1/limits", json={"limit_name": "cap", "max": 10}, headers=running.headers())
    limit_id = response.json()["limit"]["limit_id"]
    now = utcnow()
    await ingest(running, [event(now, 500, limit_ids=[limit_id], properties={"team": "red"})])
    client = await login("ops@example.com")
    expected = {
        "resource": "m2",
        "category": "acme",
        "use_case": "support",
        "use_case_step": "(none)",
        "user": "bob",
        "account": "acme",
        "application": "default",
        "limit": limit_id,
        "property": "red",
    }
    for dimension, shown in expected.items():
        page = await client.get(f"/breakdown/{dimension}", params={"range": "24h"})
        assert page.status_code == 200, dimension
        assert shown in page.text, dimension
        assert _chart(page.text, "breakdown-chart")["series"], dimension
    assert (await client.get("/breakdown/colour")).status_code == 404
    users = await client.get("/breakdown/user", params={"range": "24h", "use_case": "search"})
    assert ">ann<" in users.text and ">bob<" not in users.text


async def test_limits_show_bars_and_admins_reset_them(running: Running, login: Login) -> None:
    await price(running)
    response = await running.client.post(
        "/api/v1/limits", json={"limit_name": "team-cap", "max": 4, "threshold": 0.75}, headers=running.headers()
    )
    limit_id = response.json()["limit"]["limit_id"]
    await ingest(running, [event(utcnow(), 3500, limit_ids=[limit_id])])
    admin = await login("admin@example.com")
    page = await admin.get("/limits")
    assert "team-cap" in page.text and "$3.50" in page.text and "$4.00" in page.text
    assert 'badge-exceeded">exceeded<' in page.text
    assert '<meter min="0" max="4.0" low="2.999997" high="3.999996" optimum="0" value="3.5"' in page.text
    response = await admin.post(
        "/limits/reset", data={"csrf_token": hidden(page.text), "app_id": running.boot.app["app_id"], "limit_id": limit_id}
    )
    assert response.status_code == 303
    after = await admin.get("/limits")
    assert 'badge-ok">ok<' in after.text and "$0.00" in after.text
    viewer = await login("viewer@example.com", role="viewer")
    assert ">Reset<" not in (await viewer.get("/limits")).text


async def test_use_cases_with_kpis(running: Running, login: Login) -> None:
    await _recent(running)
    headers = running.headers()
    response = await running.client.post(
        "/api/v1/use_cases/definitions", json={"name": "support", "description": "Helpdesk answers"}, headers=headers
    )
    assert response.status_code in (200, 201), response.text
    kpi = await running.client.post(
        "/api/v1/use_cases/definitions/support/kpis",
        json={"name": "csat", "description": "", "goal": 0.9, "kpi_type": "percentage"},
        headers=headers,
    )
    assert kpi.status_code in (200, 201), kpi.text
    client = await login("ops@example.com")
    page = await client.get("/use-cases", params={"range": "24h"})
    assert page.status_code == 200
    assert "support" in page.text and "search" in page.text and "Helpdesk answers" in page.text
    assert "csat" in page.text and "goal 0.9" in page.text
    assert "$3.00" in page.text and "$4.00" in page.text


async def test_request_log_detail_and_stored_prompts(running: Running, login: Login) -> None:
    await price(running)
    await running.state.tenancy.update_application(running.boot.org_id, int(running.boot.app["app_id"]), store_prompts=True)
    await running.state.changes.poll_once()
    await ingest(
        running,
        [
            event(utcnow(), 1000, user_id="ann", provider_request_json='{"messages": "hello <b>world</b>"}',
                  provider_response_json="the answer", provider_uri="https://api.example.com/v1?key=SECRETQUERY"),
            event(utcnow() - timedelta(minutes=5), 10, http_status_code=500, user_id="bob"),
        ],
    )
    client = await login("ops@example.com")
    page = await client.get("/requests")
    assert page.status_code == 200 and "ann" in page.text and "bob" in page.text
    failed = await client.get("/requests", params={"failed": "yes"})
    assert "bob" in failed.text and ">ann<" not in failed.text
    request_id = re.search(r'href="/requests/(\d+)\?', page.text).group(1)  # newest first: ann's
    detail = await client.get(f"/requests/{request_id}")
    assert detail.status_code == 200
    assert "hello &lt;b&gt;world&lt;/b&gt;" in detail.text  # escaped, never markup
    assert "the answer" in detail.text
    assert "SECRETQUERY" not in detail.text and "SECRETQUERY" not in page.text
    assert (await client.get("/requests/123")).status_code == 404
    assert (await client.get("/requests/abc")).status_code == 404


async def test_paging_through_the_request_log(running: Running, login: Login) -> None:
    await price(running)
    now = utcnow()
    await ingest(running, [event(now - timedelta(seconds=i), 1, user_id=f"user-{i:03d}") for i in range(60)])
    client = await login("ops@example.com")
    first = await client.get("/requests")
    assert "user-000" in first.text and "user-049" in first.text and "user-050" not in first.text
    older = re.search(r'href="/requests\?([^"]+)" id="older"', first.text)
    assert older
    second = await client.get("/requests?" + older.group(1).replace("&amp;", "&"))
    assert "user-050" in second.text and "user-059" in second.text and "user-049" not in second.text
    assert 'id="older"' not in second.text


async def test_applications_keys_shown_once_and_the_old_key_refused(running: Running, login: Login) -> None:
    admin = await login("admin@example.com")
    page = await admin.get("/applications")
    old_key = running.app_key
    assert old_key not in page.text
    assert running.boot.app_keys[0].row["lookup_id"] in page.text  # the prefix identifies the key
    app_id = running.boot.app["app_id"]
    response = await admin.post(f"/applications/{app_id}/keys/1/regenerate", data={"csrf_token": hidden(page.text)})
    assert response.status_code == 303 and response.headers["location"] == "/applications"  # POST-redirect-GET
    assert "payi_app_" not in response.text + response.headers["location"]
    shown = await admin.get("/applications")
    assert shown.headers["cache-control"] == "no-store"
    new_key = re.search(r'<code class="key" data-new-key>([^<]+)</code>', shown.text).group(1)
    assert new_key.startswith("payi_app_") and new_key != old_key
    assert new_key not in (await admin.get("/applications")).text  # shown once
    refused = await running.client.get("/api/v1/whoami", headers=running.headers(old_key))
    assert refused.status_code == 401
    assert (await running.client.get("/api/v1/whoami", headers=running.headers(new_key))).status_code == 200
    # slot 2 untouched
    assert (await running.client.get("/api/v1/whoami", headers=running.headers(running.boot.app_keys[1].plaintext))).status_code == 200

    created = await admin.post(
        "/applications", data={"csrf_token": hidden(page.text), "name": "billing-prod", "store_prompts": "on"},
        follow_redirects=True,
    )
    keys = re.findall(r'<code class="key" data-new-key>([^<]+)</code>', created.text)
    assert len(keys) == 2 and "billing-prod" in created.text
    duplicate = await admin.post("/applications", data={"csrf_token": hidden(page.text), "name": "billing-prod"})
    assert duplicate.status_code == 409
    key_id = running.boot.app_keys[1].row["id"]
    revoked = await admin.post(f"/keys/{key_id}/revoke", data={"csrf_token": hidden(page.text)}, follow_redirects=True)
    assert revoked.status_code == 200 and "revoked" in revoked.text
    assert (await running.client.get("/api/v1/whoami", headers=running.headers(running.boot.app_keys[1].plaintext))).status_code == 401


async def test_csv_exports_of_the_view(running: Running, login: Login) -> None:
    await _recent(running)
    client = await login("ops@example.com")
    report = await client.get("/export/report.csv", params={"range": "24h", "group": "user"})
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(report.text)))
    assert sum(float(r["cost_total"]) for r in rows) == 7.0
    assert {r["user"] for r in rows} == {"ann", "bob"}
    log = await client.get("/export/requests.csv", params={"range": "24h", "use_case": "support"})
    rows = list(csv.DictReader(io.StringIO(log.text)))
    assert len(rows) == 2 and {r["use_case_name"] for r in rows} == {"support"}
    for key in (running.app_key, running.org_key):
        assert key not in report.text and key not in log.text


async def test_no_page_contains_a_key(running: Running, login: Login) -> None:
    await _recent(running)
    client = await login("ops@example.com")
    secrets = [running.org_key, *(k.plaintext for k in running.boot.app_keys)]
    secret_parts = [s.rsplit("_", 1)[1] for s in secrets]
    for path in ("/", "/breakdown/application", "/limits", "/use-cases", "/requests", "/applications",
                 "/export/requests.csv", "/export/report.csv"):
        text = (await client.get(path, params={"range": "24h"})).text
        for part in secret_parts:
            assert part not in text, path


async def test_static_files_are_public(running: Running) -> None:
    for path in ("/static/app.js", "/static/app.css", "/static/vendor/uplot/uPlot.iife.min.js",
                 "/static/vendor/uplot/LICENSE"):
        response = await running.client.get(path)
        assert response.status_code == 200, path
