"""The /api/v1/use_cases endpoints on SQLite and PostgreSQL: definitions, KPIs, limit config, instances,
properties, KPI scores, implicit definitions, bad input and application isolation."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from payi_server.store.tables import limits, use_case_definitions

from ...conftest import Running

HAIKU = {"category": "system.aws.bedrock", "resource": "anthropic.claude-3-haiku-20240307-v1:0"}
UUID = "0b5d0b9e-7f53-4c3f-9a57-2d1c8f6a0c11"


async def _call(running: Running, method: str, path: str, key: str | None = None, **kw: Any) -> Any:
    headers = {**running.headers(key), **kw.pop("headers", {})}
    return await running.client.request(method, "/api/v1/use_cases" + path, headers=headers, **kw)


async def _ok(running: Running, method: str, path: str, status: int = 200, **kw: Any) -> Any:
    response = await _call(running, method, path, **kw)
    assert response.status_code == status, response.text
    return response.json()


def _code(response: Any) -> str:
    body = response.json()
    assert body["statusCode"] == response.status_code
    return str(body["xproxy_error"]["code"])


async def test_definition_lifecycle(running: Running) -> None:
    created = await _ok(
        running, "POST", "/definitions", 201, json={"name": "support.bot-v2", "description": "Answers tickets", "logging_enabled": False}
    )
    assert created["name"] == "support.bot-v2" and created["description"] == "Answers tickets"
    assert created["request_id"] and created["type_version"] == 1
    assert created["limit_config"] is None and created["logging_enabled"] is False and created["implicit"] is False

    got = await _ok(running, "GET", "/definitions/support.bot-v2")
    assert {k: got[k] for k in ("name", "description", "type_version")} == {
        "name": "support.bot-v2",
        "description": "Answers tickets",
        "type_version": 1,
    }
    updated = await _ok(running, "PUT", "/definitions/support.bot-v2", json={"description": "New", "logging_enabled": True})
    assert updated["description"] == "New" and updated["logging_enabled"] is True
    # null description leaves it; explicit null logging_enabled clears it.
    updated = await _ok(running, "PUT", "/definitions/support.bot-v2", json={"description": None, "logging_enabled": None})
    assert updated["description"] == "New" and updated["logging_enabled"] is None
    assert (await _ok(running, "POST", "/definitions/support.bot-v2/increment_version"))["type_version"] == 2
    assert (await _ok(running, "POST", "/definitions/support.bot-v2/increment_version"))["type_version"] == 3

    again = await _call(running, "POST", "/definitions", json={"name": "support.bot-v2", "description": "x"})
    assert again.status_code == 409 and _code(again) == "use_case_already_exists"

    deleted = await _ok(running, "DELETE", "/definitions/support.bot-v2")
    assert deleted["name"] == "support.bot-v2" and deleted["request_id"]
    missing = await _call(running, "GET", "/definitions/support.bot-v2")
    assert missing.status_code == 404 and _code(missing) == "use_case_not_found"


async def test_list_definitions_pages_and_filters(running: Running) -> None:
    names = [f"uc{i}" for i in range(5)]
    for name in names:
        await _ok(running, "POST", "/definitions", 201, json={"name": name, "description": ""})
    page = await _ok(running, "GET", "/definitions", params={"limit": 2})
    assert [i["name"] for i in page["items"]] == names[:2] and all(i["request_id"] for i in page["items"])
    seen = [i["name"] for i in page["items"]]
    while page["cursor"]:
        page = await _ok(running, "GET", "/definitions", params={"limit": 2, "cursor": page["cursor"]})
        seen += [i["name"] for i in page["items"]]
    assert seen == names
    desc = await _ok(running, "GET", "/definitions", params={"sort_ascending": "false"})
    assert [i["name"] for i in desc["items"]] == names[::-1]
    assert [i["name"] for i in (await _ok(running, "GET", "/definitions", params={"use_case_name": "uc3"}))["items"]] == ["uc3"]
    assert (await _ok(running, "GET", "/definitions", params={"use_case_name": "bad name"}))["items"] == []
    bad = await _call(running, "GET", "/definitions", params={"cursor": "nope"})
    assert bad.status_code == 400 and _code(bad) == "invalid_cursor"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "has space", "description": ""}, "invalid_use_case_name"),
        ({"name": "x" * 65, "description": ""}, "invalid_use_case_name"),
        ({"name": "", "description": ""}, "invalid_use_case_name"),
        ({"name": "a/b", "description": ""}, "invalid_use_case_name"),
        ({"name": "ok", "description": "d" * 2001}, "invalid_use_case_description"),
        ({"name": "ok"}, "required_field_missing"),
        ({"description": "x"}, "required_field_missing"),
        ({"name": 5, "description": "x"}, "invalid_request"),
        ({"name": "ok", "description": "", "limit_config": {"max": 0}}, "invalid_max_limit"),
        ({"name": "ok", "description": "", "limit_config": {"max": 1, "threshold": 2}}, "create_limit_validation_failed"),
        ({"name": "ok", "description": "", "limit_config": {"max": 1, "limit_type": "nope"}}, "create_limit_validation_failed"),
        ({"name": "ok", "description": "", "limit_config": {}}, "required_field_missing"),
        ({"name": "ok", "description": "", "logging_enabled": "often"}, "invalid_request"),
    ],
)
async def test_bad_definition_input(running: Running, body: dict[str, Any], code: str) -> None:
    response = await _call(running, "POST", "/definitions", json=body)
    assert response.status_code == 400, response.text
    assert _code(response) == code


async def test_bad_names_in_paths_and_malformed_json(running: Running) -> None:
    for path in ("/definitions/has%20space", "/definitions/" + "x" * 65, "/instances/bad%21name"):
        method = "POST" if path.startswith("/instances") else "GET"
        response = await _call(running, method, path)
        assert response.status_code == 400 and _code(response) == "invalid_use_case_name", path
    response = await _call(running, "POST", "/definitions", content=b"{oops", headers={"content-type": "application/json"})
    assert response.status_code == 400 and _code(response) == "invalid_json"
    for path in ("/definitions/nope", "/definitions/nope/kpis", "/definitions/nope/kpis/k"):
        response = await _call(running, "GET", path)
        assert response.status_code == 404 and _code(response) == "use_case_not_found", path
    for method, path in (("POST", "/definitions/nope/increment_version"), ("DELETE", "/definitions/nope/limit_config"), ("POST", "/instances/nope")):
        response = await _call(running, method, path)
        assert response.status_code == 404 and _code(response) == "use_case_not_found", path


async def test_limit_config_gives_each_new_instance_its_own_limit(running: Running) -> None:
    await _ok(running, "POST", "/definitions", 201, json={"name": "chat", "description": ""})
    plain = await _ok(running, "POST", "/instances/chat", 201)
    assert plain["limit_id"] is None and plain["use_case_name"] == "chat" and plain["type_version"] == 1

    config = await _ok(
        running, "POST", "/definitions/chat/limit_config", json={"max": 2.5, "limit_type": "Block", "threshold": 0.8, "properties": {"tier": "gold"}}
    )
    assert config["limit_config"] == {"max": 2.5, "limit_type": "block", "threshold": 0.8, "properties": {"tier": "gold"}}
    first = await _ok(running, "POST", "/instances/chat", 201)
    second = await _ok(running, "POST", "/instances/chat", 201)
    assert first["limit_id"] and second["limit_id"] and first["limit_id"] != second["limit_id"]
    assert first["use_case_id"] != second["use_case_id"] and len(first["use_case_id"]) == 36
    limit = (await running.client.get(f"/api/v1/limits/{first['limit_id']}", headers=running.headers())).json()["limit"]
    assert limit["max"] == 2.5 and limit["limit_type"] == "block" and limit["threshold"] == 0.8
    assert limit["properties"]["tier"] == "gold"
    assert limit["properties"]["system.use_case_id"] == first["use_case_id"]
    assert (await _ok(running, "GET", f"/instances/chat/{first['use_case_id']}"))["limit_id"] == first["limit_id"]

    # Overwrite, then delete the config: new instances follow, existing ones keep their limit.
    await _ok(running, "POST", "/definitions/chat/limit_config", json={"max": 9})
    assert (await _ok(running, "GET", "/definitions/chat"))["limit_config"]["max"] == 9
    removed = await _ok(running, "DELETE", "/definitions/chat/limit_config")
    assert removed["limit_config"] is None
    assert (await _ok(running, "DELETE", "/definitions/chat/limit_config"))["limit_config"] is None
    assert (await _ok(running, "POST", "/instances/chat", 201))["limit_id"] is None
    assert (await _ok(running, "GET", f"/instances/chat/{first['use_case_id']}"))["limit_id"] == first["limit_id"]

    bad = await _call(running, "POST", "/definitions/chat/limit_config", json={"max": -1})
    assert bad.status_code == 400 and _code(bad) == "invalid_max_limit"
    bad = await _call(running, "POST", "/definitions/chat/limit_config", json={"limit_type": "block"})
    assert bad.status_code == 400 and _code(bad) == "create_limit_validation_failed"

    # Deleting an instance deletes its own limit.
    deleted = await _ok(running, "DELETE", f"/instances/chat/{first['use_case_id']}")
    assert deleted["use_case_id"] == first["use_case_id"] and deleted["limit_id"] == first["limit_id"]
    gone = await running.client.get(f"/api/v1/limits/{first['limit_id']}", headers=running.headers())
    assert gone.status_code == 404
    missing = await _call(running, "GET", f"/instances/chat/{first['use_case_id']}")
    assert missing.status_code == 404 and _code(missing) == "use_case_instance_not_found"


async def test_instances_properties_and_lookup_rules(running: Running) -> None:
    await _ok(running, "POST", "/definitions", 201, json={"name": "a", "description": ""})
    await _ok(running, "POST", "/definitions", 201, json={"name": "b", "description": ""})
    await _ok(running, "POST", "/definitions/a/increment_version")
    instance = await _ok(running, "POST", "/instances/a", 201, headers={"content-type": "application/json"})
    uid = instance["use_case_id"]
    assert instance["type_version"] == 2 and instance["request_id"]
    # Under another name, or an unknown id, the instance does not exist.
    for path in (f"/instances/b/{uid}", f"/instances/a/{UUID}", "/instances/a/" + "x" * 65):
        response = await _call(running, "GET", path)
        assert response.status_code == 404 and _code(response) == "use_case_instance_not_found", path
    body = await _ok(running, "PUT", f"/instances/a/{uid}/properties", json={"properties": {"doc": "1", "who": "me"}})
    assert body["properties"] == {"doc": "1", "who": "me"} and body["use_case_id"] == uid
    body = await _ok(running, "PUT", f"/instances/a/{uid}/properties", json={"properties": {"doc": None, "n": 5}})
    assert body["properties"] == {"who": "me", "n": "5"}
    assert (await _ok(running, "GET", f"/instances/a/{uid}"))["properties"] == {"who": "me", "n": "5"}
    bad = await _call(running, "PUT", f"/instances/a/{uid}/properties", json={"props": {}})
    assert bad.status_code == 400 and _code(bad) == "required_field_missing"
    bad = await _call(running, "PUT", f"/instances/a/{uid}/properties", json={"properties": {"": "x"}})
    assert bad.status_code == 400 and _code(bad) == "invalid_properties"


async def test_kpi_definitions_crud(running: Running) -> None:
    await _ok(running, "POST", "/definitions", 201, json={"name": "bot", "description": ""})
    kpi = await _ok(
        running, "POST", "/definitions/bot/kpis", 201, json={"name": "Helpful answer", "description": "thumbs", "goal": 0.9, "kpi_type": "boolean"}
    )
    assert kpi["name"] == "Helpful answer" and kpi["goal"] == 0.9 and kpi["kpi_type"] == "boolean"
    assert kpi["request_id"] and kpi["created_timestamp"]
    await _ok(running, "POST", "/definitions/bot/kpis", 201, json={"name": "csat", "description": "", "goal": 4, "kpi_type": "LIKERT5"})
    dup = await _call(running, "POST", "/definitions/bot/kpis", json={"name": "csat", "description": "", "goal": 4, "kpi_type": "likert5"})
    assert dup.status_code == 409 and _code(dup) == "kpi_already_exists"
    got = await _ok(running, "GET", "/definitions/bot/kpis/Helpful%20answer")
    assert got["description"] == "thumbs"
    updated = await _ok(running, "PUT", "/definitions/bot/kpis/csat", json={"description": "stars", "goal": 4.5})
    assert updated["description"] == "stars" and updated["goal"] == 4.5 and updated["kpi_type"] == "likert5"
    listed = await _ok(running, "GET", "/definitions/bot/kpis")
    assert [k["name"] for k in listed["items"]] == ["Helpful answer", "csat"] and all(k["request_id"] for k in listed["items"])
    page = await _ok(running, "GET", "/definitions/bot/kpis", params={"limit": 1, "sort_ascending": "false"})
    assert [k["name"] for k in page["items"]] == ["csat"] and page["cursor"]
    rest = await _ok(running, "GET", "/definitions/bot/kpis", params={"limit": 1, "sort_ascending": "false", "cursor": page["cursor"]})
    assert [k["name"] for k in rest["items"]] == ["Helpful answer"]
    assert [k["name"] for k in (await _ok(running, "GET", "/definitions/bot/kpis", params={"kpi_name": "csat"}))["items"]] == ["csat"]
    deleted = await _ok(running, "DELETE", "/definitions/bot/kpis/csat")
    assert deleted["name"] == "csat"
    missing = await _call(running, "GET", "/definitions/bot/kpis/csat")
    assert missing.status_code == 404 and _code(missing) == "kpi_not_found"
    for body, code in [
        ({"name": "x", "description": "", "goal": 1, "kpi_type": "stars"}, "invalid_kpi_type"),
        ({"name": " padded", "description": "", "goal": 1, "kpi_type": "number"}, "invalid_kpi_name"),
        ({"name": "x", "description": "", "kpi_type": "number"}, "required_field_missing"),
        ({"name": "x", "description": "", "goal": "high", "kpi_type": "number"}, "invalid_request"),
    ]:
        response = await _call(running, "POST", "/definitions/bot/kpis", json=body)
        assert response.status_code == 400 and _code(response) == code, body


async def test_instance_kpi_scores(running: Running) -> None:
    await _ok(running, "POST", "/definitions", 201, json={"name": "bot", "description": ""})
    for name, kind in (("thumbs", "boolean"), ("stars", "likert5"), ("count", "number"), ("pct", "percentage")):
        await _ok(running, "POST", "/definitions/bot/kpis", 201, json={"name": name, "description": "", "goal": 1, "kpi_type": kind})
    uid = (await _ok(running, "POST", "/instances/bot", 201))["use_case_id"]
    path = f"/instances/bot/{uid}/kpis"
    for kpi, score in (("thumbs", True), ("stars", 4), ("count", 2.0), ("pct", 55.5)):
        response = await _call(running, "PUT", f"{path}/{kpi}", json={"score": score}, headers={"accept": "*/*"})
        assert response.status_code == 200 and response.content == b"", kpi
    listed = await _ok(running, "GET", path)
    assert {i["kpi_name"]: i["score"] for i in listed["items"]} == {"thumbs": 1.0, "stars": 4.0, "count": 2.0, "pct": 55.5}
    assert [i["kpi_name"] for i in listed["items"]] == ["count", "pct", "stars", "thumbs"]
    assert {i["kpi_name"]: i["kpi_type"] for i in listed["items"]}["stars"] == "likert5"
    # Update (the SDK's increment helper lists with kpi_name, then PUTs the new value), then clear.
    await _call(running, "PUT", f"{path}/count", json={"score": 3.0})
    only = await _ok(running, "GET", path, params={"kpi_name": "count"})
    assert [(i["kpi_name"], i["score"]) for i in only["items"]] == [("count", 3.0)]
    assert (await _call(running, "PUT", f"{path}/count", json={"score": None})).status_code == 200
    assert (await _ok(running, "GET", path, params={"kpi_name": "count"}))["items"][0]["score"] is None
    page = await _ok(running, "GET", path, params={"limit": 3})
    assert len(page["items"]) == 3 and page["cursor"]
    rest = await _ok(running, "GET", path, params={"limit": 3, "cursor": page["cursor"]})
    assert [i["kpi_name"] for i in rest["items"]] == ["thumbs"] and rest["cursor"] is None

    for kpi, body, status, code in [
        ("thumbs", {"score": 2}, 400, "invalid_kpi_score"),
        ("stars", {"score": 6}, 400, "invalid_kpi_score"),
        ("stars", {"score": 0}, 400, "invalid_kpi_score"),
        ("pct", {"score": 101}, 400, "invalid_kpi_score"),
        ("count", {"score": "lots"}, 400, "invalid_kpi_score"),
        ("undefined", {"score": 1}, 404, "kpi_not_found"),
    ]:
        response = await _call(running, "PUT", f"{path}/{kpi}", json=body)
        assert (response.status_code, _code(response)) == (status, code), (kpi, body)
    response = await _call(running, "PUT", f"/instances/bot/{UUID}/kpis/count", json={"score": 1})
    assert response.status_code == 404 and _code(response) == "use_case_instance_not_found"
    # Deleting the KPI definition drops its scores.
    await _ok(running, "DELETE", "/definitions/bot/kpis/stars")
    assert "stars" not in [i["kpi_name"] for i in (await _ok(running, "GET", path))["items"]]


async def test_implicit_definitions_behave_like_normal_ones(running: Running) -> None:
    response = await running.client.post(
        "/api/v1/ingest",
        json={**HAIKU, "units": {"text": {"input": 5, "output": 5}}},
        headers={**running.headers(), "xProxy-UseCase-Name": "found.on-the_fly", "xProxy-UseCase-ID": UUID},
    )
    assert response.status_code == 200, response.text
    got = await _ok(running, "GET", "/definitions/found.on-the_fly")
    assert got["implicit"] is True and got["description"] == ""
    assert [d["name"] for d in (await _ok(running, "GET", "/definitions"))["items"]] == ["found.on-the_fly"]
    instance = await _ok(running, "GET", f"/instances/found.on-the_fly/{UUID}")
    assert instance["use_case_id"] == UUID and instance["limit_id"] is None
    assert (await _ok(running, "POST", "/definitions/found.on-the_fly/increment_version"))["type_version"] == 2

    # Creating it explicitly takes it over instead of failing; a second explicit create conflicts.
    made = await _ok(running, "POST", "/definitions", 201, json={"name": "found.on-the_fly", "description": "Now managed", "limit_config": {"max": 1}})
    assert made["implicit"] is False and made["description"] == "Now managed" and made["type_version"] == 2
    again = await _call(running, "POST", "/definitions", json={"name": "found.on-the_fly", "description": ""})
    assert again.status_code == 409
    async with running.state.db.read() as conn:
        assert len((await conn.execute(select(use_case_definitions))).all()) == 1
    # Deleting a definition deletes its instances too.
    await _ok(running, "DELETE", "/definitions/found.on-the_fly")
    response = await _call(running, "GET", f"/instances/found.on-the_fly/{UUID}")
    assert response.status_code == 404


async def test_deleting_a_definition_deletes_its_instance_limits(running: Running) -> None:
    await _ok(running, "POST", "/definitions", 201, json={"name": "x", "description": "", "limit_config": {"max": 3}})
    instance = await _ok(running, "POST", "/instances/x", 201)
    await _ok(running, "DELETE", "/definitions/x")
    async with running.state.db.read() as conn:
        row = (await conn.execute(select(limits).where(limits.c.limit_id == instance["limit_id"]))).one()
    assert row.deleted_at is not None


async def test_applications_do_not_see_each_others_use_cases(running: Running) -> None:
    await _ok(running, "POST", "/definitions", 201, json={"name": "mine", "description": ""})
    await _ok(running, "POST", "/definitions/mine/kpis", 201, json={"name": "k", "description": "", "goal": 1, "kpi_type": "number"})
    uid = (await _ok(running, "POST", "/instances/mine", 201))["use_case_id"]
    _app, keys = await running.state.tenancy.create_application(running.boot.org_id, "other")
    other = keys[0].plaintext
    assert (await _call(running, "GET", "/definitions", other)).json()["items"] == []
    for method, path, kw, code in [
        ("GET", "/definitions/mine", {}, "use_case_not_found"),
        ("PUT", "/definitions/mine", {"json": {"description": "x"}}, "use_case_not_found"),
        ("DELETE", "/definitions/mine", {}, "use_case_not_found"),
        ("POST", "/definitions/mine/increment_version", {}, "use_case_not_found"),
        ("POST", "/definitions/mine/limit_config", {"json": {"max": 1}}, "use_case_not_found"),
        ("GET", "/definitions/mine/kpis", {}, "use_case_not_found"),
        ("GET", "/definitions/mine/kpis/k", {}, "use_case_not_found"),
        ("POST", "/instances/mine", {}, "use_case_not_found"),
        ("GET", f"/instances/mine/{uid}", {}, "use_case_instance_not_found"),
        ("DELETE", f"/instances/mine/{uid}", {}, "use_case_instance_not_found"),
        ("PUT", f"/instances/mine/{uid}/properties", {"json": {"properties": {}}}, "use_case_instance_not_found"),
        ("PUT", f"/instances/mine/{uid}/kpis/k", {"json": {"score": 1}}, "use_case_instance_not_found"),
        ("GET", f"/instances/mine/{uid}/kpis", {}, "use_case_instance_not_found"),
    ]:
        response = await _call(running, method, path, other, **kw)
        assert response.status_code == 404, (method, path, response.text)
        assert _code(response) == code, (method, path)
    # The same name is free in the other application.
    assert (await _call(running, "POST", "/definitions", other, json={"name": "mine", "description": ""})).status_code == 201
    assert (await _call(running, "GET", "/definitions", running.org_key)).status_code == 403


async def test_an_api_key_pasted_as_a_name_or_id_is_not_echoed(running: Running) -> None:
    await _ok(running, "POST", "/definitions", 201, json={"name": "k", "description": ""})
    key = running.app_key
    for method, path in (
        ("GET", f"/definitions/{key}"),
        ("GET", f"/definitions/k/kpis/{key}"),
        ("GET", f"/instances/k/{key}"),
        ("PUT", f"/instances/k/{key}/kpis/x"),
    ):
        response = await _call(running, method, path, json={"score": 1} if method == "PUT" else None)
        assert response.status_code == 404, (path, response.text)
        assert key not in response.text, path

