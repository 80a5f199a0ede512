"""``GET /api/v1/reports/spend`` against known ingested events, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from payi_server.store.tables import requests

from ...conftest import Running
from .data import event, ingest, price, report


def _by(rows: list[dict[str, Any]], *keys: str) -> dict[Any, dict[str, Any]]:
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in rows}


async def test_day_buckets_follow_the_callers_time_zone_across_dst(running: Running) -> None:
    await price(running)
    # Paris changes from +01:00 to +02:00 at 2026-03-29 01:00 UTC.
    await ingest(
        running,
        [
            event("2026-03-28T23:30:00Z", input=1000),  # Paris: 29 Mar 00:30
            event("2026-03-29T00:30:00Z", input=2000),  # Paris: 29 Mar 01:30
            event("2026-03-29T22:30:00Z", input=4000),  # Paris: 30 Mar 00:30
        ],
    )
    window = {"start": "2026-03-27T00:00:00Z", "end": "2026-04-01T00:00:00Z", "bucket": "day"}
    utc = await report(running, **window)
    assert [(r["bucket"], r["cost_total"], r["requests"]) for r in utc["rows"]] == [
        ("2026-03-28T00:00:00+00:00", 1.0, 1),
        ("2026-03-29T00:00:00+00:00", 6.0, 2),
    ]
    paris = await report(running, **window, tz="Europe/Paris")
    assert paris["timezone"] == "Europe/Paris"
    assert [(r["bucket"], r["cost_total"]) for r in paris["rows"]] == [
        ("2026-03-29T00:00:00+01:00", 3.0),
        ("2026-03-30T00:00:00+02:00", 4.0),
    ]
    assert paris["totals"]["cost_total"] == 7.0 and paris["totals"]["requests"] == 3
    assert paris["totals"]["units_input"] == 7000 and paris["totals"]["units_output"] == 0


async def test_hour_and_month_buckets(running: Running) -> None:
    await price(running)
    await ingest(
        running,
        [
            event("2026-03-31T23:10:00Z", input=1000, output=500),  # New York: 31 Mar 19:10
            event("2026-04-01T03:59:00Z", input=1000),  # New York: 31 Mar 23:59
            event("2026-04-01T04:01:00Z", input=1000),  # New York: 1 Apr 00:01
        ],
    )
    window = {"start": "2026-03-01T00:00:00Z", "end": "2026-05-01T00:00:00Z"}
    months = await report(running, **window, bucket="month", tz="America/New_York")
    assert [(r["bucket"], r["cost_total"]) for r in months["rows"]] == [
        ("2026-03-01T00:00:00-05:00", 3.0),
        ("2026-04-01T00:00:00-04:00", 1.0),
    ]
    assert months["rows"][0]["cost_input"] == 2.0 and months["rows"][0]["cost_output"] == 1.0
    assert months["rows"][0]["units_output"] == 500
    hours = await report(running, **window, bucket="hour", tz="America/New_York")
    assert [r["bucket"] for r in hours["rows"]] == [
        "2026-03-31T19:00:00-04:00",
        "2026-03-31T23:00:00-04:00",
        "2026-04-01T00:00:00-04:00",
    ]
    total = await report(running, **window, bucket="total")
    assert total["rows"] == [{**total["totals"]}]
    assert total["totals"]["cost_total"] == 4.0


async def test_naive_dates_are_read_in_the_zone_and_widened_to_whole_hours(running: Running) -> None:
    await price(running)
    await ingest(running, [event("2026-06-10T22:30:00Z")])  # Tokyo: 11 Jun 07:30
    body = await report(running, start="2026-06-11T00:00:00", end="2026-06-11T07:45:00", tz="Asia/Tokyo")
    assert body["start"] == "2026-06-10T15:00:00Z" and body["end"] == "2026-06-10T23:00:00Z"
    assert body["totals"]["cost_total"] == 1.0


async def test_group_by_and_filters_on_every_rollup_dimension(running: Running) -> None:
    await price(running)
    await price(running, "m2")
    at = "2026-05-05T10:00:00Z"
    await ingest(
        running,
        [
            event(at, 1000, resource="m1", use_case_name="chat", use_case_id="c1", use_case_version=1,
                  use_case_step="draft", user_id="ann", account_name="acme-corp"),
            event(at, 2000, resource="m2", use_case_name="chat", use_case_id="c2", use_case_version=2,
                  use_case_step="review", user_id="bob", account_name="acme-corp"),
            event(at, 4000, resource="m2", use_case_name="search", use_case_id="s1", user_id="ann"),
            event(at, 8000, resource="m1"),
        ],
    )
    window = {"start": "2026-05-05T00:00:00Z", "end": "2026-05-06T00:00:00Z", "bucket": "total"}
    by_resource = _by((await report(running, **window, group_by="resource"))["rows"], "resource")
    assert {k: v["cost_total"] for k, v in by_resource.items()} == {"m1": 9.0, "m2": 6.0}

    by_user = (await report(running, **window, group_by="user"))["rows"]
    assert [(r["user"], r["cost_total"]) for r in by_user] == [(None, 8.0), ("ann", 5.0), ("bob", 2.0)]

    body = await report(running, **window, group_by=["use_case", "use_case_version"], use_case="chat")
    assert {(r["use_case"], r["use_case_version"]): r["cost_total"] for r in body["rows"]} == {
        ("chat", 1): 1.0,
        ("chat", 2): 2.0,
    }
    steps = await report(running, **window, group_by="use_case_step,account", user=["ann", "bob"])
    assert {(r["use_case_step"], r["account"]): r["requests"] for r in steps["rows"]} == {
        ("draft", "acme-corp"): 1,
        ("review", "acme-corp"): 1,
        (None, None): 1,
    }
    # an empty value matches "not given"
    none = await report(running, **window, user="")
    assert none["totals"]["cost_total"] == 8.0
    versions = await report(running, **window, use_case_version="2", category="acme")
    assert versions["totals"]["cost_total"] == 2.0
    apps = await report(running, **window, group_by="application", account="acme-corp")
    assert [(r["application_name"], r["cost_total"]) for r in apps["rows"]] == [("default", 3.0)]
    # top N groups by cost; totals still cover everything
    top = await report(running, **window, group_by="user", top=1)
    assert [(r["user"], r["cost_total"]) for r in top["rows"]] == [(None, 8.0)]
    assert top["totals"]["cost_total"] == 15.0


async def test_top_groups_over_time(running: Running) -> None:
    await price(running)
    await ingest(
        running,
        [
            event("2026-05-01T10:00:00Z", 1000, user_id="a"),
            event("2026-05-02T10:00:00Z", 3000, user_id="b"),
            event("2026-05-03T10:00:00Z", 2000, user_id="c"),
            event("2026-05-03T11:00:00Z", 1000, user_id="b"),
        ],
    )
    body = await report(running, start="2026-05-01", end="2026-05-04", group_by="user", top=2)
    assert [(r["bucket"][:10], r["user"], r["cost_total"]) for r in body["rows"]] == [
        ("2026-05-02", "b", 3.0),
        ("2026-05-03", "c", 2.0),
        ("2026-05-03", "b", 1.0),
    ]


async def test_limits_and_request_properties(running: Running) -> None:
    await price(running)
    limit_ids = []
    for name in ("team-a", "team-b"):
        response = await running.client.post(
            "/api/v1/limits", json={"limit_name": name, "max": 100}, headers=running.headers()
        )
        assert response.status_code == 201, response.text
        limit_ids.append(response.json()["limit"]["limit_id"])
    at = "2026-07-01T08:00:00Z"
    await ingest(
        running,
        [
            event(at, 1000, limit_ids=[limit_ids[0]], properties={"team": "red", "env": "prod"}),
            event(at, 2000, limit_ids=limit_ids, properties={"team": "blue"}),
            event(at, 4000, properties={"team": "red"}),
        ],
    )
    window = {"start": "2026-07-01T00:00:00Z", "end": "2026-07-02T00:00:00Z", "bucket": "total"}
    by_limit = await report(running, **window, group_by="limit")
    assert by_limit["measures"] == ["requests", "cost_total"]
    assert {r["limit"]: (r["limit_name"], r["cost_total"], r["requests"]) for r in by_limit["rows"]} == {
        limit_ids[0]: ("team-a", 3.0, 2),
        limit_ids[1]: ("team-b", 2.0, 1),
    }
    one = await report(running, **{**window, "bucket": "day"}, limit=limit_ids[1])
    assert [r["cost_total"] for r in one["rows"]] == [2.0]
    assert (await report(running, **window, limit="no-such-limit"))["rows"] == []

    by_team = await report(running, **window, group_by="property:team")
    assert {r["property:team"]: r["cost_total"] for r in by_team["rows"]} == {"red": 5.0, "blue": 2.0}
    red = await report(running, **window, **{"property.team": "red"})
    assert red["totals"] == {"requests": 2, "cost_total": 5.0}


async def test_reports_never_read_the_request_log(running: Running) -> None:
    await price(running)
    await ingest(running, [event("2026-02-02T02:00:00Z", 1000, user_id="u")])
    async with running.state.db.write() as conn:
        await conn.execute(delete(requests))
    body = await report(running, start="2026-02-01", end="2026-02-03", group_by="user")
    assert [(r["user"], r["cost_total"]) for r in body["rows"]] == [("u", 1.0)]


async def test_csv_export_of_a_report(running: Running) -> None:
    await price(running)
    await ingest(running, [event("2026-02-02T02:00:00Z", 1000, output=1, user_id="=cmd()")])
    response = await running.client.get(
        "/api/v1/reports/spend",
        params={"start": "2026-02-01", "end": "2026-02-03", "group_by": "user", "format": "csv"},
        headers=running.headers(),
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.splitlines()
    assert lines[0] == "bucket,user,requests,failed,blocked,unpriced,cost_input,cost_output,cost_total,units_input,units_output"
    assert lines[1] == "2026-02-02T00:00:00+00:00,'=cmd(),1,0,0,0,1.0000000000,0.0020000000,1.0020000000,1000,1"


async def test_bad_parameters_are_refused(running: Running) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"tz": "Mars/Olympus"}, "invalid_timezone"),
        ({"group_by": "colour"}, "invalid_dimension"),
        ({"usr": "x"}, "invalid_parameter"),
        ({"group_by": "limit,user"}, "unsupported_dimensions"),
        ({"group_by": "property:a", "property.b": "x"}, "unsupported_dimensions"),
        ({"start": "2026-02-02", "end": "2026-02-01"}, "invalid_range"),
        ({"end": "9999-12-31T23:30:00Z"}, "invalid_range"),
        ({"start": "0001-01-01T00:00:00Z"}, "invalid_range"),
        ({"start": "2020-01-01", "end": "2026-01-01", "bucket": "hour"}, "range_too_large"),
        ({"use_case_version": "v2"}, "invalid_filter"),
        ({"application": "999999"}, "application_not_found"),
    ]
    for params, code in cases:
        response = await running.client.get("/api/v1/reports/spend", params=params, headers=running.headers())
        assert response.status_code in (400, 404), (params, response.text)
        assert response.json()["xproxy_error"]["code"] == code, params
    bad_bucket = await running.client.get("/api/v1/reports/spend", params={"bucket": "week"}, headers=running.headers())
    assert bad_bucket.status_code == 400


async def test_an_empty_range_has_zero_totals(running: Running) -> None:
    body = await report(running, start="2026-01-01", end="2026-01-02", group_by="resource")
    assert body["rows"] == []
    assert body["totals"]["cost_total"] == 0 and body["totals"]["requests"] == 0


async def test_the_report_s_json_is_what_fastapi_would_have_written(running: Running) -> None:
    """The endpoint renders the report itself (orjson) instead of FastAPI's serialisation: the body is the same
    JSON as FastAPI's (pydantic's JSON mode) for the same report: times with their zone ("Z" for UTC), money as
    numbers, latency percentiles, the totals."""
    from datetime import datetime

    from pydantic import TypeAdapter

    from payi_server.api.reports import spend_query
    from payi_server.reports.scope import load_scope
    from payi_server.reports.service import ReportService
    from starlette.datastructures import QueryParams

    await price(running)
    await ingest(running, [
        event("2026-03-28T23:30:00.250000Z", input=1000, user_id="ann"),
        event("2026-03-29T00:30:00Z", input=2000, output=7, user_id="bob"),
    ])
    for params in (
        {"start": "2026-03-27T00:00:00Z", "end": "2026-04-01T00:00:00Z", "bucket": "hour", "group_by": "user"},
        {"start": "2026-03-27T00:00:00.5+01:00", "end": "2026-04-01T00:00:00Z", "bucket": "day",
         "tz": "Europe/Paris", "latency": "true"},
    ):
        answer = await running.client.get("/api/v1/reports/spend", params=params, headers=running.headers())
        assert answer.status_code == 200, answer.text
        query = spend_query(
            QueryParams(params), datetime.fromisoformat(params["start"]), datetime.fromisoformat(params["end"]),
            params["bucket"], params.get("tz", "UTC"), None, params.get("latency") == "true",
        )
        scope = await load_scope(running.state.db, running.boot.org_id, int(running.boot.app["app_id"]))
        report_ = await ReportService(running.state.db).spend(scope, query)
        assert answer.json() == TypeAdapter(Any).dump_python(report_.as_dict(), mode="json")
        assert answer.json()["start"].endswith(("Z", "+00:00"))
