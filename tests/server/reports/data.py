"""Known events for report tests: a custom resource with round prices, ingested through the public API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from payi_server.store.changes import utcnow
from payi_server.store.tables import organizations

from ...conftest import Running

CATEGORY = "acme"
# $0.001 per input unit, $0.002 per output unit: 1000 input units cost $1, 500 output units cost $1.
PRICES = {"text": {"input_price": 0.001, "output_price": 0.002}}


async def price(running: Running, resource: str = "m1", category: str = CATEGORY) -> None:
    response = await running.client.post(
        f"/api/v1/categories/{category}/resources/{resource}",
        json={"units": PRICES, "start_timestamp": "2020-01-01T00:00:00Z"},
        headers=running.headers(running.org_key),
    )
    assert response.status_code == 200, response.text
    await running.state.changes.poll_once()


def event(at: str | datetime, input: int = 1000, output: int = 0, resource: str = "m1", **attribution: Any) -> dict[str, Any]:
    """A bulk-ingest item: ``input=1000`` costs $1 on the test prices."""
    item: dict[str, Any] = {
        "category": CATEGORY,
        "resource": resource,
        "units": {"text": {"input": input, "output": output}},
        "event_timestamp": at if isinstance(at, str) else at.isoformat(),
    }
    item.update({k: v for k, v in attribution.items() if v is not None})
    return item


async def ingest(running: Running, items: list[dict[str, Any]], key: str | None = None) -> None:
    response = await running.client.post("/api/v1/ingest/bulk", json=items, headers=running.headers(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["error_count"] == 0, body["errors"]


async def create_app(running: Running, name: str, org_key: str | None = None) -> tuple[str, str]:
    """A new application of the organisation: ``(app_id, slot-1 key)``."""
    response = await running.client.post(
        "/api/v1/admin/applications", json={"name": name}, headers=running.headers(org_key or running.org_key)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return body["application"]["app_id"], body["keys"][0]["key"]


async def other_organization(running: Running) -> tuple[int, str, str, str]:
    """A second organisation with its own key and application: ``(org_id, org key, app id, app key)``."""
    async with running.state.db.write() as conn:
        org = (
            await conn.execute(
                organizations.insert().values(name="other", created_at=utcnow()).returning(organizations.c.id)
            )
        ).scalar_one()
    org_key = (await running.state.tenancy.create_org_key(org)).plaintext
    app, keys = await running.state.tenancy.create_application(org, "other-app")
    return org, org_key, app["app_id"], keys[0].plaintext


async def report(running: Running, key: str | None = None, **params: Any) -> Any:
    response = await running.client.get("/api/v1/reports/spend", params=params, headers=running.headers(key))
    assert response.status_code == 200, response.text
    return response.json()
