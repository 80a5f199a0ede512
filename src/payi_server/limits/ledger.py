"""Charging limits: atomic check-and-reserve before a proxied call, and settlement when requests are recorded.

Every operation runs inside a transaction that holds the limit rows locked (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite's single writer with ``BEGIN IMMEDIATE``), so no decision is taken on a value read earlier and
several server processes on one database cannot all slip through the same remaining budget.

- ``reserve``: before a proxied call, for each named limit: drop expired reservations, check ``admits`` (Pay-i's
  rule, or strict), and hold the call's estimated cost in ``reserved`` with a reservation row (owner + expiry).
- ``Ledger.charge``: when a request is recorded, add its real cost, count its state, and release its reservation
  (whatever the outcome: success, failure, client disconnect).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, select, text, update

from ..store.engine import Database
from ..store.tables import limit_history, limit_reservations, limits
from .model import STATES, ZERO, admits, is_stale, state_after, totals_view, window_start


@dataclass(slots=True)
class LimitRow:
    """A locked limit row and its running totals inside one transaction."""

    pk: int
    app_id: int
    limit_id: str
    name: str
    limit_type: str
    max: Decimal
    threshold: Decimal | None
    enforcement: str
    spent_input: Decimal
    spent_output: Decimal
    spent_total: Decimal
    reserved: Decimal
    counts: dict[str, int]
    raw: dict[str, Any]
    dirty: bool = False


@dataclass
class ReserveOutcome:
    """``blocked`` is empty when the call may go ahead; ``states`` holds every limit's state if it was blocked."""

    missing: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)
    reserved_pks: list[int] = field(default_factory=list)
    # Each limit as it was when the call was admitted: (spent, max, threshold), for the provisional state the
    # proxy reports before the request is recorded.
    snapshot: dict[str, tuple[Decimal, Decimal, Decimal | None]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    # Set by the Redis path: the hold lives in Redis, and a refusal is counted when the blocked call is recorded.
    shared: bool = False
    count_blocked_on_record: bool = False


def _row(raw: Any) -> LimitRow:
    data = dict(raw._mapping)
    return LimitRow(
        pk=data["id"],
        app_id=data["app_id"],
        limit_id=data["limit_id"],
        name=data["name"],
        limit_type=data["limit_type"],
        max=data["max"],
        threshold=data["threshold"],
        enforcement=data["enforcement"] or "default",
        spent_input=data["spent_input"],
        spent_output=data["spent_output"],
        spent_total=data["spent_total"],
        reserved=data["reserved"],
        counts={state: int(data[f"count_{state}"]) for state in (*STATES, "total")},
        raw=data,
    )


async def roll_window(conn: Any, raw: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Archive a periodic limit's finished window into ``limit_history`` and start the current one (row locked).

    Returns the row as it is after the roll (unchanged when the window is current). ``reserved`` carries over:
    calls in flight still hold their estimate.
    """
    if not is_stale(raw, now):
        return raw
    current = window_start(raw["period"], raw["timezone"], now)
    if raw["count_total"] or raw["spent_total"]:
        await conn.execute(
            insert(limit_history).values(
                limit_pk=raw["id"],
                limit_id=raw["limit_id"],
                name=raw["name"],
                limit_type=raw["limit_type"],
                max=raw["max"],
                window_start=raw["window_start"],
                reset_timestamp=current,
                totals=totals_view(raw),
                limit_tags=raw["limit_tags"],
            )
        )
    zeroed: dict[str, Any] = {"spent_input": ZERO, "spent_output": ZERO, "spent_total": ZERO}
    zeroed.update({f"count_{s}": 0 for s in (*STATES, "total")})
    await conn.execute(update(limits).where(limits.c.id == raw["id"]).values(**zeroed, window_start=current))
    return {**raw, **zeroed, "window_start": current}


class Ledger:
    """Limit rows of one transaction: load them locked, charge requests against them, write them back."""

    def __init__(self, conn: Any, db: Database, now: datetime) -> None:
        self._conn = conn
        self._db = db
        self._now = now
        self._rows: dict[tuple[int, str], LimitRow] = {}

    async def load(self, app_id: int, limit_ids: Iterable[str]) -> list[str]:
        """Lock the application's named limits; return the ids that do not exist (or are another app's)."""
        wanted = [i for i in dict.fromkeys(limit_ids) if (app_id, i) not in self._rows]
        if wanted:
            query = (
                select(limits)
                .where(limits.c.app_id == app_id, limits.c.limit_id.in_(wanted), limits.c.deleted_at.is_(None))
                .order_by(limits.c.id)
            )
            if not self._db.is_sqlite:
                query = query.with_for_update()
            for raw in (await self._conn.execute(query)).all():
                data = await roll_window(self._conn, dict(raw._mapping), self._now)
                row = _row(_Mapping(data))
                self._rows[(app_id, row.limit_id)] = row
        return [i for i in dict.fromkeys(limit_ids) if (app_id, i) not in self._rows]

    def get(self, app_id: int, limit_id: str) -> LimitRow | None:
        return self._rows.get((app_id, limit_id))

    def charge(
        self,
        app_id: int,
        limit_ids: Iterable[str],
        cost_input: Decimal,
        cost_output: Decimal,
        *,
        failed: bool,
        released: dict[int, Decimal] | None = None,
    ) -> dict[str, str]:
        """Add one request's cost to each limit and return the state it leaves each one in."""
        states = {}
        total = cost_input + cost_output
        for limit_id in limit_ids:
            row = self._rows[(app_id, limit_id)]
            row.spent_input += cost_input
            row.spent_output += cost_output
            row.spent_total += total
            if released and row.pk in released:
                row.reserved = max(ZERO, row.reserved - released[row.pk])
            state = "failed" if failed else state_after(row.spent_total, row.max, row.threshold)
            row.counts[state] += 1
            row.counts["total"] += 1
            row.dirty = True
            states[limit_id] = state
        return states

    def count_blocked(self, app_id: int, limit_ids: Iterable[str], blocking: set[str]) -> dict[str, str]:
        states = {}
        for limit_id in limit_ids:
            row = self._rows[(app_id, limit_id)]
            state = "blocked" if limit_id in blocking else "blocked_external"
            row.counts[state] += 1
            row.counts["total"] += 1
            row.dirty = True
            states[limit_id] = state
        return states

    async def flush(self) -> None:
        for row in sorted(self._rows.values(), key=lambda r: r.pk):
            if not row.dirty:
                continue
            values: dict[str, Any] = {
                "spent_input": row.spent_input,
                "spent_output": row.spent_output,
                "spent_total": row.spent_total,
                "reserved": row.reserved,
            }
            values.update({f"count_{state}": n for state, n in row.counts.items()})
            await self._conn.execute(update(limits).where(limits.c.id == row.pk).values(**values))
            row.dirty = False


class _Mapping:
    """Adapter so ``_row`` can read a plain dict like a result row."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._mapping = data


async def release_reservations(conn: Any, reservation_id: int) -> dict[int, Decimal]:
    """Delete a call's reservation rows; return ``{limit pk: amount}`` still held (not already reclaimed)."""
    rows = (
        await conn.execute(
            delete(limit_reservations)
            .where(limit_reservations.c.id == reservation_id)
            .returning(limit_reservations.c.limit_pk, limit_reservations.c.amount)
        )
    ).all()
    return {row.limit_pk: row.amount for row in rows}


async def reclaim_expired(conn: Any, db: Database, now: datetime, limit_pks: Iterable[int] | None = None) -> int:
    """Give back the budget of reservations whose owner never settled them (a crashed process)."""
    query = delete(limit_reservations).where(limit_reservations.c.expires_at < now)
    if limit_pks is not None:
        query = query.where(limit_reservations.c.limit_pk.in_(list(limit_pks)))
    rows = (await conn.execute(query.returning(limit_reservations.c.limit_pk, limit_reservations.c.amount))).all()
    per_limit: dict[int, Decimal] = {}
    for row in rows:
        per_limit[row.limit_pk] = per_limit.get(row.limit_pk, ZERO) + row.amount
    for pk in sorted(per_limit):
        await conn.execute(
            update(limits).where(limits.c.id == pk).values(reserved=limits.c.reserved - per_limit[pk])
        )
    return len(rows)


async def reserve(
    db: Database,
    app_id: int,
    limit_ids: list[str],
    estimate: Decimal,
    *,
    reservation_id: int,
    owner: int,
    ttl: float,
    now: datetime,
) -> ReserveOutcome:
    """Check every named block limit and, if all admit the call, hold ``estimate`` against each limit."""
    outcome = ReserveOutcome()
    async with db.write() as conn:
        if not db.is_sqlite:
            # A reservation is short-lived and expires on its own: its commit need not wait for the WAL flush
            # (a crash can only lose holds of calls in flight). The charge, written by the recorder, is durable.
            await conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
        ledger = Ledger(conn, db, now)
        outcome.missing = await ledger.load(app_id, limit_ids)
        if outcome.missing:
            return outcome
        rows = [ledger.get(app_id, i) for i in limit_ids]
        pks = [r.pk for r in rows if r is not None]
        if await reclaim_expired(conn, db, now, pks):
            ledger = Ledger(conn, db, now)
            await ledger.load(app_id, limit_ids)
            rows = [ledger.get(app_id, i) for i in limit_ids]
        for row in rows:
            assert row is not None
            outcome.types[row.limit_id] = row.limit_type
            if not admits(row.limit_type, row.enforcement, row.spent_total, row.reserved, row.max, estimate):
                outcome.blocked.append(row.limit_id)
        if outcome.blocked:
            outcome.states = ledger.count_blocked(app_id, limit_ids, set(outcome.blocked))
            await ledger.flush()
            return outcome
        expires = now + timedelta(seconds=ttl)
        reservations = []
        for row in rows:
            assert row is not None
            outcome.snapshot[row.limit_id] = (row.spent_total, row.max, row.threshold)
            if row.limit_type != "block" or estimate <= 0:
                continue  # only block limits hold budget for calls in flight
            row.reserved += estimate
            row.dirty = True
            reservations.append(
                {
                    "id": reservation_id,
                    "limit_pk": row.pk,
                    "amount": estimate,
                    "owner": owner,
                    "expires_at": expires,
                    "created_at": now,
                }
            )
            outcome.reserved_pks.append(row.pk)
        if reservations:
            # The id is shared by the call's rows: one (id, limit) pair each.
            for values in reservations:
                await conn.execute(insert(limit_reservations).values(**values))
        await ledger.flush()
    return outcome
