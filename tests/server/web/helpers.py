"""Signing dashboard users in through the real sign-in form (its CSRF cookie and token included)."""

from __future__ import annotations

import re

import httpx2

from payi_server.web.accounts import Accounts

from ...conftest import Running

PASSWORD = "correct horse battery"


def hidden(html: str, name: str = "csrf_token") -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name} in the page"
    return found.group(1)


async def make_user(running: Running, email: str, role: str = "admin", org_id: int | None = None) -> None:
    await Accounts(running.state.db).create_user(org_id or running.boot.org_id, email, PASSWORD, role)


async def sign_in(client: httpx2.AsyncClient, email: str, password: str = PASSWORD) -> httpx2.Response:
    form = await client.get("/login")
    assert form.status_code == 200
    return await client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": hidden(form.text), "next": "/"},
    )


async def new_client(running: Running) -> httpx2.AsyncClient:
    """A second browser: its own cookie jar, the same in-process app."""
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=running.app), base_url="http://payi.test")


async def signed_in(running: Running, email: str, role: str = "admin", org_id: int | None = None) -> httpx2.AsyncClient:
    await make_user(running, email, role, org_id)
    client = await new_client(running)
    response = await sign_in(client, email)
    assert response.status_code == 303, response.text
    return client


async def page_token(client: httpx2.AsyncClient, path: str = "/applications") -> str:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return hidden(response.text)
