"""The four /api/v1/requests endpoints: result and properties by request id and by provider response id."""

from __future__ import annotations

from typing import Any

from ...conftest import Running

HAIKU = {"category": "system.aws.bedrock", "resource": "anthropic.claude-3-haiku-20240307-v1:0"}


async def _ingest(running: Running, response_id: str, key: str | None = None) -> dict[str, Any]:
    body = {**HAIKU, "units": {"text": {"input": 50, "output": 100}}, "provider_response_id": response_id}
    response = await running.client.post("/api/v1/ingest", json=body, headers=running.headers(key))
    assert response.status_code == 200
    return dict(response.json()["xproxy_result"])


async def test_result_by_request_id_and_by_response_id(running: Running) -> None:
    recorded = await _ingest(running, "msg/with:odd chars")
    by_id = await running.client.get(f"/api/v1/requests/{recorded['request_id']}/result", headers=running.headers())
    assert by_id.status_code == 200
    assert by_id.json()["xproxy_result"]["cost"] == recorded["cost"]
    assert by_id.json()["xproxy_result"]["request_id"] == recorded["request_id"]
    by_response = await running.client.get(
        "/api/v1/requests/provider/system.aws.bedrock/msg%2Fwith%3Aodd%20chars/result", headers=running.headers()
    )
    assert by_response.status_code == 200, by_response.text
    assert by_response.json()["xproxy_result"]["request_id"] == recorded["request_id"]


async def test_properties_update_and_null_deletes(running: Running) -> None:
    recorded = await _ingest(running, "r-1")
    url = f"/api/v1/requests/{recorded['request_id']}/properties"
    first = await running.client.put(url, json={"properties": {"a": "1", "b": "2"}}, headers=running.headers())
    assert first.status_code == 200 and first.json()["request_id"] == recorded["request_id"]
    second = await running.client.put(
        "/api/v1/requests/provider/system.aws.bedrock/r-1/properties",
        json={"properties": {"a": None, "c": "3"}},
        headers=running.headers(),
    )
    assert second.json()["properties"] == {"b": "2", "c": "3"}


async def test_requests_are_private_to_their_application(running: Running) -> None:
    recorded = await _ingest(running, "private-1")
    _app, keys = await running.state.tenancy.create_application(running.boot.org_id, "other")
    other = keys[0].plaintext
    for method, url, kw in [
        ("GET", f"/api/v1/requests/{recorded['request_id']}/result", {}),
        ("PUT", f"/api/v1/requests/{recorded['request_id']}/properties", {"json": {"properties": {"x": "1"}}}),
        ("GET", "/api/v1/requests/provider/system.aws.bedrock/private-1/result", {}),
    ]:
        response = await running.client.request(method, url, headers={"xProxy-api-key": other}, **kw)
        assert response.status_code == 404, url
        assert response.json()["xproxy_error"]["code"] == "request_not_found"


async def test_unknown_and_malformed_ids_are_404(running: Running) -> None:
    for url in (
        "/api/v1/requests/123/result",
        "/api/v1/requests/abc/result",
        "/api/v1/requests/99999999999999999999999/result",
        "/api/v1/requests/provider/system.openai/none/result",
    ):
        response = await running.client.get(url, headers=running.headers())
        assert response.status_code == 404, url
    bad = await running.client.put(
        "/api/v1/requests/1/properties", json={"properties": "x"}, headers=running.headers()
    )
    assert bad.status_code == 400


async def test_property_edits_move_the_property_rollups(running: Running) -> None:
    from sqlalchemy import select

    from payi_server.store.tables import rollup_property_hourly

    body = {**HAIKU, "units": {"text": {"input": 50, "output": 100}}, "properties": {"team": "a", "env": "prod"}}
    response = await running.client.post("/api/v1/ingest", json=body, headers=running.headers())
    rid = response.json()["request_id"]
    await running.client.put(
        f"/api/v1/requests/{rid}/properties", json={"properties": {"team": "b", "env": None}}, headers=running.headers()
    )
    async with running.state.db.read() as conn:
        rows = {
            (r.name, r.value): (r.requests, float(r.cost_total))
            for r in (await conn.execute(select(rollup_property_hourly))).all()
        }
    assert rows == {("team", "b"): (1, 0.0001375)}
