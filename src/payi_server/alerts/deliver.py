"""Sending deliveries: leased to one sender at a time, signed, retried with backoff (see the package docstring).

A delivery is POSTed at least once and, unless a sender dies between the receiver's answer and recording it,
exactly once; ``X-Payi-Delivery`` (the event id) lets a receiver drop a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx2
import orjson
from sqlalchemy import or_, select, update

from .. import __version__
from ..store.changes import utcnow
from ..store.engine import Database
from ..store.tables import alert_deliveries, alert_endpoints, alert_events

# Seconds to wait after the 1st, 2nd ... failed attempt; after the last, the delivery is "failed".
BACKOFF = (10, 30, 120, 600, 1800, 3600)
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = timedelta(seconds=60)
TIMEOUT = 10.0

DESCRIBE = {
    "exceeded": "crossed its threshold",
    "overrun": "is over its max",
    "blocked": "blocked a request",
    "reset": "was reset (a new window began or an admin reset it)",
    "test": "test alert",
}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``"<timestamp>." + body`` with the endpoint's secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def message(kind: str, payload: dict[str, Any]) -> str:
    """One line for people (the Slack format)."""
    limit = payload.get("limit")
    if not limit:
        return f"Pay-i: {payload.get('text', 'test alert')}"
    app = payload.get("application", {}).get("name", "")
    percent = f" ({limit['percent']}%)" if limit.get("percent") is not None else ""
    return (f"Pay-i: limit '{limit['limit_name']}' of {app} {DESCRIBE.get(kind, kind)}: "
            f"${limit['spent']:,.2f} of ${limit['max']:,.2f}{percent}")


def body_of(fmt: str, event_id: int, kind: str, payload: dict[str, Any]) -> bytes:
    if fmt == "slack":
        return orjson.dumps({"text": message(kind, payload)})
    return orjson.dumps({"id": str(event_id), **payload, "message": message(kind, payload)})


async def _claim(db: Database, delivery_id: int, now: datetime) -> Any:
    async with db.write() as conn:
        claimed = await conn.execute(
            update(alert_deliveries)
            .where(
                alert_deliveries.c.id == delivery_id,
                alert_deliveries.c.status == "pending",
                or_(alert_deliveries.c.lease_until.is_(None), alert_deliveries.c.lease_until < now),
            )
            .values(lease_until=now + LEASE)
        )
        if claimed.rowcount != 1:
            return None
        return (
            await conn.execute(
                select(
                    alert_deliveries.c.id, alert_deliveries.c.attempts, alert_events.c.id.label("event_id"),
                    alert_events.c.kind, alert_events.c.payload, alert_endpoints.c.url, alert_endpoints.c.format,
                    alert_endpoints.c.secret, alert_endpoints.c.deleted_at,
                )
                .join(alert_events, alert_events.c.id == alert_deliveries.c.event_id)
                .join(alert_endpoints, alert_endpoints.c.id == alert_deliveries.c.endpoint_id)
                .where(alert_deliveries.c.id == delivery_id)
            )
        ).first()


async def deliver_one(db: Database, http: httpx2.AsyncClient, delivery_id: int,
                      clock: Callable[[], datetime] = utcnow) -> str | None:
    """Send one due delivery if no other sender holds it; returns its new status (None: not ours to send)."""
    row = await _claim(db, delivery_id, clock())
    if row is None:
        return None
    if row.deleted_at is not None:
        values: dict[str, Any] = {"status": "failed", "last_error": "the endpoint was deleted", "lease_until": None}
    else:
        body = body_of(row.format, row.event_id, row.kind, row.payload)
        stamp = int(clock().timestamp())
        headers = {
            "content-type": "application/json",
            "user-agent": f"payi-server/{__version__}",
            "x-payi-event": f"limit.{row.kind}" if row.kind != "test" else "test",
            "x-payi-delivery": str(row.event_id),
            "x-payi-timestamp": str(stamp),
            "x-payi-signature": sign(row.secret, stamp, body),
        }
        status: int | None = None
        error: str | None = None
        try:
            response = await http.post(row.url, content=body, headers=headers)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except Exception as exc:  # any failure to reach the receiver (transport, bad address) is a failed attempt
            error = f"{type(exc).__name__}: {exc}"[:500]
        attempts = row.attempts + 1
        now = clock()
        values = {"attempts": attempts, "last_status": status, "last_error": error, "lease_until": None}
        if error is None:
            values.update(status="sent", sent_at=now)
        elif attempts >= MAX_ATTEMPTS:
            values.update(status="failed")
        else:
            values.update(next_attempt_at=now + timedelta(seconds=BACKOFF[attempts - 1]))
    async with db.write() as conn:
        await conn.execute(update(alert_deliveries).where(alert_deliveries.c.id == delivery_id).values(**values))
    return str(values.get("status", "pending"))


async def deliver_due(db: Database, http: httpx2.AsyncClient, clock: Callable[[], datetime] = utcnow,
                      batch: int = 20) -> int:
    """Send up to ``batch`` due deliveries; returns how many this process sent (or tried)."""
    now = clock()
    query = (
        select(alert_deliveries.c.id)
        .where(
            alert_deliveries.c.status == "pending",
            alert_deliveries.c.next_attempt_at <= now,
            or_(alert_deliveries.c.lease_until.is_(None), alert_deliveries.c.lease_until < now),
        )
        .order_by(alert_deliveries.c.next_attempt_at)
        .limit(batch)
    )
    async with db.read() as conn:
        due = list((await conn.execute(query)).scalars())
    done = 0
    for delivery_id in due:
        if await deliver_one(db, http, delivery_id, clock) is not None:
            done += 1
    return done
