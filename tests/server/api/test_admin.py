"""The admin API: applications, key slots, revocation, expiry, organisation keys, tenant isolation."""

from __future__ import annotations

from typing import Any

from ...conftest import Running


async def _admin(running: Running, method: str, path: str, **kw: Any) -> Any:
    response = await running.client.request(method, "/api/v1/admin" + path, headers=running.headers(running.org_key), **kw)
    return response


async def _works(running: Running, key: str) -> bool:
    await running.state.changes.poll_once()
    response = await running.client.get("/api/v1/whoami", headers={"xProxy-api-key": key})
    assert response.status_code in (200, 401)
    return response.status_code == 200


async def test_create_list_and_delete_application(running: Running) -> None:
    response = await _admin(running, "POST", "/applications", json={"name": "billing-prod", "store_prompts": True})
    assert response.status_code == 201
    body = response.json()
    app = body["application"]
    assert app["name"] == "billing-prod" and app["store_prompts"] is True
    assert [k["slot"] for k in body["keys"]] == [1, 2]
    keys = [k["key"] for k in body["keys"]]
    assert all(k.startswith("payi_app_") for k in keys)
    for key in keys:
        assert await _works(running, key)

    listed = (await _admin(running, "GET", "/applications")).json()
    assert sorted(a["name"] for a in listed["items"]) == ["billing-prod", "default"]
    assert listed["cursor"] is None

    # The same name again is a conflict, not a second application.
    again = await _admin(running, "POST", "/applications", json={"name": "billing-prod"})
    assert again.status_code == 409
    assert again.json()["xproxy_error"]["code"] == "application_already_exists"

    deleted = await _admin(running, "DELETE", f"/applications/{app['app_id']}")
    assert deleted.status_code == 200
    for key in keys:
        assert not await _works(running, key)
    missing = await _admin(running, "GET", f"/applications/{app['app_id']}")
    assert missing.status_code == 404
    assert missing.json()["xproxy_error"]["code"] == "application_not_found"
    # The name is free again once the application is deleted.
    assert (await _admin(running, "POST", "/applications", json={"name": "billing-prod"})).status_code == 201


async def test_regenerating_one_slot_leaves_the_other_working(running: Running) -> None:
    app_id = running.boot.app["app_id"]
    slot1, slot2 = (k.plaintext for k in running.boot.app_keys)
    response = await _admin(running, "POST", f"/applications/{app_id}/keys/1/regenerate")
    assert response.status_code == 200
    new1 = response.json()["key"]["key"]
    assert response.json()["key"]["slot"] == 1
    assert new1 not in (slot1, slot2)
    assert not await _works(running, slot1)
    assert await _works(running, slot2)
    assert await _works(running, new1)
    listed = (await _admin(running, "GET", f"/keys?app_id={app_id}")).json()["items"]
    assert sorted(k["slot"] for k in listed) == [1, 2]
    assert all("key" not in k and "key_hash" not in k for k in listed)


async def test_bad_admin_input_gets_clear_4xx(running: Running) -> None:
    cases = [
        ("POST", "/applications", {"json": {"name": ""}}, 400),
        ("POST", "/applications", {"json": {"name": 5}}, 400),
        ("POST", "/applications", {"json": {"nam": "x"}}, 400),
        ("POST", "/applications", {"content": b"{nope", "headers": {"content-type": "application/json"}}, 400),
        ("POST", "/applications/1/keys/3/regenerate", {}, 400),
        ("POST", "/applications/999999/keys/1/regenerate", {}, 404),
        ("GET", "/applications/not-a-number", {}, 404),
        ("GET", "/applications/99999999999999999999999", {}, 404),
        ("DELETE", "/applications/424242", {}, 404),
        ("POST", "/keys/abc/revoke", {}, 404),
        ("PUT", "/keys/1/expiry", {"json": {"expires_at": "tomorrow"}}, 400),
    ]
    for method, path, kw, status in cases:
        headers = {"xProxy-api-key": running.org_key, **kw.pop("headers", {})}
        response = await running.client.request(method, "/api/v1/admin" + path, headers=headers, **kw)
        assert response.status_code == status, (method, path, response.text)
        body = response.json()
        assert body["statusCode"] == status
        assert isinstance(body["xproxy_error"]["code"], str) and body["xproxy_error"]["message"]
    bad_json = await running.client.post(
        "/api/v1/admin/applications",
        content=b"{nope",
        headers={"xProxy-api-key": running.org_key, "content-type": "application/json"},
    )
    assert bad_json.json()["xproxy_error"]["code"] == "invalid_json"


async def test_org_keys_can_be_created_and_revoked(running: Running) -> None:
    response = await _admin(running, "POST", "/org-keys", json={"label": "ci"})
    assert response.status_code == 201
    created = response.json()["key"]
    assert created["kind"] == "organization" and created["key"].startswith("payi_org_")
    assert await _works(running, created["key"])
    revoked = await _admin(running, "POST", f"/keys/{created['key_id']}/revoke")
    assert revoked.json()["key"]["revoked_at"] is not None
    assert not await _works(running, created["key"])


async def test_one_organization_cannot_touch_another(running: Running) -> None:
    tenancy = running.state.tenancy
    from payi_server.auth.cache import utcnow
    from payi_server.store.tables import organizations

    async with running.state.db.write() as conn:
        other_org = (
            await conn.execute(organizations.insert().values(name="other", created_at=utcnow()).returning(organizations.c.id))
        ).scalar_one()
    other_key = (await tenancy.create_org_key(other_org)).plaintext
    other_app, other_app_keys = await tenancy.create_application(other_org, "theirs")
    headers = {"xProxy-api-key": other_key}

    listed = (await running.client.get("/api/v1/admin/applications", headers=headers)).json()["items"]
    assert [a["name"] for a in listed] == ["theirs"]
    mine = running.boot.app["app_id"]
    for method, path in [
        ("GET", f"/api/v1/admin/applications/{mine}"),
        ("DELETE", f"/api/v1/admin/applications/{mine}"),
        ("POST", f"/api/v1/admin/applications/{mine}/keys/1/regenerate"),
        ("POST", f"/api/v1/admin/keys/{running.boot.app_keys[0].row['id']}/revoke"),
    ]:
        response = await running.client.request(method, path, headers=headers)
        assert response.status_code == 404, (method, path)
    keys = (await running.client.get("/api/v1/admin/keys", headers=headers)).json()["items"]
    assert {k["app_id"] for k in keys} == {None, other_app["app_id"]}
    assert await _works(running, running.app_key)
    assert await _works(running, other_app_keys[0].plaintext)
