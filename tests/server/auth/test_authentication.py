"""Authentication through the xProxy-api-key header on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from payi_server.auth.keys import KeyKind, generate_key

from ...conftest import Running

ADMIN = "/api/v1/admin/applications"
UNAUTHORIZED = {
    "statusCode": 401,
    "message": "Unauthorized",
    "xproxy_error": {"code": "invalid_api_key", "message": "Your api key is invalid, missing, or expired"},
}


async def test_missing_key_gets_401_body(running: Running) -> None:
    response = await running.client.get(ADMIN)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


async def test_header_name_is_case_insensitive(running: Running) -> None:
    for name in ("xProxy-api-key", "xProxy-Api-Key", "XPROXY-API-KEY", "xproxy-api-key"):
        response = await running.client.get(ADMIN, headers={name: running.org_key})
        assert response.status_code == 200, name


async def test_malformed_unknown_and_typo_keys_get_401(running: Running) -> None:
    key = running.org_key
    typo = key[:-1] + ("a" if key[-1] != "a" else "b")
    unknown = generate_key(KeyKind.ORGANIZATION).plaintext  # well-formed, never issued
    wrong_secret = key[: len(key) - 20] + unknown[len(key) - 20 :]
    for bad in ("", "nonsense", "Bearer " + key, typo, unknown, wrong_secret, key + "x", "x" * 5000):
        response = await running.client.get(ADMIN, headers={"xProxy-api-key": bad})
        assert response.status_code == 401, bad[:20]
        assert response.json() == UNAUTHORIZED


async def test_wrong_kind_gets_403(running: Running) -> None:
    response = await running.client.get(ADMIN, headers={"xProxy-api-key": running.app_key})
    assert response.status_code == 403
    body = response.json()
    assert body["statusCode"] == 403
    assert body["message"] == "Forbidden"
    assert body["xproxy_error"]["code"] == "invalid_api_key_kind"


async def test_revoked_key_is_refused(running: Running) -> None:
    issued = await running.state.tenancy.create_org_key(running.boot.org_id, label="temp")
    headers = {"xProxy-api-key": issued.plaintext}
    assert (await running.client.get(ADMIN, headers=headers)).status_code == 200
    response = await running.client.post(
        f"/api/v1/admin/keys/{issued.row['id']}/revoke", headers=running.headers(running.org_key)
    )
    assert response.status_code == 200
    assert response.json()["key"]["revoked_at"] is not None
    # Same process: the change is seen by the next poll (0.1 s in tests) at the latest.
    await running.state.changes.poll_once()
    assert (await running.client.get(ADMIN, headers=headers)).status_code == 401


async def test_expired_key_is_refused(running: Running) -> None:
    issued = await running.state.tenancy.create_org_key(
        running.boot.org_id, expires_at=datetime.now(UTC) + timedelta(hours=1)
    )
    headers = {"xProxy-api-key": issued.plaintext}
    assert (await running.client.get(ADMIN, headers=headers)).status_code == 200
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    response = await running.client.put(
        f"/api/v1/admin/keys/{issued.row['id']}/expiry",
        json={"expires_at": past},
        headers=running.headers(running.org_key),
    )
    assert response.status_code == 200
    await running.state.changes.poll_once()
    assert (await running.client.get(ADMIN, headers=headers)).status_code == 401


async def test_warm_cache_needs_no_database(running: Running) -> None:
    """Once a key is cached, verifying it works even with the database gone."""
    principal = await running.state.keys.authenticate(running.app_key)
    await running.state.db.dispose()
    broken = running.state.db

    async def fail(*_a: object, **_k: object) -> None:
        raise AssertionError("database used on a warm key")

    original_read = broken.read
    broken.read = fail  # type: ignore[method-assign,assignment]
    try:
        again = await running.state.keys.authenticate(running.app_key)
    finally:
        broken.read = original_read  # type: ignore[method-assign]
    assert again == principal
    assert principal.kind is KeyKind.APPLICATION


async def test_last_used_is_recorded(running: Running) -> None:
    await running.client.get(ADMIN, headers=running.headers(running.org_key))
    await running.state.keys._flush_last_used(force=True)
    keys = await running.state.tenancy.list_keys(running.boot.org_id)
    org_key = next(k for k in keys if k["kind"] == "organization")
    assert org_key["last_used_at"] is not None
    app_keys = [k for k in keys if k["kind"] == "application"]
    assert all(k["last_used_at"] is None for k in app_keys)


async def test_a_key_seen_before_still_expires_and_is_still_checked(running: Running) -> None:
    """A key presented before skips its shape check and HMAC (``KeyCache._verified``), never its expiry; and a
    different string for the same lookup id is verified in full."""
    import asyncio

    from payi_server.errors import ApiError

    issued = await running.state.tenancy.create_org_key(
        running.boot.org_id, expires_at=datetime.now(UTC) + timedelta(seconds=1.5)
    )
    keys = running.state.keys
    first = await keys.authenticate(issued.plaintext)
    assert await keys.authenticate(issued.plaintext) == first
    assert issued.plaintext in keys._verified
    forged = issued.plaintext[:-8] + ("A" * 8 if not issued.plaintext.endswith("A" * 8) else "B" * 8)
    for bad in (forged, issued.plaintext + " x"):
        try:
            await keys.authenticate(bad)
        except ApiError as exc:
            assert exc.status == 401
        else:
            raise AssertionError("a different key string was let in")
    await asyncio.sleep(1.6)
    try:
        await keys.authenticate(issued.plaintext)
    except ApiError as exc:
        assert exc.status == 401
    else:
        raise AssertionError("an expired key was let in from the shortcut")
