"""Admin changes from the dashboard, on SQLite and PostgreSQL: POST-redirect-GET with one-time messages (a new key
shown once, sealed server-side until then), limits created, edited, reset and deleted, users and roles."""

from __future__ import annotations

import re

from sqlalchemy import select

from payi_server.store.tables import dashboard_flashes
from payi_server.web.flash import seal, unseal

from ...conftest import Running
from .conftest import Login
from ..reports.data import other_organization
from .helpers import hidden, new_client

NEW_KEY = re.compile(r'<code class="key" data-new-key>([^<]+)</code>')


def test_a_sealed_message_opens_only_with_its_session_token() -> None:
    sealed = seal("token-a", {"new_keys": [{"key": "payi_app_secret"}]})
    assert "payi_app_secret" not in sealed
    assert unseal("token-a", sealed) == {"new_keys": [{"key": "payi_app_secret"}]}
    assert unseal("token-b", sealed) is None
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    assert unseal("token-a", tampered) is None
    assert unseal("token-a", "not base64!") is None
    assert seal("token-a", {"x": 1}) != seal("token-a", {"x": 1})  # a fresh nonce each time


async def test_a_regenerated_key_is_shown_once_and_a_reload_regenerates_nothing(running: Running, login: Login) -> None:
    admin = await login("admin@example.com")
    page = await admin.get("/applications")
    app_id = running.boot.app["app_id"]
    response = await admin.post(f"/applications/{app_id}/keys/1/regenerate", data={"csrf_token": hidden(page.text)})
    assert response.status_code == 303 and response.headers["location"] == "/applications"
    async with running.state.db.read() as conn:
        stored = (await conn.execute(select(dashboard_flashes.c.sealed))).scalars().all()
    assert len(stored) == 1 and "payi_app_" not in stored[0]  # sealed: the table holds no key
    # another session of the same user does not get the message
    other = await login("admin2@example.com")
    assert not NEW_KEY.search((await other.get("/applications")).text)
    shown = await admin.get("/applications")
    keys = NEW_KEY.findall(shown.text)
    assert len(keys) == 1 and "has a new key" in shown.text
    again = await admin.get("/applications")  # the reload: a GET, nothing regenerated, nothing shown
    assert not NEW_KEY.search(again.text) and "has a new key" not in again.text
    assert (await running.client.get("/api/v1/whoami", headers=running.headers(keys[0]))).status_code == 200
    async with running.state.db.read() as conn:
        assert (await conn.execute(select(dashboard_flashes.c.id))).first() is None


async def _token(client: object, path: str = "/limits") -> str:
    response = await client.get(path)  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    return hidden(response.text)


async def test_admins_create_edit_reset_and_delete_limits(running: Running, login: Login) -> None:
    admin = await login("admin@example.com")
    empty = await admin.get("/limits")
    assert "No limits yet. Create the first one with the form below." in empty.text and "/api/v1" not in empty.text
    token = hidden(empty.text)
    app_id = str(running.boot.app["app_id"])
    form = {"csrf_token": token, "app_id": app_id, "limit_name": "team budget", "max": "40", "limit_type": "block",
            "threshold": "80", "period": "month", "timezone": "Europe/Paris", "strict": "on"}
    created = await admin.post("/limits", data=form)
    assert created.status_code == 303
    link = created.headers["location"]
    assert link.startswith(f"/limits/{app_id}/")
    limit_id = link.rsplit("/", 1)[1]
    # the service made it, with its rules: read it back through the API
    api = (await running.client.get(f"/api/v1/limits/{limit_id}", headers=running.headers())).json()["limit"]
    assert (api["limit_type"], api["max"], api["threshold"], api["enforcement"], api["period"], api["timezone"]) == (
        "block", 40.0, 0.8, "strict", "month", "Europe/Paris")
    page = await admin.get(link)
    assert "Limit &#39;team budget&#39; created." in page.text
    assert "each month at midnight in Europe/Paris" in page.text and "80% ($32.00)" in page.text
    listing = await admin.get("/limits")
    assert ">80%<" in listing.text and "each month" in listing.text

    # refused by the service: back to the form with its message and what was typed
    bad = await admin.post("/limits", data={**form, "limit_name": "other", "threshold": "50"}, follow_redirects=True)
    assert "between 0.75 and 0.99" in bad.text and 'value="other"' in bad.text
    duplicate = await admin.post("/limits", data={**form, "max": "41"}, follow_redirects=True)
    assert "already exists" in duplicate.text

    saved = await admin.post(link, data={"csrf_token": token, "limit_name": "team cap", "max": "50"})
    assert saved.status_code == 303
    api = (await running.client.get(f"/api/v1/limits/{limit_id}", headers=running.headers())).json()["limit"]
    assert (api["limit_name"], api["max"], api["enforcement"]) == ("team cap", 50.0, "default")

    reset = await admin.post("/limits/reset", data={"csrf_token": token, "app_id": app_id, "limit_id": limit_id,
                                                    "back": link})
    assert reset.headers["location"] == link
    assert "History" in (await admin.get(link)).text

    deleted = await admin.post(f"{link}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303 and deleted.headers["location"] == "/limits"
    assert "deleted" in (await admin.get("/limits")).text
    assert (await running.client.get(f"/api/v1/limits/{limit_id}", headers=running.headers())).status_code == 404
    assert (await admin.get(link)).status_code == 404
    for path in (f"/limits/999/{limit_id}", f"/limits/{app_id}/no-such", f"/limits/{app_id}/bad%20id", "/limits/x/y"):
        assert (await admin.get(path)).status_code == 404, path


async def test_a_limit_of_another_organisation_is_not_found(running: Running, login: Login) -> None:
    response = await running.client.post("/api/v1/limits", json={"limit_name": "theirs", "max": 5}, headers=running.headers())
    limit_id = response.json()["limit"]["limit_id"]
    other_org, _org_key, _app, _app_key = await other_organization(running)
    stranger = await login("stranger@example.com", org_id=other_org)
    app_id = running.boot.app["app_id"]
    token = await _token(stranger)
    assert (await stranger.get(f"/limits/{app_id}/{limit_id}")).status_code == 404
    deleted = await stranger.post(f"/limits/{app_id}/{limit_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 404
    assert (await running.client.get(f"/api/v1/limits/{limit_id}", headers=running.headers())).status_code == 200


async def test_viewers_see_limits_and_users_and_change_nothing(running: Running, login: Login) -> None:
    response = await running.client.post("/api/v1/limits", json={"limit_name": "cap", "max": 5}, headers=running.headers())
    limit_id = response.json()["limit"]["limit_id"]
    viewer = await login("viewer@example.com", role="viewer")
    app_id = running.boot.app["app_id"]
    for path in ("/limits", f"/limits/{app_id}/{limit_id}", "/users"):
        page = await viewer.get(path)
        assert page.status_code == 200, path
        assert 'method="post" action="/limits' not in page.text and 'action="/users' not in page.text, path
    token = await _token(viewer)
    for path in ("/limits", f"/limits/{app_id}/{limit_id}", f"/limits/{app_id}/{limit_id}/delete", "/users",
                 "/users/1/role", "/users/1/delete", "/users/1/password"):
        assert (await viewer.post(path, data={"csrf_token": token, "app_id": app_id, "limit_name": "x", "max": "1",
                                              "email": "x@example.com", "role": "admin"})).status_code == 403, path
    assert (await running.client.get(f"/api/v1/limits/{limit_id}", headers=running.headers())).status_code == 200


async def test_admins_manage_users_and_roles(running: Running, login: Login) -> None:
    admin = await login("admin@example.com")
    token = await _token(admin, "/users")
    created = await admin.post("/users", data={"csrf_token": token, "email": "Ops@Example.com", "role": "viewer"},
                               follow_redirects=True)
    password = re.search(r"<code class=\"key\" data-new-password>([^<]+)</code>", created.text).group(1)
    assert "ops@example.com" in created.text
    assert "data-new-password" not in (await admin.get("/users")).text  # shown once
    ops = await new_client(running)
    signed = await ops.post("/login", data={"email": "ops@example.com", "password": password,
                                            "csrf_token": hidden((await ops.get("/login")).text), "next": "/"})
    assert signed.status_code == 303
    assert "viewer" in (await ops.get("/")).text
    ids = dict(re.findall(r'<tr data-user="([^"]+)">.*?action="/users/(\d+)/role"', created.text, re.S))
    ops_id = ids["ops@example.com"]
    promoted = await admin.post(f"/users/{ops_id}/role", data={"csrf_token": token, "role": "admin"})
    assert promoted.status_code == 303
    assert 'class="role role-admin">admin<' in (await ops.get("/")).text  # the next page of their session
    again = await admin.post(f"/users/{ops_id}/password", data={"csrf_token": token}, follow_redirects=True)
    assert "data-new-password" in again.text
    assert (await ops.get("/")).status_code == 303  # their session ended with the new password
    # the organisation keeps an admin
    admin_id = ids["admin@example.com"]
    await admin.post(f"/users/{ops_id}/role", data={"csrf_token": token, "role": "viewer"})
    last = await admin.post(f"/users/{admin_id}/role", data={"csrf_token": token, "role": "viewer"}, follow_redirects=True)
    assert "last admin" in last.text
    refused = await admin.post(f"/users/{admin_id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "last admin" in refused.text
    bad = await admin.post("/users", data={"csrf_token": token, "email": "not an email", "role": "viewer"},
                           follow_redirects=True)
    assert "Give an email address" in bad.text
    removed = await admin.post(f"/users/{ops_id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "ops@example.com was removed" in removed.text
    assert (await admin.post("/users/999999/delete", data={"csrf_token": token})).status_code == 404
    await ops.aclose()


async def test_alerts_page_viewers_see_admins_change(running: Running, login: Login) -> None:
    admin = await login("admin@example.com")
    token = await _token(admin, "/alerts")
    bad = await admin.post("/alerts", data={"csrf_token": token, "name": "x", "url": "ftp://example.com", "format": "json"},
                           follow_redirects=True)
    assert "http:// or https://" in bad.text
    created = await admin.post("/alerts", data={"csrf_token": token, "name": "ops", "url": "http://127.0.0.1:9/x?token=T0KEN",
                                                "format": "json"}, follow_redirects=True)
    assert "data-new-secret" in created.text and "T0KEN" not in created.text
    assert "data-new-secret" not in (await admin.get("/alerts")).text
    endpoint_id = re.search(r'action="/alerts/(\d+)/test"', created.text).group(1)
    viewer = await login("viewer@example.com", role="viewer")
    page = await viewer.get("/alerts")
    assert page.status_code == 200 and "ops" in page.text and 'action="/alerts' not in page.text
    vtoken = hidden(page.text)
    for path in ("/alerts", f"/alerts/{endpoint_id}/test", f"/alerts/{endpoint_id}/delete"):
        assert (await viewer.post(path, data={"csrf_token": vtoken})).status_code == 403, path
    tested = await admin.post(f"/alerts/{endpoint_id}/test", data={"csrf_token": token}, follow_redirects=True)
    assert "The test alert failed" in tested.text and 'data-status="pending"' in tested.text  # nothing listens on :9
    removed = await admin.post(f"/alerts/{endpoint_id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "removed" in removed.text and 'data-status="failed"' in removed.text
    assert (await admin.post("/alerts/999/delete", data={"csrf_token": token})).status_code == 404


async def test_admins_set_and_remove_a_use_cases_limit_per_instance(running: Running, login: Login) -> None:
    headers = running.headers()
    response = await running.client.post("/api/v1/use_cases/definitions", json={"name": "support", "description": ""},
                                          headers=headers)
    assert response.status_code in (200, 201), response.text
    admin = await login("admin@example.com")
    page = await admin.get("/use-cases")
    assert "no limit per instance" in page.text
    app_id = running.boot.app["app_id"]
    token = hidden(page.text)
    form = {"csrf_token": token, "max": "2.5", "limit_type": "block", "threshold": "80", "period": "day",
            "timezone": "Europe/Paris", "strict": "on"}
    saved = await admin.post(f"/use-cases/{app_id}/support/limit", data=form, follow_redirects=True)
    assert "New instances of &#39;support&#39; get a limit of $2.50." in saved.text
    assert "each instance: a block limit of $2.50, threshold 80%, resets each day (Europe/Paris), strict" in saved.text
    created = await running.client.post("/api/v1/use_cases/instances/support", headers=headers)
    assert created.status_code == 201, created.text
    limit = (await running.client.get("/api/v1/limits", headers=headers)).json()["items"][0]
    assert (limit["max"], limit["limit_type"], limit["threshold"], limit["period"]) == (2.5, "block", 0.8, "day")
    bad = await admin.post(f"/use-cases/{app_id}/support/limit", data={**form, "max": "-1"}, follow_redirects=True)
    assert "greater than 0" in bad.text
    assert (await admin.post(f"/use-cases/{app_id}/nothing/limit", data=form)).status_code == 404
    removed = await admin.post(f"/use-cases/{app_id}/support/limit/delete", data={"csrf_token": token},
                               follow_redirects=True)
    assert "get no limit" in removed.text and "no limit per instance" in removed.text
    viewer = await login("viewer@example.com", role="viewer")
    assert "instance-limit-form" not in (await viewer.get("/use-cases")).text
    assert (await viewer.post(f"/use-cases/{app_id}/support/limit", data={**form, "csrf_token": hidden(
        (await viewer.get("/use-cases")).text)})).status_code == 403


async def test_hostile_forms_never_get_a_5xx(running: Running, login: Login) -> None:
    admin = await login("admin@example.com")
    token = await _token(admin, "/limits")
    app_id = str(running.boot.app["app_id"])
    junk = ["", "x" * 5000, "NaN", "sNaN", "-Infinity", "1e999999", "\x00", "１２", "<script>", "../../etc", "%2F", "-1"]
    paths = ["/limits", f"/limits/{app_id}/x", f"/limits/{app_id}/x/delete", "/users", "/users/1/role",
             "/users/1/password", "/users/1/delete", "/alerts", "/alerts/1/test", "/alerts/1/delete",
             f"/use-cases/{app_id}/x/limit", f"/use-cases/{app_id}/x/limit/delete", "/limits/reset"]
    fields = ["app_id", "limit_name", "max", "limit_type", "threshold", "period", "timezone", "strict", "email", "role",
              "password", "name", "url", "format", "limit_id", "back"]
    for path in paths:
        for value in junk:
            response = await admin.post(path, data={"csrf_token": token, **dict.fromkeys(fields, value)})
            assert response.status_code < 500, (path, value, response.status_code)
    for form in ({"name": "a\x00b", "url": "http://example.com/", "format": "json"},
                 {"email": "a\x00@example.com", "role": "viewer", "password": ""}):
        for path in ("/alerts", "/users"):
            response = await admin.post(path, data={"csrf_token": token, **form}, follow_redirects=True)
            assert response.status_code == 200 and 'id="form-error"' in response.text, (path, form)
    for value in (v for v in junk[1:] if v != "\x00"):  # a NUL cannot even be sent in a URL
        for path in (f"/limits/{value}/{value}", f"/limits/{app_id}/{value}"):
            assert (await admin.get(path)).status_code < 500, path
