"""An organisation's alert endpoints, "send test", and the delivery log."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update

from ..errors import api_error
from ..store.changes import utcnow
from ..store.engine import Database
from ..store.tables import alert_deliveries, alert_endpoints, alert_events
from .detect import record_event

FORMATS = ("json", "slack")


def check_url(url: str) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
        raise api_error("invalid_endpoint", "url")
    return url


def shown_url(url: str) -> str:
    """Where an endpoint points, without what may be a secret (a Slack webhook's path, a token in the query)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"


class AlertEndpoints:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, org_id: int, name: str, url: str, fmt: str) -> tuple[dict[str, Any], str]:
        """A new endpoint and its signing secret (shown once)."""
        name = name.strip()
        if not name or len(name) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise api_error("invalid_endpoint", "name")
        if fmt not in FORMATS:
            raise api_error("invalid_endpoint", "format")
        secret = "whsec_" + secrets.token_urlsafe(32)
        values = {"org_id": org_id, "name": name, "url": check_url(url), "format": fmt, "secret": secret,
                  "created_at": utcnow()}
        async with self._db.write() as conn:
            endpoint_id = (
                await conn.execute(alert_endpoints.insert().values(**values).returning(alert_endpoints.c.id))
            ).scalar_one()
        return {"id": int(endpoint_id), **values}, secret

    async def list_endpoints(self, org_id: int) -> list[dict[str, Any]]:
        query = (
            select(alert_endpoints.c.id, alert_endpoints.c.name, alert_endpoints.c.url, alert_endpoints.c.format,
                   alert_endpoints.c.created_at)
            .where(alert_endpoints.c.org_id == org_id, alert_endpoints.c.deleted_at.is_(None))
            .order_by(alert_endpoints.c.id)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [{**r._mapping, "shown_url": shown_url(r.url)} for r in rows]

    async def _live(self, conn: Any, org_id: int, endpoint_id: int) -> Any:
        row = (
            await conn.execute(
                select(alert_endpoints).where(
                    alert_endpoints.c.id == endpoint_id, alert_endpoints.c.org_id == org_id,
                    alert_endpoints.c.deleted_at.is_(None),
                )
            )
        ).first()
        if row is None:
            raise api_error("endpoint_not_found")
        return row

    async def delete(self, org_id: int, endpoint_id: int) -> str:
        """Delete an endpoint (its pending deliveries fail); returns its name."""
        async with self._db.write() as conn:
            row = await self._live(conn, org_id, endpoint_id)
            now = utcnow()
            await conn.execute(update(alert_endpoints).where(alert_endpoints.c.id == endpoint_id).values(deleted_at=now))
            await conn.execute(
                update(alert_deliveries)
                .where(alert_deliveries.c.endpoint_id == endpoint_id, alert_deliveries.c.status == "pending")
                .values(status="failed", last_error="the endpoint was deleted")
            )
        return str(row.name)

    async def send_test(self, org_id: int, endpoint_id: int) -> int:
        """A test event for one endpoint; returns its delivery's id."""
        async with self._db.write() as conn:
            row = await self._live(conn, org_id, endpoint_id)
            now = utcnow()
            event_id = await record_event(
                conn, org_id, "test", {"type": "test", "at": now.isoformat(), "text": f"test alert to '{row.name}'"},
                now, endpoint_ids=[endpoint_id],
            )
            assert event_id is not None  # one endpoint given
            return int(
                (
                    await conn.execute(select(alert_deliveries.c.id).where(alert_deliveries.c.event_id == event_id))
                ).scalar_one()
            )

    async def log(self, org_id: int, size: int = 50) -> list[dict[str, Any]]:
        """The latest deliveries of the organisation, newest first."""
        query = (
            select(
                alert_deliveries.c.id, alert_deliveries.c.status, alert_deliveries.c.attempts,
                alert_deliveries.c.last_status, alert_deliveries.c.last_error, alert_deliveries.c.created_at,
                alert_deliveries.c.sent_at, alert_deliveries.c.next_attempt_at, alert_events.c.kind,
                alert_events.c.payload, alert_endpoints.c.name.label("endpoint"),
            )
            .join(alert_events, alert_events.c.id == alert_deliveries.c.event_id)
            .join(alert_endpoints, alert_endpoints.c.id == alert_deliveries.c.endpoint_id)
            .where(alert_events.c.org_id == org_id)
            .order_by(alert_deliveries.c.id.desc())
            .limit(size)
        )
        async with self._db.read() as conn:
            return [dict(r._mapping) for r in (await conn.execute(query)).all()]
