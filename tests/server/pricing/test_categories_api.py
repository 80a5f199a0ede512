"""The /api/v1/categories endpoints: managed catalog reads, custom categories with versions, price-as."""

from __future__ import annotations

from typing import Any

from ...conftest import Running


async def _get(running: Running, url: str, **params: Any) -> Any:
    response = await running.client.get(url, headers=running.headers(), params=params)
    assert response.status_code == 200, (url, response.text)
    return response.json()


async def test_managed_categories_are_listed_and_readable(running: Running) -> None:
    categories = {c["category"]: c for c in (await _get(running, "/api/v1/categories", limit=1000))["items"]}
    assert {"system.openai", "system.anthropic", "system.aws.bedrock", "system.azureopenai"} <= set(categories)
    assert categories["system.openai"]["category_type"] == "system"
    versions = await _get(running, "/api/v1/categories/system.openai/resources/gpt-4o")
    assert versions["items"][0]["resource"] == "gpt-4o"
    assert versions["items"][0]["units"]["text"] == {"input_price": 2.5e-06, "output_price": 1e-05}
    aliased = await _get(running, "/api/v1/categories/system.openai/resources/gpt-4o-2024-08-06")
    assert aliased["items"][0]["aliased_resource"] == "gpt-4o-2024-08-06"
    one = aliased["items"][0]
    again = await _get(running, f"/api/v1/categories/system.openai/resources/gpt-4o/{one['resource_id']}")
    assert again["resource_id"] == one["resource_id"]
    bedrock = await _get(
        running, "/api/v1/categories/system.aws.bedrock/resources/anthropic.claude-3-haiku-20240307-v1%3A0"
    )
    assert bedrock["items"][0]["units"]["text"]["input_price"] == 2.5e-07


async def test_list_resources_pages_with_a_cursor(running: Running) -> None:
    first = await _get(running, "/api/v1/categories/system.anthropic/resources", limit=5)
    assert len(first["items"]) == 5 and first["cursor"]
    seen = [r["resource_id"] for r in first["items"]]
    cursor = first["cursor"]
    while cursor:
        page = await _get(running, "/api/v1/categories/system.anthropic/resources", limit=5, cursor=cursor)
        seen += [r["resource_id"] for r in page["items"]]
        cursor = page["cursor"]
    everything = await _get(running, "/api/v1/categories/system.anthropic/resources", limit=1000)
    assert seen == [r["resource_id"] for r in everything["items"]]
    assert len(seen) == len(set(seen)) > 5


async def test_custom_category_versions_and_price_as(running: Running) -> None:
    org = running.headers(running.org_key)
    url = "/api/v1/categories/acme.negotiated/resources/gpt-4o"
    old = await running.client.post(
        url,
        json={"units": {"text": {"input_price": 0.000001, "output_price": 0.000002}}, "start_timestamp": "2024-01-01T00:00:00Z"},
        headers=org,
    )
    assert old.status_code == 200, old.text
    new = await running.client.post(
        url,
        json={"units": {"text": {"input_price": 0.0000005, "output_price": 0.000001}}, "start_timestamp": "2025-01-01T00:00:00Z"},
        headers=org,
    )
    assert new.json()["resource_id"] != old.json()["resource_id"]
    versions = (await _get(running, url))["items"]
    assert [v["start_timestamp"][:10] for v in versions] == ["2024-01-01", "2025-01-01"]
    assert versions[0]["end_timestamp"].startswith("2025-01-01")

    async def cost_at(when: str) -> Any:
        response = await running.client.post(
            "/api/v1/ingest",
            json={"category": "system.openai", "resource": "gpt-4o", "units": {"text": {"input": 1000, "output": 1000}}, "event_timestamp": when},
            headers={**running.headers(), "xProxy-PriceAs-Category": "acme.negotiated"},
        )
        assert response.status_code == 200, response.text
        return response.json()["xproxy_result"]

    early, late = await cost_at("2024-06-01T00:00:00Z"), await cost_at("2025-06-01T00:00:00Z")
    assert early["cost"]["total"]["base"] == 0.003 and early["resource_id"] == old.json()["resource_id"]
    assert late["cost"]["total"]["base"] == 0.0015 and late["resource_id"] == new.json()["resource_id"]
    # custom categories are listed for the organisation
    names = {c["category"] for c in (await _get(running, "/api/v1/categories", limit=1000))["items"]}
    assert "acme.negotiated" in names
    # delete a version, then the category
    deleted = await running.client.delete(f"{url}/{new.json()['resource_id']}", headers=org)
    assert deleted.status_code == 200 and deleted.json()["active"] is False
    gone = await running.client.delete("/api/v1/categories/acme.negotiated", headers=org)
    assert [r["resource_id"] for r in gone.json()] == [old.json()["resource_id"]]
    after = await running.client.post(
        "/api/v1/ingest",
        json={"category": "acme.negotiated", "resource": "gpt-4o", "units": {"text": {"input": 1}}},
        headers=running.headers(),
    )
    assert after.status_code == 400 and after.json()["xproxy_error"]["code"] == "category_not_found"


async def test_catalog_changes_need_an_org_key_and_valid_input(running: Running) -> None:
    body = {"units": {"text": {"input_price": 0.1, "output_price": 0.2}}}
    app_key = await running.client.post("/api/v1/categories/mine/resources/m", json=body, headers=running.headers())
    assert app_key.status_code == 403
    org = running.headers(running.org_key)
    cases = [
        ("/api/v1/categories/system.openai/resources/mine", body, "invalid_category"),
        ("/api/v1/categories/mine/resources/m", {"units": {"text": {"input_price": -1}}}, "invalid_request"),
        ("/api/v1/categories/mine/resources/m", {"units": "cheap"}, "invalid_request"),
        ("/api/v1/categories/mine/resources/m", {}, "required_field_missing"),
    ]
    for url, payload, code in cases:
        response = await running.client.post(url, json=payload, headers=org)
        assert response.status_code == 400, (url, payload, response.text)
        assert response.json()["xproxy_error"]["code"] == code
    refused = await running.client.delete("/api/v1/categories/system.openai", headers=org)
    assert refused.status_code == 400
    missing = await running.client.get("/api/v1/categories/nope.nope/resources/x", headers=running.headers())
    assert missing.status_code == 404 and missing.json()["xproxy_error"]["code"] == "category_resource_not_found"


async def test_custom_categories_are_private_to_their_organisation(running: Running) -> None:
    from payi_server.store.changes import utcnow
    from payi_server.store.tables import organizations

    async with running.state.db.write() as conn:
        other_org = (
            await conn.execute(organizations.insert().values(name="other", created_at=utcnow()).returning(organizations.c.id))
        ).scalar_one()
    other_key = (await running.state.tenancy.create_org_key(other_org)).plaintext
    body = {"units": {"text": {"input_price": 0.1, "output_price": 0.2}}}
    created = await running.client.post(
        "/api/v1/categories/secret.prices/resources/m", json=body, headers={"xProxy-api-key": other_key}
    )
    assert created.status_code == 200
    names = {c["category"] for c in (await _get(running, "/api/v1/categories", limit=1000))["items"]}
    assert "secret.prices" not in names
    hidden = await running.client.get("/api/v1/categories/secret.prices/resources/m", headers=running.headers())
    assert hidden.status_code == 404
