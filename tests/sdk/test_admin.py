"""``client.admin``: our own administration API for organisation keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import payi
from payi.pagination import AsyncCursorPage, SyncCursorPage
from payi.types.admin import ApiKey, Application, ApplicationCreateResponse, ApplicationResponse, KeyResponse

from .wire import APPLICATION, KEY, Api, check_wire, page

PAGES = (SyncCursorPage, AsyncCursorPage)
ADMIN = "/api/v1/admin"
EXPIRY = datetime(2027, 1, 1, tzinfo=UTC)
ISSUED = {**KEY, "key": "payi_app_abc_secret"}
CREATED = {
    "application": APPLICATION,
    "keys": [ISSUED, {**ISSUED, "key_id": "18", "slot": 2}],
    "request_id": "r1",
}

CASES: dict[str, dict[str, Any]] = {
    "applications.create": dict(
        call=lambda c: c.admin.applications.create(name="checkout", store_prompts=True),
        method="POST",
        path=f"{ADMIN}/applications",
        response=CREATED,
        result_type=ApplicationCreateResponse,
        body={"name": "checkout", "store_prompts": True},
    ),
    "applications.create-description": dict(
        call=lambda c: c.admin.applications.create(name="checkout", description="Shop"),
        method="POST",
        path=f"{ADMIN}/applications",
        response=CREATED,
        result_type=ApplicationCreateResponse,
        body={"name": "checkout", "description": "Shop"},
    ),
    "applications.list": dict(
        call=lambda c: c.admin.applications.list(),
        method="GET",
        path=f"{ADMIN}/applications",
        response=page([APPLICATION]),
        result_type=PAGES,
    ),
    "applications.retrieve": dict(
        call=lambda c: c.admin.applications.retrieve("3"),
        method="GET",
        path=f"{ADMIN}/applications/3",
        response={"application": APPLICATION, "request_id": "r"},
        result_type=ApplicationResponse,
    ),
    "applications.update": dict(
        call=lambda c: c.admin.applications.update("3", store_prompts=False),
        method="PATCH",
        path=f"{ADMIN}/applications/3",
        response={"application": APPLICATION},
        result_type=ApplicationResponse,
        body={"store_prompts": False},
    ),
    "applications.delete": dict(
        call=lambda c: c.admin.applications.delete("3"),
        method="DELETE",
        path=f"{ADMIN}/applications/3",
        response={"application": APPLICATION, "message": "bye"},
        result_type=ApplicationResponse,
    ),
    "applications.regenerate_key": dict(
        call=lambda c: c.admin.applications.regenerate_key("3", slot=2),
        method="POST",
        path=f"{ADMIN}/applications/3/keys/2/regenerate",
        response={"key": ISSUED, "request_id": "r"},
        result_type=KeyResponse,
        body={},
    ),
    "applications.regenerate_key-expiry": dict(
        call=lambda c: c.admin.applications.regenerate_key("3", slot=1, expires_at=EXPIRY),
        method="POST",
        path=f"{ADMIN}/applications/3/keys/1/regenerate",
        response={"key": ISSUED, "request_id": "r"},
        result_type=KeyResponse,
        body={"expires_at": "2027-01-01T00:00:00+00:00"},
    ),
    "keys.list": dict(
        call=lambda c: c.admin.keys.list(),
        method="GET",
        path=f"{ADMIN}/keys",
        response=page([KEY]),
        result_type=PAGES,
    ),
    "keys.list-app": dict(
        call=lambda c: c.admin.keys.list(app_id="3", include_revoked=True),
        method="GET",
        path=f"{ADMIN}/keys",
        response=page([KEY]),
        result_type=PAGES,
        query={"app_id": "3", "include_revoked": "true"},
    ),
    "keys.revoke": dict(
        call=lambda c: c.admin.keys.revoke("17"),
        method="POST",
        path=f"{ADMIN}/keys/17/revoke",
        response={"key": KEY},
        result_type=KeyResponse,
    ),
    "keys.set_expiry": dict(
        call=lambda c: c.admin.keys.set_expiry("17", EXPIRY),
        method="PUT",
        path=f"{ADMIN}/keys/17/expiry",
        response={"key": KEY},
        result_type=KeyResponse,
        body={"expires_at": "2027-01-01T00:00:00+00:00"},
    ),
    "keys.set_expiry-clear": dict(
        call=lambda c: c.admin.keys.set_expiry("17", None),
        method="PUT",
        path=f"{ADMIN}/keys/17/expiry",
        response={"key": KEY},
        result_type=KeyResponse,
        body={"expires_at": None},
    ),
    "org_keys.create": dict(
        call=lambda c: c.admin.org_keys.create(label="ci", expires_at=EXPIRY),
        method="POST",
        path=f"{ADMIN}/org-keys",
        response={"key": {**ISSUED, "slot": None}, "request_id": "r"},
        result_type=KeyResponse,
        body={"label": "ci", "expires_at": "2027-01-01T00:00:00+00:00"},
    ),
    "org_keys.create-empty": dict(
        call=lambda c: c.admin.org_keys.create(),
        method="POST",
        path=f"{ADMIN}/org-keys",
        response={"key": ISSUED, "request_id": "r"},
        result_type=KeyResponse,
        body={},
    ),
    "org_keys.revoke": dict(
        call=lambda c: c.admin.org_keys.revoke("2"),
        method="POST",
        path=f"{ADMIN}/keys/2/revoke",
        response={"key": KEY},
        result_type=KeyResponse,
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_wire(api: Api, case: dict[str, Any]) -> None:
    check_wire(api, **case)


def test_create_returns_plaintext_keys(api: Api) -> None:
    api.recorder.json(CREATED)
    created = api.call(lambda c: c.admin.applications.create(name="checkout"))
    assert isinstance(created.application, Application)
    assert [key.key for key in created.keys] == ["payi_app_abc_secret", "payi_app_abc_secret"]
    assert [key.slot for key in created.keys] == [1, 2]
    assert all(isinstance(key, ApiKey) for key in created.keys)


def test_listed_keys_have_no_plaintext(api: Api) -> None:
    api.recorder.json(
        page([KEY, {**KEY, "key_id": "18", "revoked_at": "2025-01-01T00:00:00Z", "active": False}])
    )
    keys = api.collect(lambda c: c.admin.keys.list(app_id="3"))
    assert [key.key for key in keys] == [None, None]
    assert keys[1].revoked_at == datetime(2025, 1, 1, tzinfo=UTC)


def test_admin_errors_map_to_permission_denied(api: Api) -> None:
    api.recorder.json(
        {
            "statusCode": 403,
            "message": "Forbidden",
            "xproxy_error": {"code": "org_key_required", "message": "Use an organisation key"},
        },
        status=403,
    )
    with pytest.raises(payi.PermissionDeniedError) as info:
        api.call(lambda c: c.admin.applications.list())
    assert info.value.status_code == 403
    assert info.value.body["xproxy_error"]["code"] == "org_key_required"  # type: ignore[index]
