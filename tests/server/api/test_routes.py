"""Every route declares which kinds of key may call it; none is open by accident."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, FastAPI

from payi_server.auth.dependency import PUBLIC_PATHS, Access, SessionAccess, check_route_table, route_table
from payi_server.auth.keys import KeyKind

from ...conftest import Running


def _routes(running: Running) -> list[tuple[str, frozenset[str], Access | None]]:
    return route_table(running.app.router.routes)


def _sample_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def test_every_route_declares_its_key_kinds(running: Running) -> None:
    routes = _routes(running)
    assert len(routes) > 5
    for path, _methods, access in routes:
        if path in PUBLIC_PATHS:
            assert access is None, f"{path} is public but asks for a key"
            continue
        assert access, f"{path} has no declared key kinds: it would be open to anyone"
        if isinstance(access, SessionAccess):
            # dashboard pages (tests/server/web/test_route_table.py checks their sessions and roles)
            assert not path.startswith("/api/"), path
            continue
        assert path.startswith("/api/v1/"), path


async def test_every_protected_route_refuses_missing_and_wrong_keys(running: Running) -> None:
    for path, methods, access in _routes(running):
        if access is None or isinstance(access, SessionAccess):
            continue
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            url = _sample_path(path)
            response = await running.client.request(method, url)
            assert response.status_code == 401, (method, url, response.status_code)
            assert response.json()["xproxy_error"]["code"] == "invalid_api_key"
            wrong = [k for k in KeyKind if k not in access]
            for kind in wrong:
                key = running.org_key if kind is KeyKind.ORGANIZATION else running.app_key
                response = await running.client.request(method, url, headers={"xProxy-api-key": key})
                assert response.status_code == 403, (method, url, kind, response.status_code)


async def test_public_routes_answer_without_key(running: Running) -> None:
    assert (await running.client.get("/healthz")).json() == {"status": "ok"}
    ready = (await running.client.get("/readyz")).json()
    assert ready["status"] == "ready"
    spec = (await running.client.get("/openapi.json")).json()
    assert "/api/v1/admin/applications" in spec["paths"]
    assert spec["components"]["securitySchemes"]["PayiApiKey"]["name"] == "xProxy-api-key"


async def test_whoami_reports_the_calling_key(running: Running) -> None:
    body = (await running.client.get("/api/v1/whoami", headers=running.headers())).json()
    assert body["kind"] == "application"
    assert body["app_name"] == "default"
    body = (await running.client.get("/api/v1/whoami", headers=running.headers(running.org_key))).json()
    assert body["kind"] == "organization"
    assert body["app_id"] is None


def test_an_undeclared_route_stops_the_app_from_being_built() -> None:
    app = FastAPI()
    router = APIRouter(prefix="/api/v1")

    @router.get("/forgotten")
    async def forgotten() -> dict[str, str]:
        return {}

    app.include_router(router)
    with pytest.raises(RuntimeError, match="/api/v1/forgotten"):
        check_route_table(app.router.routes)
