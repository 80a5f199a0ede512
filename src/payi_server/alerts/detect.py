"""Limit state transitions, recorded once across processes (see the package's docstring)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update

from ..limits.model import limit_view, state_after
from ..store.changes import utcnow
from ..store.engine import Database
from ..store.tables import alert_deliveries, alert_endpoints, alert_events, alert_limit_states, applications, limits
from ..store.upsert import insert_ignore

RANK = {"ok": 0, "exceeded": 1, "overrun": 2}


@dataclass(frozen=True)
class Seen:
    state: str
    blocked: bool
    epoch: str


def observe(row: Any, now: datetime) -> tuple[Seen, dict[str, Any]]:
    """What alerts compare for one limit row: its state now, and the limit's view (the events' payload)."""
    view = limit_view(row._mapping, now)
    spent = view["totals"]["cost"]["total"]["base"]
    threshold = Decimal(str(view["threshold"])) if view["threshold"] is not None else None
    state = state_after(Decimal(str(spent)), Decimal(str(view["max"])), threshold)
    window = view.get("window_start")
    epoch = f"{window.isoformat() if window else ''}|{row.reset_at.isoformat() if row.reset_at else ''}"
    return Seen(state, view["totals"]["requests"]["blocked"] > 0, epoch), view


def transitions(before: Seen, now: Seen) -> list[str]:
    """The events between two observations: a new window or a reset first, then a higher state, then blocking."""
    kinds: list[str] = []
    prev = before
    if before.epoch != now.epoch:
        kinds.append("reset")
        prev = Seen("ok", False, now.epoch)
    if RANK[now.state] > RANK[prev.state]:
        kinds.append(now.state)
    if now.blocked and not prev.blocked:
        kinds.append("blocked")
    return kinds


def payload(kind: str, row: Any, view: dict[str, Any], now: datetime) -> dict[str, Any]:
    spent = view["totals"]["cost"]["total"]["base"]
    return {
        "type": f"limit.{kind}",
        "at": now.isoformat(),
        "application": {"id": str(row.app_id), "name": row.app_name},
        "limit": {
            "limit_id": view["limit_id"], "limit_name": view["limit_name"], "limit_type": view["limit_type"],
            "max": view["max"], "threshold": view["threshold"], "spent": spent,
            "percent": round(100.0 * spent / view["max"], 1) if view["max"] else None,
            "period": view.get("period"), "timezone": view.get("timezone"),
            "requests": view["totals"]["requests"],
        },
    }


async def record_event(conn: Any, org_id: int, kind: str, body: dict[str, Any], now: datetime,
                       endpoint_ids: list[int] | None = None) -> int | None:
    """An event and a pending delivery to each live endpoint of the organisation (or to ``endpoint_ids``); an
    organisation without endpoints records nothing (None)."""
    if endpoint_ids is None:
        endpoint_ids = list(
            (
                await conn.execute(
                    select(alert_endpoints.c.id).where(
                        alert_endpoints.c.org_id == org_id, alert_endpoints.c.deleted_at.is_(None)
                    )
                )
            ).scalars()
        )
    if not endpoint_ids:
        return None
    event_id = (
        await conn.execute(
            insert(alert_events).values(org_id=org_id, kind=kind, payload=body, created_at=now).returning(alert_events.c.id)
        )
    ).scalar_one()
    for endpoint_id in endpoint_ids:
        await conn.execute(
            insert(alert_deliveries).values(
                event_id=event_id, endpoint_id=endpoint_id, status="pending", attempts=0, next_attempt_at=now,
                created_at=now,
            )
        )
    return int(event_id)


async def detect(db: Database, clock: Callable[[], datetime] = utcnow) -> int:
    """Compare every live limit with what alerts last saw; returns the number of events recorded."""
    now = clock()
    query = (
        select(limits, applications.c.org_id, applications.c.name.label("app_name"))
        .join(applications, applications.c.id == limits.c.app_id)
        .where(limits.c.deleted_at.is_(None), applications.c.deleted_at.is_(None))
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
        seen = {r.limit_pk: r for r in (await conn.execute(select(alert_limit_states))).all()}
    created = 0
    for row in rows:
        current, view = observe(row, now)
        before = seen.get(row.id)
        if before is not None and Seen(before.state, before.blocked, before.epoch) == current:
            continue
        values = {"state": current.state, "blocked": current.blocked, "epoch": current.epoch, "updated_at": now}
        async with db.write() as conn:
            if before is None:
                claimed = await conn.execute(
                    insert_ignore(db, alert_limit_states, ["limit_pk"]).values(limit_pk=row.id, version=1, **values)
                )
                kinds = transitions(Seen("ok", False, current.epoch), current)
            else:
                claimed = await conn.execute(
                    update(alert_limit_states)
                    .where(alert_limit_states.c.limit_pk == row.id, alert_limit_states.c.version == before.version)
                    .values(version=before.version + 1, **values)
                )
                kinds = transitions(Seen(before.state, before.blocked, before.epoch), current)
            if claimed.rowcount != 1:
                continue  # another process saw it first and recorded its events
            for kind in kinds:
                if await record_event(conn, row.org_id, kind, payload(kind, row, view, now), now) is not None:
                    created += 1
    return created
