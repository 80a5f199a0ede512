"""Admin changes from the dashboard, on SQLite and PostgreSQL: POST-redirect-GET with one-time messages (a new key
shown once, sealed server-side until then), limits created, edited, reset and deleted, users and roles."""

from __future__ import annotations

import re

from sqlalchemy import select

from payi_server.store.tables import dashboard_flashes
from payi_server.web.flash import seal, unseal

from ...conftest import Running
from .conftest import Login
from .helpers import hidden

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
