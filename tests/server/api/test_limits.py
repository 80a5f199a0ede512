"""The /api/v1/limits endpoints on SQLite and PostgreSQL: every endpoint, bad input, isolation, reset history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ...conftest import Running

HAIKU = {"category": "system.aws.bedrock", "resource": "anthropic.claude-3-haiku-20240307-v1:0"}
COST_50_100 = 0.0001375  # 50 input + 100 output tokens of claude-3-haiku


async def _call(running: Running, method: str, path: str, key: str | None = None, **kw: Any) -> Any:
    headers = {**running.headers(key), **kw.pop("headers", {})}
    return await running.client.request(method, "/api/v1/limits" + path, headers=headers, **kw)


async def _create(running: Running, key: str | None = None, **body: Any) -> dict[str, Any]:
    response = await _call(running, "POST", "", key, json=body)
    assert response.status_code == 201, response.text
    return response.json()["limit"]  # type: ignore[no-any-return]


def _code(response: Any) -> str:
    body = response.json()
    assert body["statusCode"] == response.status_code
    return str(body["xproxy_error"]["code"])


async def _spend(running: Running, limit_id: str, times: int = 1) -> None:
    for _ in range(times):
        response = await running.client.post(
            "/api/v1/ingest",
            json={**HAIKU, "units": {"text": {"input": 50, "output": 100}}},
            headers={**running.headers(), "xProxy-Limit-IDs": limit_id},
        )
        assert response.status_code == 200, response.text


async def test_create_and_retrieve_a_limit(running: Running) -> None:
    response = await _call(
        running,
        "POST",
        "",
        json={"limit_name": "team-a", "max": 12.5, "limit_type": "block", "threshold": 0.8, "properties": {"team": "a"}},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["request_id"]
    limit = body["limit"]
    assert limit["limit_name"] == "team-a" and limit["max"] == 12.5
    assert limit["limit_type"] == "block" and limit["threshold"] == 0.8
    assert limit["properties"] == {"team": "a"} and limit["limit_tags"] == []
    assert limit["enforcement"] == "default"
    assert limit["totals"] == {
        "cost": {"input": {"base": 0.0}, "output": {"base": 0.0}, "total": {"base": 0.0, "overrun_base": 0.0}},
        "requests": {"ok": 0, "exceeded": 0, "overrun": 0, "blocked": 0, "blocked_external": 0, "failed": 0, "total": 0},
    }
    created = datetime.fromisoformat(limit["limit_creation_timestamp"])
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=1)
    # A generated id is a UUID string.
    assert len(limit["limit_id"]) == 36

    again = await _call(running, "GET", f"/{limit['limit_id']}")
    assert again.status_code == 200
    assert again.json()["limit"] == limit


async def test_client_chosen_id_old_clients_and_defaults(running: Running) -> None:
    limit = await _create(running, limit_name="old", max=1, limit_id="budget-2579", limit_type="Allow", limit_tags=["x", "y"])
    assert limit["limit_id"] == "budget-2579"
    assert limit["limit_type"] == "allow" and limit["limit_tags"] == ["x", "y"]
    plain = await _create(running, limit_name="plain", max=3)
    assert plain["limit_type"] == "allow" and plain["threshold"] is None


async def test_same_name_same_config_is_idempotent_different_config_conflicts(running: Running) -> None:
    first = await _create(running, limit_name="n", max=5, limit_type="block", threshold=0.9)
    again = await _call(running, "POST", "", json={"limit_name": "n", "max": 5.0, "limit_type": "BLOCK", "threshold": 0.9})
    assert again.status_code == 200
    assert again.json()["limit"]["limit_id"] == first["limit_id"]
    assert again.json()["message"]
    for changed in ({"max": 6}, {"limit_type": "allow"}, {"threshold": 0.8}, {"enforcement": "strict"}, {"period": "day"}):
        body = {"limit_name": "n", "max": 5, "limit_type": "block", "threshold": 0.9, **changed}
        response = await _call(running, "POST", "", json=body)
        assert response.status_code == 409, changed
        assert _code(response) == "limit_name_already_exist"
        assert response.headers["x-should-retry"] == "false"
    # The same name with a different client id is a conflict, not the existing limit.
    response = await _call(
        running, "POST", "", json={"limit_name": "n", "max": 5, "limit_type": "block", "threshold": 0.9, "limit_id": "x"}
    )
    assert response.status_code == 409 and _code(response) == "limit_name_already_exist"


async def test_duplicate_limit_id(running: Running) -> None:
    await _create(running, limit_name="a", max=1, limit_id="dup")
    response = await _call(running, "POST", "", json={"limit_name": "b", "max": 1, "limit_id": "dup"})
    assert response.status_code == 409 and _code(response) == "duplicate_limit_id"
    # The same id, name and config again is idempotent.
    same = await _call(running, "POST", "", json={"limit_name": "a", "max": 1, "limit_id": "dup"})
    assert same.status_code == 200 and same.json()["limit"]["limit_id"] == "dup"
    # A deleted limit's id is never reused; its name is free again.
    assert (await _call(running, "DELETE", "/dup")).status_code == 200
    response = await _call(running, "POST", "", json={"limit_name": "a", "max": 1, "limit_id": "dup"})
    assert response.status_code == 409 and _code(response) == "duplicate_limit_id"
    assert (await _call(running, "POST", "", json={"limit_name": "a", "max": 1})).status_code == 201


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"limit_name": "x", "max": 0}, "invalid_max_limit"),
        ({"limit_name": "x", "max": -1}, "invalid_max_limit"),
        ({"limit_name": "x", "max": 1e-12}, "invalid_max_limit"),
        ({"limit_name": "x", "max": 1e13}, "invalid_max_limit"),
        ({"limit_name": "x", "max": 1, "threshold": 0.5}, "create_limit_validation_failed"),
        ({"limit_name": "x", "max": 1, "threshold": 1.5}, "create_limit_validation_failed"),
        ({"limit_name": "x", "max": 1, "limit_type": "deny"}, "create_limit_validation_failed"),
        ({"limit_name": "x", "max": 1, "enforcement": "lax"}, "create_limit_validation_failed"),
        ({"limit_name": "x", "max": 1, "properties": {"enforcement": "lax"}}, "create_limit_validation_failed"),
        ({"limit_name": "x", "max": 1, "period": "year"}, "create_limit_validation_failed"),
        ({"limit_name": "x", "max": 1, "period": "day", "timezone": "Mars/Olympus"}, "create_limit_validation_failed"),
        ({"limit_name": "x", "max": 1, "timezone": "UTC"}, "create_limit_validation_failed"),
        ({"limit_name": "x", "max": 1, "limit_id": "has space"}, "create_limit_validation_failed"),
        ({"limit_name": "x", "max": 1, "limit_id": "a,b"}, "create_limit_validation_failed"),
        ({"limit_name": "x", "max": 1, "limit_tags": ["no spaces"]}, "invalid_tags"),
        ({"limit_name": "", "max": 1}, "create_limit_validation_failed"),
        ({"limit_name": "x\x00y", "max": 1}, "create_limit_validation_failed"),
        ({"limit_name": "x" * 201, "max": 1}, "create_limit_validation_failed"),
        ({"max": 1}, "create_limit_validation_failed"),
        ({"limit_name": "x"}, "create_limit_validation_failed"),
        ({"limit_name": "x", "max": "lots"}, "create_limit_validation_failed"),
        ({"limit_name": "x", "max": [1]}, "create_limit_validation_failed"),
        ({"limit_name": "x", "max": 1, "properties": ["a"]}, "create_limit_validation_failed"),
        ({"limit_name": "x", "max": 1, "threshold": "high"}, "create_limit_validation_failed"),
    ],
)
async def test_bad_create_input_gets_a_clear_400(running: Running, body: dict[str, Any], code: str) -> None:
    response = await _call(running, "POST", "", json=body)
    assert response.status_code == 400, response.text
    assert _code(response) == code
    assert response.json()["message"] == "Bad Request"


async def test_malformed_bodies(running: Running) -> None:
    for content in (b"{nope", b"[1, 2]", b"", b'{"limit_name": "x", "max": NaN}', b'{"limit_name": "x", "max": Infinity}'):
        response = await _call(running, "POST", "", content=content, headers={"content-type": "application/json"})
        assert response.status_code == 400, content
        assert _code(response) in ("invalid_json", "create_limit_validation_failed"), content
    limit = await _create(running, limit_name="m", max=1)
    response = await _call(
        running, "PUT", f"/{limit['limit_id']}", content=b"{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and _code(response) == "invalid_json"
    response = await _call(running, "PUT", f"/{limit['limit_id']}/properties", json={"properties": "nope"})
    assert response.status_code == 400 and _code(response) == "update_limit_validation_failed"
    response = await _call(running, "PUT", f"/{limit['limit_id']}/properties", json={})
    assert response.status_code == 400 and _code(response) == "update_limit_validation_failed"


async def test_update_name_and_max(running: Running) -> None:
    limit = await _create(running, limit_name="u", max=1)
    await _create(running, limit_name="taken", max=1)
    response = await _call(running, "PUT", f"/{limit['limit_id']}", json={"limit_name": "u2", "max": 2.5})
    assert response.status_code == 200
    updated = response.json()["limit"]
    assert updated["limit_name"] == "u2" and updated["max"] == 2.5
    assert updated["limit_creation_timestamp"] == limit["limit_creation_timestamp"]
    assert updated["limit_update_timestamp"] >= limit["limit_update_timestamp"]
    # Nothing to change is fine.
    assert (await _call(running, "PUT", f"/{limit['limit_id']}", json={})).json()["limit"]["max"] == 2.5
    cases = [
        ({"limit_name": "taken"}, 409, "limit_name_already_exist"),
        ({"limit_name": ""}, 400, "update_limit_validation_failed"),
        ({"max": 0}, 400, "invalid_max_limit"),
        ({"max": "x"}, 400, "update_limit_validation_failed"),
    ]
    for body, status, code in cases:
        response = await _call(running, "PUT", f"/{limit['limit_id']}", json=body)
        assert (response.status_code, _code(response)) == (status, code), body


async def test_max_cannot_go_below_current_spend(running: Running) -> None:
    limit = await _create(running, limit_name="spent", max=1, limit_id="spent")
    await _spend(running, "spent", 2)
    response = await _call(running, "PUT", "/spent", json={"max": 0.0002})
    assert response.status_code == 400
    assert _code(response) == "invalid_max_limit_update"
    assert "0.000275" in response.json()["xproxy_error"]["message"]
    response = await _call(running, "PUT", "/spent", json={"max": 0.0003})
    assert response.status_code == 200 and response.json()["limit"]["max"] == 0.0003
    assert limit["limit_id"] == "spent"


async def test_list_filters_and_pages_with_cursor(running: Running) -> None:
    ids = [(await _create(running, limit_name=f"l{i}", max=i + 1))["limit_id"] for i in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = (await _call(running, "GET", "", params=params)).json()
        seen += [item["limit_id"] for item in body["items"]]
        pages += 1
        cursor = body["cursor"]
        if not cursor:
            break
    assert seen == ids and pages == 3
    descending = (await _call(running, "GET", "", params={"sort_ascending": "false", "limit": 2})).json()
    assert [i["limit_id"] for i in descending["items"]] == ids[::-1][:2]
    rest = (await _call(running, "GET", "", params={"sort_ascending": "false", "cursor": descending["cursor"]})).json()
    assert [i["limit_id"] for i in rest["items"]] == ids[::-1][2:]
    assert rest["cursor"] is None
    named = (await _call(running, "GET", "", params={"limit_name": "l3"})).json()
    assert [i["limit_id"] for i in named["items"]] == [ids[3]]
    assert (await _call(running, "GET", "", params={"limit_name": "nope"})).json() == {"items": [], "cursor": None}
    for params in ({"cursor": "garbage!"}, {"cursor": "WyJvdGhlciIsMV0"}, {"limit": 0}, {"limit": "x"}, {"sort_ascending": "maybe"}):
        response = await _call(running, "GET", "", params=params)
        assert response.status_code == 400, params


async def test_delete_makes_the_id_unknown(running: Running) -> None:
    limit = await _create(running, limit_name="gone", max=1)
    response = await _call(running, "DELETE", f"/{limit['limit_id']}")
    assert response.status_code == 200
    assert response.json()["request_id"] and response.json()["message"]
    for method, path, kw in [
        ("GET", "", {}),
        ("PUT", "", {"json": {"max": 2}}),
        ("DELETE", "", {}),
        ("POST", "/reset", {}),
        ("PUT", "/properties", {"json": {"properties": {}}}),
        ("GET", "/history", {}),
    ]:
        response = await _call(running, method, f"/{limit['limit_id']}{path}", **kw)
        assert response.status_code == 404, (method, path)
        assert _code(response) == "limit_not_found"
    assert (await _call(running, "GET", "")).json()["items"] == []


async def test_an_api_key_pasted_as_an_id_is_not_echoed(running: Running) -> None:
    for path in (f"/{running.app_key}", f"/{running.org_key}/reset"):
        response = await _call(running, "GET" if "reset" not in path else "POST", path)
        assert response.status_code == 404
        assert running.app_key not in response.text and running.org_key not in response.text


async def test_unknown_and_odd_ids_are_not_found(running: Running) -> None:
    for limit_id in ("nope", "x" * 101, "a%00b", "%E2%9C%93", "a%2Cb"):
        response = await _call(running, "GET", f"/{limit_id}")
        assert response.status_code == 404, limit_id
        assert _code(response) == "limit_not_found"


async def test_reset_returns_the_totals_before_and_zeroes_the_limit(running: Running) -> None:
    limit = await _create(running, limit_name="r", max=1, limit_id="r", limit_tags=["t"])
    await _spend(running, "r", 2)
    response = await _call(running, "POST", "/r/reset", headers={"content-type": "application/json"})
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Limit has been successfully reset."
    history = body["limit_history"]
    assert history["limit_id"] == "r" and history["limit_name"] == "r" and history["limit_type"] == "allow"
    assert history["max"] == 1.0 and history["limit_tags"] == ["t"]
    assert history["totals"]["cost"]["total"]["base"] == pytest.approx(2 * COST_50_100)
    assert history["totals"]["requests"]["ok"] == 2 and history["totals"]["requests"]["total"] == 2
    after = (await _call(running, "GET", "/r")).json()["limit"]
    assert after["totals"]["cost"]["total"]["base"] == 0.0 and after["totals"]["requests"]["total"] == 0
    assert after["limit_creation_timestamp"] == limit["limit_creation_timestamp"]

    # The effective date is recorded; a date in the future is refused.
    when = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    response = await _call(running, "POST", "/r/reset", params={"resetDate": when.isoformat()})
    assert response.status_code == 200
    assert datetime.fromisoformat(response.json()["limit_history"]["limit_reset_timestamp"]) == when
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    response = await _call(running, "POST", "/r/reset", params={"resetDate": future})
    assert response.status_code == 400 and _code(response) == "invalid_reset_date"
    response = await _call(running, "POST", "/r/reset", params={"resetDate": "yesterday"})
    assert response.status_code == 400

    # Both resets are in the history, newest first.
    items = (await _call(running, "GET", "/r/history")).json()["items"]
    assert [i["totals"]["requests"]["total"] for i in items] == [0, 2]
    assert datetime.fromisoformat(items[0]["limit_reset_timestamp"]) == when
    page = (await _call(running, "GET", "/r/history", params={"limit": 1, "sort_ascending": "true"})).json()
    assert page["items"][0]["totals"]["requests"]["total"] == 2 and page["cursor"]
    rest = (await _call(running, "GET", "/r/history", params={"limit": 1, "sort_ascending": "true", "cursor": page["cursor"]})).json()
    assert rest["items"][0]["totals"]["requests"]["total"] == 0 and rest["cursor"] is None


async def test_properties_update_merges_deletes_and_returns_an_array(running: Running) -> None:
    await _create(running, limit_name="p", max=1, limit_id="p", properties={"a": "1", "b": "2"})
    response = await _call(running, "PUT", "/p/properties", json={"properties": {"b": None, "c": "3", "n": 4}})
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    assert body[0]["request_id"]
    assert body[0]["limit"]["properties"] == {"a": "1", "c": "3", "n": "4"}
    # The enforcement property switches the mode.
    body = (await _call(running, "PUT", "/p/properties", json={"properties": {"enforcement": "strict"}})).json()
    assert body[0]["limit"]["enforcement"] == "strict"
    response = await _call(running, "PUT", "/p/properties", json={"properties": {"enforcement": "sometimes"}})
    assert response.status_code == 400 and _code(response) == "update_limit_validation_failed"


async def test_strict_enforcement_as_field_or_property(running: Running) -> None:
    by_field = await _create(running, limit_name="s1", max=1, limit_type="block", enforcement="Strict")
    by_property = await _create(running, limit_name="s2", max=1, limit_type="block", properties={"enforcement": "strict"})
    assert by_field["enforcement"] == by_property["enforcement"] == "strict"
    response = await _call(
        running, "POST", "", json={"limit_name": "s3", "max": 1, "enforcement": "strict", "properties": {"enforcement": "default"}}
    )
    assert response.status_code == 400


async def test_periodic_limit_reports_its_window(running: Running) -> None:
    limit = await _create(running, limit_name="daily", max=1, period="daily", timezone="Europe/Paris")
    assert limit["period"] == "day" and limit["timezone"] == "Europe/Paris"
    start = datetime.fromisoformat(limit["window_start"])
    local = start.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert (local.hour, local.minute) == (0, 0)
    assert start <= datetime.now(UTC) < start + timedelta(hours=25)


async def test_applications_do_not_see_each_others_limits(running: Running) -> None:
    mine = await _create(running, limit_name="shared-name", max=1, limit_id="mine")
    _app, keys = await running.state.tenancy.create_application(running.boot.org_id, "other")
    other = keys[0].plaintext
    assert (await _call(running, "GET", "", other)).json()["items"] == []
    for method, path, kw in [
        ("GET", "/mine", {}),
        ("PUT", "/mine", {"json": {"max": 5}}),
        ("DELETE", "/mine", {}),
        ("POST", "/mine/reset", {}),
        ("PUT", "/mine/properties", {"json": {"properties": {"x": "y"}}}),
        ("GET", "/mine/history", {}),
    ]:
        response = await _call(running, method, path, other, **kw)
        assert response.status_code == 404, (method, path)
        assert _code(response) == "limit_not_found"
    # Names and client-chosen ids are per application.
    theirs = await _create(running, other, limit_name="shared-name", max=2, limit_id="mine")
    assert theirs["max"] == 2
    assert (await _call(running, "GET", "/mine")).json()["limit"]["max"] == mine["max"] == 1
    # Organisation keys cannot use application routes.
    response = await _call(running, "GET", "", running.org_key)
    assert response.status_code == 403


async def test_periodic_limit_counts_each_event_in_its_own_window(running: Running) -> None:
    """Measured before: a daily limit in America/Los_Angeles counted an event of the previous local day and one of a
    year earlier in today's window ($0.60 over 4 requests where the reports said $0.30 over 2). The limit and the
    reports must agree: late events go to their own window's history."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/Los_Angeles")
    await _create(running, limit_name="la-daily", limit_id="la", max=1, period="day", timezone="America/Los_Angeles")
    now = datetime.now(UTC)
    today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = (today - timedelta(hours=12)).astimezone(UTC)  # the previous local day, whatever the time now
    a_year_ago = (now - timedelta(days=365)).replace(microsecond=0)
    for at in (now, now, yesterday, a_year_ago):
        response = await running.client.post(
            "/api/v1/ingest",
            json={**HAIKU, "units": {"text": {"input": 50, "output": 100}}, "event_timestamp": at.isoformat()},
            headers={**running.headers(), "xProxy-Limit-IDs": "la"},
        )
        assert response.status_code == 200, response.text
    limit = (await _call(running, "GET", "/la")).json()["limit"]
    assert limit["totals"]["requests"]["total"] == 2
    assert limit["totals"]["cost"]["total"]["base"] == pytest.approx(2 * COST_50_100)
    # The reports, which bucket by event time, say the same for the limit's window.
    report = await running.client.get(
        "/api/v1/reports/spend",
        params={"start": today.isoformat(), "end": (now + timedelta(minutes=1)).isoformat(), "bucket": "total",
                "limit": "la"},
        headers=running.headers(),
    )
    assert report.status_code == 200, report.text
    rows = report.json()["rows"]
    assert sum(r["requests"] for r in rows) == 2
    assert sum(r["cost_total"] for r in rows) == pytest.approx(2 * COST_50_100)
    # The two late events are in their windows' history, one each.
    history = (await _call(running, "GET", "/la/history")).json()["items"]
    late = {h["window_start"]: h["totals"]["requests"]["total"] for h in history}
    expected = {
        datetime.fromisoformat(w).astimezone(UTC)
        for w in (
            (today - timedelta(days=1)).replace(tzinfo=None).replace(tzinfo=zone).isoformat(),
            a_year_ago.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0).isoformat(),
        )
    }
    assert {datetime.fromisoformat(w).astimezone(UTC) for w in late} == expected
    assert sorted(late.values()) == [1, 1]
