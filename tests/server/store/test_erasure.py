"""Erasure of a user or an account, on SQLite and PostgreSQL: the identity leaves every table, the costs stay."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from payi_server.store.erasure import _runs, erase
from payi_server.store.tables import request_keys, request_limits, request_payloads, requests, rollup_hourly

from ...conftest import Running
from ..reports.data import create_app, event, ingest, price, report

WINDOW = {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"}


async def _setup(running: Running) -> tuple[int, str, str]:
    """An application that stores prompts, with ann's, bob's and anonymous requests over several hours."""
    await price(running)
    app_id, key = await create_app(running, "keeper")
    await running.state.tenancy.update_application(running.boot.org_id, int(app_id), store_prompts=True)
    await running.state.changes.poll_once()
    response = await running.client.post("/api/v1/limits", json={"limit_name": "l", "max": 1000}, headers=running.headers(key))
    limit_id = response.json()["limit"]["limit_id"]
    items = []
    for hour in (1, 2, 3, 7, 30):  # contiguous hours and gaps (30: the next day)
        at = f"2026-01-{1 + hour // 24:02d}T{hour % 24:02d}:15:00Z"
        items += [
            event(at, 1000, user_id="ann", account_name="acme", limit_ids=[limit_id], provider_request_json='{"p": "ann"}',
                  provider_response_id=f"ann-{hour}"),
            event(at, 2000, user_id="bob", account_name="acme", provider_request_json='{"p": "bob"}'),
            event(at, 4000, account_name="acme"),  # already anonymous: shares ann's rollup keys but the user
        ]
    await ingest(running, items, key)
    return int(app_id), key, limit_id


async def _by(running: Running, dim: str) -> dict[Any, tuple[float, int]]:
    body = await report(running, running.org_key, **WINDOW, bucket="hour", group_by=dim)
    return {(r["bucket"], r[dim]): (r["cost_total"], r["requests"]) for r in body["rows"]}


async def _count(running: Running, table: Any, *where: Any) -> int:
    async with running.state.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


async def test_erasing_a_user_anonymises_requests_and_merges_rollups(running: Running) -> None:
    app_id, key, limit_id = await _setup(running)
    totals = await report(running, running.org_key, **WINDOW, bucket="hour")
    by_user = await _by(running, "user")
    limit_before = (await running.client.get(f"/api/v1/limits/{limit_id}", headers=running.headers(key))).json()["limit"]

    counts = await erase(running.state.db, app_id, "user_id", "ann", batch_size=2)
    assert counts == {"requests": 5, "payloads": 5, "rollup_rows": 5}
    assert await _count(running, requests, requests.c.user_id == "ann") == 0
    assert await _count(running, requests, requests.c.app_id == app_id) == 15  # kept, without the identity
    assert await _count(running, rollup_hourly, rollup_hourly.c.user_id == "ann") == 0
    assert await _count(running, request_payloads) == 5  # bob's
    assert await _count(running, request_limits) == 5  # anonymised requests keep their limit links

    after = await report(running, running.org_key, **WINDOW, bucket="hour")
    assert after["rows"] == totals["rows"] and after["totals"] == totals["totals"]
    merged = await _by(running, "user")
    for (bucket, user), (cost, n) in by_user.items():
        if user == "ann":
            assert (bucket, "ann") not in merged
            anonymous = by_user[(bucket, None)]
            assert merged[(bucket, None)] == (cost + anonymous[0], n + anonymous[1])
        elif user == "bob":
            assert merged[(bucket, "bob")] == (cost, n)
    limit_after = (await running.client.get(f"/api/v1/limits/{limit_id}", headers=running.headers(key))).json()["limit"]
    assert limit_after == limit_before
    # Again: nothing left to erase.
    assert await erase(running.state.db, app_id, "user_id", "ann") == {"requests": 0, "payloads": 0, "rollup_rows": 0}


async def test_erasing_an_account_and_deleting_its_requests(running: Running) -> None:
    app_id, key, _ = await _setup(running)
    totals = (await report(running, running.org_key, **WINDOW, bucket="day"))["totals"]
    assert await _count(running, request_keys) == (0 if running.state.db.is_sqlite else 5)  # PostgreSQL's keys
    counts = await erase(running.state.db, app_id, "account_name", "acme", delete_requests=True)
    assert counts == {"requests": 15, "payloads": 10, "rollup_rows": 15}
    assert await _count(running, requests) == 0
    assert await _count(running, request_limits) == 0
    assert await _count(running, request_keys) == 0  # a copy sent again is recorded again, as before
    assert await _count(running, rollup_hourly, rollup_hourly.c.account_name == "acme") == 0
    assert (await report(running, running.org_key, **WINDOW, bucket="day"))["totals"] == totals
    by_account = await report(running, running.org_key, **WINDOW, bucket="total", group_by="account,user")
    assert {(r["account"], r["user"]): r["cost_total"] for r in by_account["rows"]} == {
        (None, "ann"): 5.0,
        (None, "bob"): 10.0,
        (None, None): 20.0,
    }


async def test_erasure_touches_one_application_only(running: Running) -> None:
    app_id, _, _ = await _setup(running)
    await ingest(running, [event("2026-01-01T01:00:00Z", 1000, user_id="ann")])  # the default application
    await erase(running.state.db, app_id, "user_id", "ann")
    assert await _count(running, requests, requests.c.user_id == "ann") == 1
    assert await _count(running, rollup_hourly, rollup_hourly.c.user_id == "ann") == 1


def test_hours_are_grouped_in_bounded_runs() -> None:
    from datetime import UTC, datetime, timedelta

    h = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=i) for i in range(10)]
    groups = list(_runs([(h[0], 1), (h[1], 1), (h[2], 1), (h[5], 1), (h[9], 5)], batch_size=2))
    assert groups == [[(h[0], h[2])], [(h[2], h[3]), (h[5], h[6])], [(h[9], h[9] + timedelta(hours=1))]]
    assert list(_runs([], 10)) == []


async def test_admin_api_and_validation(running: Running) -> None:
    app_id, _, _ = await _setup(running)
    url = f"/api/v1/admin/applications/{app_id}/erasure"
    org = running.headers(running.org_key)
    response = await running.client.post(url, json={"user_id": "bob"}, headers=org)
    assert response.status_code == 200, response.text
    assert response.json()["erased"] == {"requests_anonymised": 5, "payloads_deleted": 5, "rollup_rows_merged": 5}
    response = await running.client.post(url, json={"account_name": "acme", "delete_requests": True}, headers=org)
    assert response.json()["erased"] == {"requests_deleted": 15, "payloads_deleted": 5, "rollup_rows_merged": 10}  # bob merged already
    for bad in (
        {},
        {"user_id": "a", "account_name": "b"},
        {"user_id": ""},
        {"user_id": "x" * 201},
        {"user_id": 3},
        {"user_id": "a", "delete_requests": "yes"},
        {"user_id": "a", "extra": 1},
    ):
        response = await running.client.post(url, json=bad, headers=org)
        assert response.status_code == 400, (bad, response.text)
    assert (await running.client.post(url, json={"user_id": "a"}, headers=running.headers())).status_code == 403
    gone = await running.client.post("/api/v1/admin/applications/123456/erasure", json={"user_id": "a"}, headers=org)
    assert gone.status_code == 404


async def test_another_organisations_application_is_not_found(running: Running) -> None:
    from ..reports.data import other_organization

    app_id, _, _ = await _setup(running)
    _, other_org_key, other_app, _ = await other_organization(running)
    theirs = running.headers(other_org_key)
    for method, path, body in (
        ("POST", f"/api/v1/admin/applications/{app_id}/erasure", {"user_id": "ann"}),
        ("GET", f"/api/v1/admin/applications/{app_id}/retention", None),
        ("PUT", f"/api/v1/admin/applications/{app_id}/retention", {"request_days": 1}),
    ):
        response = await running.client.request(method, path, json=body, headers=theirs)
        assert response.status_code == 404, (path, response.text)
    assert await _count(running, requests, requests.c.user_id == "ann") == 5
    own = await running.client.get(f"/api/v1/admin/applications/{other_app}/retention", headers=theirs)
    assert own.status_code == 200


async def test_erasure_while_the_recorder_writes_the_same_rollup_rows(running: Running) -> None:
    """Erasure merges into the anonymous rows the recorder is adding to at the same time: totals stay exact."""
    import asyncio

    app_id, key, _ = await _setup(running)
    hours = [f"2026-01-01T{h:02d}:30:00Z" for h in (1, 2, 3, 7)]

    async def keep_ingesting() -> None:
        for round_ in range(8):
            await ingest(running, [event(at, 1000, account_name="acme", user_id=None if round_ % 2 else "ann") for at in hours], key)

    await asyncio.gather(erase(running.state.db, app_id, "user_id", "ann", batch_size=1), keep_ingesting())
    body = await report(running, running.org_key, **WINDOW, bucket="total")
    assert body["totals"]["requests"] == 15 + 32
    assert body["totals"]["cost_total"] == 5 * 7.0 + 32 * 1.0


def test_deadlocks_are_told_apart() -> None:
    from sqlalchemy.exc import OperationalError

    from payi_server.store.erasure import _is_conflict

    class Driver(Exception):
        sqlstate = "40P01"

    assert _is_conflict(OperationalError("x", {}, Driver()))
    assert not _is_conflict(OperationalError("x", {}, Exception("connection refused")))
