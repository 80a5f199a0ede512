"""A canary key is created, used, and made to fail in every way; it must appear in no log line, no error body
and no table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from payi_server.logs import configure_logging
from payi_server.store.tables import metadata

from ...conftest import Running


async def _dump_all_tables(running: Running) -> str:
    parts = []
    async with running.state.db.read() as conn:
        for table in metadata.sorted_tables:
            for row in (await conn.execute(select(table))).all():
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


async def test_canary_key_never_leaks(running: Running, capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("debug", "json")
    client, org = running.client, running.headers(running.org_key)
    created = (await client.post("/api/v1/admin/applications", json={"name": "canary"}, headers=org)).json()
    canary = created["keys"][0]["key"]
    canary_id = created["keys"][0]["key_id"]
    bodies: list[str] = []

    async def call(method: str, path: str, **kw: object) -> None:
        response = await client.request(method, path, **kw)  # type: ignore[arg-type]
        bodies.append(response.text)

    # used successfully, and on a route of the wrong kind
    await call("GET", "/api/v1/whoami", headers={"xProxy-api-key": canary})
    await call("GET", "/api/v1/admin/applications", headers={"xProxy-api-key": canary})
    # presented in the wrong places and shapes
    await call("GET", "/api/v1/whoami", headers={"Authorization": f"Bearer {canary}"})
    await call("GET", "/api/v1/whoami", headers={"xProxy-api-key": canary[:-1] + "0"})
    await call("GET", "/api/v1/whoami", headers={"xProxy-api-key": canary + " trailing"})
    await call("GET", f"/api/v1/admin/applications/{canary}", headers=org)
    await call("GET", f"/api/v1/whoami?key={canary}", headers={"xProxy-api-key": "x"})
    await call("POST", "/api/v1/admin/applications", json={"name": 1, "description": canary}, headers=org)
    # expired, then revoked
    past = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    await call("PUT", f"/api/v1/admin/keys/{canary_id}/expiry", json={"expires_at": past}, headers=org)
    await running.state.changes.poll_once()
    await call("GET", "/api/v1/whoami", headers={"xProxy-api-key": canary})
    await call("POST", f"/api/v1/admin/keys/{canary_id}/revoke", headers=org)
    await running.state.changes.poll_once()
    await call("GET", "/api/v1/whoami", headers={"xProxy-api-key": canary})
    await running.state.keys._flush_last_used(force=True)

    captured = capfd.readouterr()
    logs = captured.out + captured.err
    assert '"logger":"payi_server.access"' in logs  # the log was captured at all
    secret_part = canary.split("_", 3)[3]
    for sink_name, sink in (("logs", logs), ("bodies", "\n".join(bodies)), ("tables", await _dump_all_tables(running))):
        assert canary not in sink, sink_name
        assert secret_part not in sink, sink_name
    # and the canary's row is there, by its hash only
    assert created["keys"][0]["lookup_id"] in await _dump_all_tables(running)
