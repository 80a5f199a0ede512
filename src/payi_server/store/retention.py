"""Retention: how long request rows, and separately stored prompts and responses, are kept; and the sweep that
deletes what expired.

A server default (``PAYI_SERVER_REQUEST_RETENTION_DAYS``, ``PAYI_SERVER_PAYLOAD_RETENTION_DAYS``; 0 keeps
forever) and an application's own setting (``app_retention``; NULL: the default). Age is the request's
``event_timestamp``, the time reports bucket it by.

The sweep deletes in bounded transactions: the ids of at most ``batch_size`` expired rows are read on the
``(app_id, event_timestamp)`` index, then their limit links, payloads and rows are deleted by primary key, and the
next batch waits a moment, so the recorder's group commits (SQLite's single writer; PostgreSQL's row locks) are
never held up for long. One process at a time sweeps: it holds the ``retention`` row of ``maintenance_leases``
(same on both databases; renewed after every batch, taken over by another process once it expires).

On PostgreSQL, where the request log is partitioned by day of id (``partitions.py``), the sweep first keeps the
next days' partitions in existence, then drops every whole day that every application's retention has expired (in
milliseconds, with no dead rows), and leaves the rest to the batches: applications of shorter retention, events
back-dated at ingest.

The rollups and the limits are never touched: reports and limit totals over expired periods stay exact. What
leaves with a request row: its detail (``GET /api/v1/requests/...``, exports, the dashboard's request list), and
the duplicate check of its ``provider_response_id`` (a retry of an expired event would be recorded again; retries
come within minutes, retention is at least a day).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from .changes import utcnow
from .engine import Database
from .tables import app_retention, applications, maintenance_leases
from .upsert import insert_ignore, insert_replace

log = logging.getLogger("payi_server.retention")

MAX_DAYS = 36_500
LEASE_NAME = "retention"
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Defaults:
    """The server's retention, in days (0: forever)."""

    request_days: int = 0
    payload_days: int = 0


@dataclass(frozen=True)
class Policy:
    """One application's retention: its own setting (None: the server's) and what applies."""

    app_id: int
    own_request_days: int | None
    own_payload_days: int | None
    defaults: Defaults

    @property
    def request_days(self) -> int:
        return self.defaults.request_days if self.own_request_days is None else self.own_request_days

    @property
    def payload_days(self) -> int:
        """Days payloads are kept: never longer than their request (they leave with it)."""
        days = self.defaults.payload_days if self.own_payload_days is None else self.own_payload_days
        requests_days = self.request_days
        if requests_days and (not days or days > requests_days):
            return requests_days
        return days

    def view(self) -> dict[str, Any]:
        return {
            "application_id": str(self.app_id),
            "request_days": self.own_request_days,
            "payload_days": self.own_payload_days,
            "effective_request_days": self.request_days or None,
            "effective_payload_days": self.payload_days or None,
        }


def check_days(value: int | None, name: str) -> int | None:
    if value is not None and not (0 <= value <= MAX_DAYS):
        raise ValueError(f"{name} is 0 (forever) to {MAX_DAYS} days, or null (the server's default)")
    return value


Renew = Callable[[], Awaitable[bool]]


class Retention:
    """Read and change retention, and sweep what expired."""

    def __init__(self, db: Database, defaults: Defaults, *, batch_size: int = 2000, pause: float = 0.02) -> None:
        self.db = db
        self.defaults = defaults
        self.batch_size = batch_size
        self.pause = pause
        # Seconds the last sweep spent: on partitions (creating the next days', dropping expired ones) and on
        # batches (payloads an older server wrote, expired rows outside whole dropped days, their pauses included).
        self.last_timings: dict[str, float] = {}

    async def get(self, app_id: int) -> Policy:
        async with self.db.read() as conn:
            row = (await conn.execute(select(app_retention).where(app_retention.c.app_id == app_id))).first()
        if row is None:
            return Policy(app_id, None, None, self.defaults)
        return Policy(app_id, row.request_days, row.payload_days, self.defaults)

    async def set(self, app_id: int, changes: dict[str, int | None]) -> Policy:
        """Change ``request_days`` and/or ``payload_days`` (a key absent: unchanged; None: the server's default)."""
        current = await self.get(app_id)
        request_days = check_days(changes.get("request_days", current.own_request_days), "request_days")
        payload_days = check_days(changes.get("payload_days", current.own_payload_days), "payload_days")
        values = {"app_id": app_id, "request_days": request_days, "payload_days": payload_days, "updated_at": utcnow()}
        async with self.db.write() as conn:
            await conn.execute(
                insert_replace(self.db, app_retention, ["app_id"], ["request_days", "payload_days", "updated_at"]),
                [values],
            )
        return Policy(app_id, request_days, payload_days, self.defaults)

    async def policies(self) -> list[Policy]:
        """Every application's (deleted ones too: their requests are kept, and expire, like any other)."""
        query = (
            select(applications.c.id, app_retention.c.request_days, app_retention.c.payload_days)
            .select_from(applications.outerjoin(app_retention, app_retention.c.app_id == applications.c.id))
            .order_by(applications.c.id)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [Policy(r.id, r.request_days, r.payload_days, self.defaults) for r in rows]

    async def sweep(self, now: datetime | None = None, renew: Renew | None = None) -> dict[str, int]:
        """Delete every expired request row (with its payload and limit links) and every expired payload; on
        PostgreSQL, create the next days' partitions and drop whole expired days first (``partitions``: days dropped,
        their rows counted in ``requests`` and ``payloads``)."""
        now = now or utcnow()
        removed = {"applications": 0, "requests": 0, "payloads": 0, "partitions": 0}
        clock = time.perf_counter()
        policies = await self.policies()
        await self._partitions(now, policies, removed)
        took = self.last_timings = {"partitions": time.perf_counter() - clock}
        filled = await self._fill_payloads(renew)
        if filled:
            log.info("retention: gave %s payloads written by an older server their request's time", filled)
        for policy in policies:
            if not policy.request_days and not policy.payload_days:
                continue
            done_requests = done_payloads = 0
            if policy.request_days:
                done_requests, payloads = await self._expire_requests(policy.app_id, now - policy.request_days * _DAY, renew)
                done_payloads += payloads
            if policy.payload_days:
                done_payloads += await self._expire_payloads(policy.app_id, now - policy.payload_days * _DAY, renew)
            if done_requests or done_payloads:
                removed["applications"] += 1
                removed["requests"] += done_requests
                removed["payloads"] += done_payloads
                log.info(
                    "retention: application %s: deleted %s requests and %s payloads",
                    policy.app_id, done_requests, done_payloads,
                )
        took["batches"] = time.perf_counter() - clock - took["partitions"]
        log.info("retention: swept in %.3f s (partitions %.3f s, batches %.3f s)", sum(took.values()), *took.values())
        return removed

    async def _expire_requests(self, app_id: int, cutoff: datetime, renew: Renew | None) -> tuple[int, int]:
        total = payloads = 0
        while True:
            done, gone = await self.db.request_log.expire_requests(app_id, cutoff, self.batch_size)
            total += done
            payloads += gone
            if done < self.batch_size or not await self._next(renew):
                return total, payloads

    async def _partitions(self, now: datetime, policies: list[Policy], removed: dict[str, int]) -> None:
        """The request log's next days (PostgreSQL: partitions, by the real date whatever ``now`` the sweep is run
        as), then the days every application's retention has expired, dropped whole (``RequestLog.drop_before`` the
        longest retention's cutoff); with any application kept forever, none."""
        request_log = self.db.request_log
        await request_log.prepare(utcnow().date())
        days = [p.request_days for p in policies] + [self.defaults.request_days]
        if not all(days):
            return
        for name, dropped in await request_log.drop_before(now - max(days) * _DAY):
            removed["partitions"] += 1
            removed["requests"] += dropped["requests"]
            removed["payloads"] += dropped["payloads"]
            log.info("retention: dropped partition %s (%s requests, %s payloads)", name, *dropped.values())

    async def default_rows(self) -> int:
        """Rows in the request log's DEFAULT partition (PostgreSQL; 0 when all is well, -1 on SQLite): a row lands
        there only when no partition covers its id."""
        found = await self.db.request_log.default_rows()
        if found > 0:
            log.warning("request log: %s rows in the DEFAULT partition (no day partition covered them)", found)
        return int(found)

    async def _expire_payloads(self, app_id: int, cutoff: datetime, renew: Renew | None) -> int:
        total = 0
        while True:
            done = await self.db.request_log.expire_payloads(app_id, cutoff, self.batch_size)
            total += done
            if done < self.batch_size or not await self._next(renew):
                return total

    async def _fill_payloads(self, renew: Renew | None) -> int:
        """Payloads a server older than migration 0006 wrote (a rolling upgrade) get their request's application and
        time; those whose request is gone are deleted."""
        total = 0
        while True:
            done = await self.db.request_log.fill_payloads(self.batch_size)
            total += done
            if done < self.batch_size or not await self._next(renew):
                return total

    async def _next(self, renew: Renew | None) -> bool:
        """Between batches: let the recorder write, and keep the lease (False: it was lost, stop)."""
        await asyncio.sleep(self.pause)
        return renew is None or await renew()


class Lease:
    """A named ``maintenance_leases`` row: one holder at a time, until it expires (a dead holder's is taken over)."""

    def __init__(self, db: Database, name: str, owner: int, ttl: float = 300.0) -> None:
        self.db = db
        self.name = name
        self.owner = owner
        self.ttl = timedelta(seconds=ttl)

    async def acquire(self, *, not_since: timedelta | None = None) -> bool:
        """Take (or renew) the lease. ``not_since``: unless a run finished less than that long ago."""
        now = utcnow()
        t = maintenance_leases
        async with self.db.write() as conn:
            await conn.execute(
                insert_ignore(self.db, t, ["name"]),
                [{"name": self.name, "owner": self.owner, "expires_at": now - timedelta(seconds=1)}],
            )
            conditions: list[Any] = [t.c.name == self.name, (t.c.owner == self.owner) | (t.c.expires_at <= now)]
            if not_since is not None:
                conditions.append(t.c.finished_at.is_(None) | (t.c.finished_at <= now - not_since))
            result = await conn.execute(
                update(t).where(*conditions).values(owner=self.owner, expires_at=now + self.ttl)
            )
        return bool(result.rowcount == 1)

    async def renew(self) -> bool:
        t = maintenance_leases
        now = utcnow()
        async with self.db.write() as conn:
            result = await conn.execute(
                update(t)
                .where(t.c.name == self.name, t.c.owner == self.owner, t.c.expires_at > now)
                .values(expires_at=now + self.ttl)
            )
        return bool(result.rowcount == 1)

    async def release(self, result: dict[str, Any] | None = None) -> None:
        t = maintenance_leases
        now = utcnow()
        values: dict[str, Any] = {"expires_at": now}
        if result is not None:
            values.update(finished_at=now, result=result)
        async with self.db.write() as conn:
            await conn.execute(update(t).where(t.c.name == self.name, t.c.owner == self.owner).values(**values))

    async def status(self) -> dict[str, Any] | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(maintenance_leases).where(maintenance_leases.c.name == self.name))).first()
        if row is None:
            return None
        return {
            "running": row.expires_at > utcnow(),
            "finished_at": row.finished_at.isoformat() if row.finished_at else None,
            "result": row.result,
        }


async def run_sweep(retention: Retention, lease: Lease, *, not_since: timedelta | None = None) -> dict[str, Any] | None:
    """One sweep under the lease; None when another process holds it (or, with ``not_since``, ran lately)."""
    if not await lease.acquire(not_since=not_since):
        return None
    started = utcnow()
    result: dict[str, Any] | None = None
    try:
        removed: dict[str, Any] = dict(await retention.sweep(renew=lease.renew))
        if not retention.db.is_sqlite:
            removed["default_rows"] = await retention.default_rows()
        result = {**removed, "started_at": started.isoformat(), "seconds": round((utcnow() - started).total_seconds(), 3)}
        return result
    finally:
        await lease.release(result)


class RetentionSweeper:
    """The server's background sweep: every ``interval`` seconds, one process (whichever takes the lease first
    once the last run is ``interval`` old) deletes what expired."""

    def __init__(
        self,
        retention: Retention,
        owner: int,
        interval: float,
        first_delay: float = 30.0,
        observe: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.retention = retention
        self.observe = observe
        self.lease = Lease(retention.db, LEASE_NAME, owner, ttl=max(60.0, min(interval, 600.0)))
        self.interval = interval
        self.first_delay = first_delay
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="retention-sweep")

    async def run_once(self) -> dict[str, Any] | None:
        result = await run_sweep(self.retention, self.lease, not_since=timedelta(seconds=self.interval))
        if result is not None and self.observe is not None:
            self.observe(result)
        return result

    async def _loop(self) -> None:
        await asyncio.sleep(min(self.first_delay, self.interval))
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away, say: try again next time
                log.exception("retention sweep failed")
            await asyncio.sleep(min(self.interval, 60.0))

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
        try:
            await self.lease.release()
        except Exception:  # noqa: S110 - shutting down with the database away: the lease expires by itself
            pass
