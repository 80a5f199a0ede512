"""Dashboard sign-in, sessions, CSRF and roles, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import httpx2
from sqlalchemy import select, update

from payi_server.store.changes import utcnow
from payi_server.store.tables import dashboard_sessions, dashboard_users, requests
from payi_server.web.accounts import token_hash

from ...conftest import Running
from ..reports.data import event, ingest, other_organization, price
from .conftest import Login
from .helpers import PASSWORD, hidden, make_user, page_token, sign_in


async def test_pages_ask_for_a_session(running: Running) -> None:
    response = await running.client.get("/?range=30d")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2F%3Frange%3D30d"
    # an API key is not a dashboard session
    response = await running.client.get("/", headers=running.headers(running.org_key))
    assert response.status_code == 303
    login = await running.client.get("/login")
    assert login.status_code == 200 and "Sign in" in login.text
    assert "frame-ancestors 'none'" in login.headers["content-security-policy"]


async def test_sign_in_sets_a_secure_session_cookie_and_sign_out_ends_it(running: Running, browser: httpx2.AsyncClient) -> None:
    await make_user(running, "Ops@Example.com")
    client = browser
    response = await sign_in(client, "ops@example.com")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("payi_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    token = cookie.split(";")[0].split("=", 1)[1]
    async with running.state.db.read() as conn:
        stored = (await conn.execute(select(dashboard_sessions.c.token_hash))).scalars().all()
    assert stored == [token_hash(token)] and token not in stored
    overview = await client.get("/")
    assert overview.status_code == 200 and "ops@example.com" in overview.text
    await client.post("/logout", data={"csrf_token": hidden(overview.text)})
    assert (await client.get("/")).status_code == 303
    # the old cookie, replayed, opens nothing
    client.cookies.set("payi_session", token)
    assert (await client.get("/")).status_code == 303


async def test_cookie_is_secure_over_https(running: Running, browser: httpx2.AsyncClient) -> None:
    await make_user(running, "tls@example.com")
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=running.app), base_url="https://payi.test") as client:
        response = await sign_in(client, "tls@example.com")
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("payi_session="))
        assert "Secure" in cookie


async def test_wrong_password_unknown_email_and_disabled_users(running: Running, browser: httpx2.AsyncClient) -> None:
    await make_user(running, "ann@example.com")
    client = browser
    for email, password in (("ann@example.com", "wrong password!"), ("nobody@example.com", PASSWORD)):
        response = await sign_in(client, email, password)
        assert response.status_code == 401
        assert "Wrong email or password" in response.text
        assert "payi_session" not in response.headers.get("set-cookie", "")
    async with running.state.db.write() as conn:
        await conn.execute(update(dashboard_users).values(disabled_at=utcnow()))
    assert (await sign_in(client, "ann@example.com")).status_code == 401


async def test_sign_in_form_needs_its_csrf_token(running: Running, browser: httpx2.AsyncClient) -> None:
    await make_user(running, "ann@example.com")
    client = browser
    await client.get("/login")
    response = await client.post("/login", data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 403
    assert "payi_session" not in response.headers.get("set-cookie", "")


async def test_an_expired_session_signs_out(running: Running, login: Login) -> None:
    client = await login("ann@example.com")
    assert (await client.get("/")).status_code == 200
    async with running.state.db.write() as conn:
        await conn.execute(update(dashboard_sessions).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = await client.get("/limits")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_forms_without_the_sessions_csrf_token_are_refused(running: Running, login: Login) -> None:
    client = await login("admin@example.com")
    token = await page_token(client)
    for data in ({}, {"csrf_token": "x" * len(token)}, {"csrf_token": ""}):
        response = await client.post("/applications", data={"name": "sneaky", **data})
        assert response.status_code == 403, data
        assert "This form has expired" in response.text
    assert "sneaky" not in (await client.get("/applications")).text
    # another session's token is not this session's
    other = await login("other@example.com")
    other_token = await page_token(other)
    response = await client.post("/applications", data={"name": "sneaky", "csrf_token": other_token})
    assert response.status_code == 403
    ok = await client.post("/applications", data={"name": "legit", "csrf_token": token}, follow_redirects=True)
    assert ok.status_code == 200 and "legit" in ok.text


async def test_viewers_reach_no_admin_action(running: Running, login: Login) -> None:
    viewer = await login("viewer@example.com", role="viewer")
    page = await viewer.get("/applications")
    assert page.status_code == 200
    assert "Regenerate" not in page.text and "New application" not in page.text
    token = hidden(page.text)
    app_id = running.boot.app["app_id"]
    key_id = running.boot.app_keys[0].row["id"]
    for path, data in (
        ("/applications", {"name": "by-viewer"}),
        (f"/applications/{app_id}/keys/1/regenerate", {}),
        (f"/keys/{key_id}/revoke", {}),
        ("/limits/reset", {"app_id": str(app_id), "limit_id": "x"}),
    ):
        response = await viewer.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 403, path
        assert "Admins only" in response.text
    # nothing changed: the key still works
    response = await running.client.get("/api/v1/whoami", headers=running.headers())
    assert response.status_code == 200
    assert [a["name"] for a in await running.state.tenancy.list_applications(running.boot.org_id)] == ["default"]


async def test_users_of_another_organisation_see_none_of_our_data(running: Running, login: Login) -> None:
    await price(running)
    await ingest(running, [event(utcnow().isoformat(), 1000, user_id="our-user", use_case_name="our-case")])
    other_org, _org_key, _app, _app_key = await other_organization(running)
    client = await login("them@example.com", org_id=other_org)
    for path in ("/", "/?range=365d", "/breakdown/user?range=365d", "/requests?range=365d", "/applications",
                 "/use-cases", "/limits", "/export/requests.csv?range=365d", "/export/report.csv?range=365d&group=user"):
        response = await client.get(path)
        assert response.status_code == 200, path
        for secret in ("our-user", "our-case", running.boot.app_keys[0].row["lookup_id"], "default"):
            assert secret not in response.text, (path, secret)
    ours = await client.get(f"/?app={running.boot.app['app_id']}")
    assert ours.status_code == 404
    async with running.state.db.read() as conn:
        request_id = (await conn.execute(select(requests.c.id))).scalar_one()
    assert (await client.get(f"/requests/{request_id}")).status_code == 404
