"""Our SDK against the in-process server (``httpx2.ASGITransport``), for the routes that exist on both sides."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest

import payi
from tests.conftest import Running


@pytest.fixture
async def org(running: Running) -> AsyncIterator[payi.AsyncPayi]:
    transport = httpx2.ASGITransport(app=running.app)
    async with payi.AsyncPayi(
        api_key=running.org_key,
        base_url="http://payi.test",
        http_client=httpx2.AsyncClient(transport=transport),
        _strict_response_validation=True,
    ) as client:
        yield client


async def test_admin_flow(org: payi.AsyncPayi) -> None:
    created = await org.admin.applications.create(name="checkout", store_prompts=True)
    app_id = created.application.app_id
    assert created.application.store_prompts is True
    assert sorted(key.slot for key in created.keys if key.slot is not None) == [1, 2]
    assert all(key.key for key in created.keys)

    assert app_id in [app.app_id async for app in org.admin.applications.list()]
    assert (await org.admin.applications.retrieve(app_id)).application.name == "checkout"
    assert (
        await org.admin.applications.update(app_id, store_prompts=False)
    ).application.store_prompts is False

    rotated = await org.admin.applications.regenerate_key(app_id, slot=2)
    assert rotated.key.slot == 2 and rotated.key.key
    keys = [key async for key in org.admin.keys.list(app_id=app_id)]
    assert {key.key_id for key in keys} >= {rotated.key.key_id} and all(key.key is None for key in keys)

    app = org.with_options(api_key=rotated.key.key)
    await app.categories.list()  # the new application key works
    stale = org.with_options(api_key=created.keys[1].key)
    with pytest.raises(payi.AuthenticationError):
        await stale.categories.list()

    assert (await org.admin.keys.set_expiry(keys[0].key_id, None)).key.expires_at is None
    revoked = await org.admin.keys.revoke(rotated.key.key_id)
    assert revoked.key.revoked_at is not None and revoked.key.active is False

    org_key = await org.admin.org_keys.create(label="ci")
    assert org_key.key.key and org_key.key.slot is None
    assert (await org.admin.org_keys.revoke(org_key.key.key_id)).key.revoked_at is not None
    await org.admin.applications.delete(app_id)


async def test_application_key_is_refused_on_admin_routes(org: payi.AsyncPayi, running: Running) -> None:
    app = org.with_options(api_key=running.app_key)
    with pytest.raises(payi.PermissionDeniedError):
        await app.admin.applications.list()
