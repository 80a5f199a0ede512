"""Every dashboard route declares a session role; none opens without a session, a key never opens one, and a
viewer reaches no admin route, whatever the method."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, FastAPI

from payi_server.auth.dependency import PUBLIC_PATHS, SessionAccess, check_route_table, route_table
from payi_server.web.session import Viewer

from ...conftest import Running
from .conftest import Login
from .helpers import page_token


def _session_routes(running: Running) -> list[tuple[str, str, SessionAccess]]:
    out = []
    for path, methods, access in route_table(running.app.router.routes):
        if isinstance(access, SessionAccess):
            out.extend((path, m, access) for m in sorted(methods - {"HEAD"}))
    return out


def _sample(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def test_the_dashboard_declares_its_routes(running: Running) -> None:
    routes = _session_routes(running)
    paths = {p for p, _m, _a in routes}
    assert {"/", "/breakdown/{dimension}", "/limits", "/requests", "/applications", "/use-cases"} <= paths
    admin = {(p, m) for p, m, a in routes if a.role == "admin"}
    assert all(m == "POST" for _p, m in admin)
    assert {("/applications", "POST"), ("/limits/reset", "POST"), ("/keys/{key_id}/revoke", "POST")} <= admin
    # every POST of the dashboard is an admin action (viewers change nothing)
    assert {(p, m) for p, m, _a in routes if m == "POST"} == admin
    assert {"/login", "/logout", "/static"} <= PUBLIC_PATHS


async def test_no_session_no_page_and_keys_do_not_count(running: Running) -> None:
    for path, method, _access in _session_routes(running):
        for headers in ({}, running.headers(running.org_key), running.headers()):
            response = await running.client.request(method, _sample(path), headers=headers)
            if method == "GET":
                assert response.status_code == 303, (path, response.status_code)
                assert response.headers["location"].startswith("/login?next=")
            else:
                assert response.status_code == 401, (path, response.status_code)


async def test_a_viewer_is_refused_every_admin_route(running: Running, login: Login) -> None:
    viewer = await login("viewer@example.com", role="viewer")
    token = await page_token(viewer)
    for path, method, access in _session_routes(running):
        if access.role != "admin":
            continue
        response = await viewer.request(method, _sample(path), data={"csrf_token": token})
        assert response.status_code == 403, path


def test_a_dashboard_route_under_the_api_is_refused() -> None:
    app = FastAPI()
    router = APIRouter()

    @router.get("/api/v1/page")
    async def page(user: Viewer) -> dict[str, str]:
        return {}

    app.include_router(router)
    with pytest.raises(RuntimeError, match="/api/v1/page"):
        check_route_table(app.router.routes)
