"""One tenant's key against another tenant's objects, on every route of the route table.

Application A (organisation A) owns a limit, a use case (definition, KPI, limit config, instance with properties
and a score), recorded requests, and organisation A a custom priced category and A's keys. Then every key route
is called with application B's key (same organisation), application C's key and organisation B's key (another
organisation), each path parameter filled with A's id: the answer must be 400/403/404 (or, for a route that
creates an object by name, the caller's own object), must name nothing of A's, and afterwards A's objects read
back exactly as before. The walk is built from the route table, so a new route is walked without anyone
listing it; `test_the_walk_covers_every_route` fails when a route has a path parameter the walk cannot fill.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from payi_server.auth.dependency import PUBLIC_PATHS, AppKey, SessionAccess, route_table
from payi_server.auth.keys import KeyKind
from payi_server.store.tables import limits, use_case_instances

from ..conftest import Running
from .conftest import Tenants, add_tenants, assert_payi_error, row_counts

# Unique markers in A's objects: none of them may appear in an answer to another tenant.
USER_A = "user-a-7f3c91"
ACCOUNT_A = "account-a-7f3c91"
RESPONSE_A = "resp-a-7f3c91"
LIMIT_A = "limit-a-7f3c91"
USE_CASE_A = "uc.a7f3c91"
KPI_A = "kpi-a7f3c91"
CATEGORY_A = "acme-a7f3c91"
RESOURCE_A = "model-a7f3c91"
PROPERTY_A = "prop-a-7f3c91"
DEPLOYMENT_A = "deploy-a7f3c91"

# Path parameter -> where its value comes from (A's objects). A route with any other parameter fails the
# coverage test until it is added here.
PARAMETERS = {
    "app_id": "app_id",
    "slot": "slot",
    "key_id": "key_id",
    "limit_id": "limit_id",
    "use_case_name": "use_case_name",
    "use_case_id": "use_case_id",
    "kpi_name": "kpi_name",
    "request_id": "request_id",
    "provider_response_id": "provider_response_id",
    "category": "category",
    "resource": "resource",
    "resource_id": "resource_id",
    "tail": "resource",
    "provider": "provider",
    "rest": "rest",
    "deployment": "deployment",
}
# Routes that create an object by name in the caller's own namespace: another tenant may succeed there (it makes
# its own object of that name), as long as A's object is untouched (checked by the snapshot).
OWN_NAMESPACE = {
    ("POST", "/api/v1/categories/{category}/resources/{resource}"),
    ("POST", "/api/v1/categories/{category}/resources/{tail:path}"),
}
# The price catalog is organisation-wide (any key of the organisation reads it): application B, in A's
# organisation, may read organisation A's custom category; keys of another organisation may not.
ORG_WIDE_READS = {"/api/v1/categories/"}
# Routes walked without A's ids (no path parameter): they may answer 2xx, with the caller's own data only.
# Routes not walked here, and why (anything else in the route table is walked):
NOT_WALKED = {
    **{path: "public (no key)" for path in PUBLIC_PATHS},
    "/login": "dashboard sign-in (no key; tests/server/web)",
    "/logout": "dashboard sign-out (no key; tests/server/web)",
    "/static": "dashboard assets",
}


@dataclass
class World:
    running: Running
    tenants: Tenants
    ids: dict[str, str]

    async def call(self, method: str, url: str, key: str, **kw: Any) -> Any:
        headers = {"xProxy-api-key": key, **kw.pop("headers", {})}
        return await self.running.client.request(method, url, headers=headers, **kw)


async def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


@pytest.fixture
async def world(running: Running) -> AsyncIterator[World]:
    state = running.state
    tenants = await add_tenants(
        state.tenancy, state.db, running.boot.org_id, running.org_key, str(running.boot.app["app_id"]), running.app_key
    )
    w = World(running, tenants, {})
    a, org = tenants.app_a_key, tenants.org_a_key
    await _ok(await w.call("PATCH", f"/api/v1/admin/applications/{tenants.app_a}", org, json={"store_prompts": True}))
    await state.changes.poll_once()
    limit = await _ok(await w.call("POST", "/api/v1/limits", a, json={
        "limit_name": LIMIT_A, "max": 100, "limit_type": "block", "properties": {PROPERTY_A: "x"}}), 201)
    limit_id = limit["limit"]["limit_id"]
    await _ok(await w.call("POST", "/api/v1/use_cases/definitions", a, json={
        "name": USE_CASE_A, "description": "A's", "limit_config": {"max": 5}}), 201)
    await _ok(await w.call("POST", f"/api/v1/use_cases/definitions/{USE_CASE_A}/kpis", a, json={
        "name": KPI_A, "description": "d", "goal": 1, "kpi_type": "number"}), 201)
    instance = await _ok(await w.call("POST", f"/api/v1/use_cases/instances/{USE_CASE_A}", a), 201)
    use_case_id = instance["use_case_id"]
    await _ok(await w.call("PUT", f"/api/v1/use_cases/instances/{USE_CASE_A}/{use_case_id}/properties", a,
                           json={"properties": {PROPERTY_A: "y"}}))
    await _ok(await w.call("PUT", f"/api/v1/use_cases/instances/{USE_CASE_A}/{use_case_id}/kpis/{KPI_A}", a,
                           json={"score": 0.5}))
    priced = await _ok(await w.call("POST", f"/api/v1/categories/{CATEGORY_A}/resources/{RESOURCE_A}", org,
                                    json={"units": {"text": {"input_price": 0.001, "output_price": 0.002}}}))
    await state.changes.poll_once()
    event = {"category": CATEGORY_A, "resource": RESOURCE_A, "units": {"text": {"input": 100, "output": 10}},
             "provider_response_id": RESPONSE_A, "provider_request_json": '{"prompt": "A\'s secret"}',
             "properties": {PROPERTY_A: "z"}}
    recorded = await _ok(await w.call("POST", "/api/v1/ingest", a, json=event, headers={
        "xProxy-Limit-IDs": limit_id, "xProxy-UseCase-Name": USE_CASE_A, "xProxy-UseCase-ID": use_case_id,
        "xProxy-User-ID": USER_A, "xProxy-Account-Name": ACCOUNT_A}))
    await _ok(await w.call("PUT", f"/api/v1/admin/applications/{tenants.app_a}/deployments/{DEPLOYMENT_A}", org,
                           json={"model": "gpt-4o"}))
    keys = await _ok(await w.call("GET", f"/api/v1/admin/keys?app_id={tenants.app_a}", org))
    w.ids = {
        "app_id": tenants.app_a,
        "slot": "1",
        "key_id": keys["items"][0]["key_id"],
        "limit_id": limit_id,
        "use_case_name": USE_CASE_A,
        "use_case_id": use_case_id,
        "kpi_name": KPI_A,
        "request_id": recorded["request_id"],
        "provider_response_id": RESPONSE_A,
        "category": CATEGORY_A,
        "resource": RESOURCE_A,
        "resource_id": priced["resource_id"],
        "provider": "openai",
        "rest": "v1/chat/completions",
        "key_prefix": keys["items"][0]["prefix"],
        "deployment": DEPLOYMENT_A,
    }
    yield w


def _fill(path: str, ids: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PARAMETERS:
            raise LookupError(f"the isolation walk has no value for path parameter {name!r} ({path})")
        filled = ids[PARAMETERS[name]]
        if name == "category" and path.startswith("/api/v1/requests/"):
            filled = ids["category"]
        return filled

    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", value, path)


def _walk(app: Any) -> list[tuple[str, str, frozenset[KeyKind]]]:
    """(method, path template, admitted kinds) of every key route, from the route table."""
    out = []
    for path, methods, access in route_table(app.router.routes):
        if path in NOT_WALKED:
            continue
        if isinstance(access, SessionAccess):
            continue  # dashboard pages: a signed-in user's session, not a key (see the module docstring)
        assert isinstance(access, frozenset) and access, f"{path} takes no key and is not listed in NOT_WALKED"
        out.extend((method, path, access) for method in sorted(set(methods) - {"HEAD", "OPTIONS"}))
    return out


async def _snapshot(w: World) -> dict[str, Any]:
    """A's objects as A sees them (volatile fields dropped)."""
    a, org, ids = w.tenants.app_a_key, w.tenants.org_a_key, w.ids
    reads = {
        "limit": ("GET", f"/api/v1/limits/{ids['limit_id']}", a),
        "limit_history": ("GET", f"/api/v1/limits/{ids['limit_id']}/history", a),
        "definition": ("GET", f"/api/v1/use_cases/definitions/{USE_CASE_A}", a),
        "kpi": ("GET", f"/api/v1/use_cases/definitions/{USE_CASE_A}/kpis/{KPI_A}", a),
        "instance": ("GET", f"/api/v1/use_cases/instances/{USE_CASE_A}/{ids['use_case_id']}", a),
        "scores": ("GET", f"/api/v1/use_cases/instances/{USE_CASE_A}/{ids['use_case_id']}/kpis", a),
        "request": ("GET", f"/api/v1/requests/{ids['request_id']}/result", a),
        "resources": ("GET", f"/api/v1/categories/{CATEGORY_A}/resources", a),
        "application": ("GET", f"/api/v1/admin/applications/{ids['app_id']}", org),
        "keys": ("GET", f"/api/v1/admin/keys?app_id={ids['app_id']}&include_revoked=true", org),
        "deployments": ("GET", f"/api/v1/admin/applications/{ids['app_id']}/deployments", org),
    }
    out = {}
    for name, (method, url, key) in reads.items():
        response = await w.call(method, url, key)
        assert response.status_code == 200, (name, response.text)
        out[name] = _stable(response.json())
    await w.running.state.recorder.drain() if hasattr(w.running.state.recorder, "drain") else None
    return out


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in ("request_id", "last_used_at", "window_start")}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


_MARKERS = [USER_A, ACCOUNT_A, RESPONSE_A, LIMIT_A, USE_CASE_A, KPI_A, PROPERTY_A, "A's secret"]


def _check_answer(w: World, method: str, template: str, url: str, caller: str, response: Any) -> None:
    body = response.content
    for marker in [*_MARKERS, w.ids["limit_id"], w.ids["use_case_id"], w.ids["key_prefix"]]:
        if marker in url:
            continue  # the caller's own input, echoed in "not found"
        assert marker.encode() not in body, (caller, method, url, marker, body[:300])
    if response.status_code >= 400:
        assert_payi_error(response.status_code, response.json(), w.tenants.app_a_key, w.tenants.org_a_key,
                          w.tenants.app_b_key, w.tenants.org_b_key, w.tenants.app_c_key)


async def test_no_key_reaches_another_tenants_objects_on_any_route(world: World) -> None:
    w, t = world, world.tenants
    before = await _snapshot(w)
    callers = {"app B (same org)": t.app_b_key, "app C (other org)": t.app_c_key, "org B (other org)": t.org_b_key}
    walked = 0
    # Creating by name goes last: the caller's own object of that name would make later calls on it succeed.
    plan = sorted(_walk(w.running.app), key=lambda r: (r[0], r[1]) in OWN_NAMESPACE)
    for method, template, _kinds in plan:
        url = _fill(template, w.ids)
        for caller, key in callers.items():
            kw: dict[str, Any] = {}
            if method in ("POST", "PUT", "PATCH"):
                kw["json"] = _body_for(template)
            headers = {"xProxy-Limit-IDs": w.ids["limit_id"]} if template.startswith("/api/v1/proxy/") else {}
            response = await w.call(method, url, key, headers=headers, **kw)
            walked += 1
            _check_answer(w, method, template, url, caller, response)
            status = response.status_code
            if "{" not in template:
                assert status < 500, (caller, method, url, response.text[:300])
                continue
            if (method, template) in OWN_NAMESPACE and status < 300:
                continue
            same_org = caller.endswith("(same org)")
            if same_org and method == "GET" and template.startswith(tuple(ORG_WIDE_READS)) and status == 200:
                continue
            assert status in (400, 403, 404), (caller, method, url, status, response.text[:300])
    assert walked > 150
    # Object references outside the path: query parameters and headers.
    probes = [
        ("GET", f"/api/v1/admin/keys?app_id={w.ids['app_id']}", t.org_b_key, (200, 404)),
        ("GET", f"/api/v1/limits?limit_name={LIMIT_A}", t.app_b_key, (200,)),
        ("GET", f"/api/v1/use_cases/definitions?use_case_name={USE_CASE_A}", t.app_b_key, (200,)),
        ("GET", f"/api/v1/reports/spend?application={w.ids['app_id']}&group_by=user", t.org_b_key, (200, 400, 403, 404)),
        ("GET", "/api/v1/reports/spend?group_by=user&group_by=account", t.app_b_key, (200,)),
        ("GET", f"/api/v1/reports/requests?application={w.ids['app_id']}", t.org_b_key, (200, 400, 403, 404)),
        ("GET", "/api/v1/reports/requests", t.app_b_key, (200,)),
        ("GET", f"/api/v1/reports/requests?user={USER_A}", t.app_c_key, (200,)),
    ]
    for method, url, key, statuses in probes:
        response = await w.call(method, url, key)
        assert response.status_code in statuses, (url, response.status_code, response.text[:300])
        _check_answer(w, method, url, url, "probe", response)
        if response.status_code == 200 and "items" in response.text[:20]:
            assert response.json()["items"] == [], url
    event = {"category": "system.openai", "resource": "gpt-4o", "units": {"text": {"input": 1}}}
    for key in (t.app_b_key, t.app_c_key):
        response = await w.call("POST", "/api/v1/ingest", key, json=event, headers={"xProxy-Limit-IDs": w.ids["limit_id"]})
        assert response.status_code == 400 and response.json()["xproxy_error"]["code"] == "invalid_limit_ids"
        bulk = await w.call("POST", "/api/v1/ingest/bulk", key, json=[{**event, "limit_ids": [w.ids["limit_id"]]}])
        assert bulk.status_code == 200 and bulk.json()["ingest_count"] == 0
        # Naming A's use case instance makes the caller's own instance, never touches A's.
        own = await w.call("POST", "/api/v1/ingest", key, json=event, headers={
            "xProxy-UseCase-Name": USE_CASE_A, "xProxy-UseCase-ID": w.ids["use_case_id"],
            "xProxy-UseCase-Properties": f'{{"{PROPERTY_A}": "overwritten"}}'})
        assert own.status_code == 200, own.text
    after = await _snapshot(w)
    assert after == before
    async with w.running.state.db.read() as conn:
        from sqlalchemy import select

        owners = {r.app_id for r in (await conn.execute(select(limits.c.app_id).where(limits.c.limit_id == w.ids["limit_id"]))).all()}
        assert owners == {int(t.app_a)}
        instances = (await conn.execute(
            select(use_case_instances.c.app_id, use_case_instances.c.properties)
            .where(use_case_instances.c.use_case_id == w.ids["use_case_id"])
        )).all()
        a_instance = [r for r in instances if r.app_id == int(t.app_a)]
        assert a_instance and (a_instance[0].properties or {}).get(PROPERTY_A) == "y"


def _body_for(template: str) -> Any:
    """A body that is valid for the route, so a refusal is about ownership, not about the body."""
    if template.startswith("/api/v1/proxy/"):
        return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    if "/kpis/" in template and "/instances/" in template:
        return {"score": 1}
    if template.endswith("/properties"):
        return {"properties": {"p": "v"}}
    if template.endswith("/limit_config"):
        return {"max": 3}
    if template.endswith("/kpis"):
        return {"name": "k", "description": "d", "goal": 1, "kpi_type": "number"}
    if "/kpis/" in template:
        return {"description": "changed"}
    if template.startswith("/api/v1/use_cases/definitions/"):
        return {"description": "changed"}
    if template.startswith("/api/v1/limits/"):
        return {"limit_name": "renamed", "max": 1000}
    if template.startswith("/api/v1/categories/"):
        return {"units": {"text": {"input_price": 1.0}}}
    if template.startswith("/api/v1/admin/keys/"):
        return {"expires_at": "2000-01-01T00:00:00Z"}
    if "/deployments/" in template:
        return {"model": "gpt-4o-mini"}
    if template.startswith("/api/v1/admin/applications/"):
        return {"description": "changed", "store_prompts": False}
    return {}


async def test_the_walk_covers_every_route(running: Running) -> None:
    """Every route of the app is walked above or listed in NOT_WALKED; every path parameter has a value. A new
    route is walked automatically; this fails if the walk cannot fill one of its parameters."""
    all_routes = route_table(running.app.router.routes)
    walked = {(m, p) for m, p, _ in _walk(running.app)}
    ids = dict.fromkeys(PARAMETERS.values(), "x")
    for path, methods, access in all_routes:
        if path in NOT_WALKED:
            continue
        if isinstance(access, SessionAccess):
            assert not path.startswith("/api/"), path
            continue
        for method in set(methods) - {"HEAD", "OPTIONS"}:
            assert (method, path) in walked, f"{method} {path} is not walked by the isolation test"
            _fill(path, ids)  # raises for a parameter the walk has no value for
    assert {p for p in NOT_WALKED} - {p for p, _, _ in all_routes} <= {"/redoc"}, "stale NOT_WALKED entries"
    assert await row_counts(running.state.db)  # the app is up


def test_a_new_route_with_an_unknown_parameter_is_caught() -> None:
    """The coverage check above really fails for a route it cannot fill (here a made-up widgets route)."""
    from fastapi import APIRouter

    from payi_server.app import create_app
    from payi_server.settings import load_settings
    from tests.conftest import TEST_SECRET

    app = create_app(load_settings(database_url="sqlite:///unused.db", secret_key=TEST_SECRET))
    router = APIRouter(prefix="/api/v1/widgets")

    @router.delete("/{widget_id}")
    async def delete_widget(widget_id: str, principal: AppKey) -> dict[str, str]:
        return {}

    app.include_router(router)
    walked = {(m, p) for m, p, _ in _walk(app)}
    assert ("DELETE", "/api/v1/widgets/{widget_id}") in walked
    with pytest.raises(LookupError, match="widget_id"):
        _fill("/api/v1/widgets/{widget_id}", dict.fromkeys(PARAMETERS.values(), "x"))
