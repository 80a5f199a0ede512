"""Cross-process cache invalidation through the ``change_log`` table.

A writer notes a change (``record_change``) in the same transaction as the change itself. Every server process
runs one ``ChangeFeed`` that polls the table (every 0.25 s by default) and hands each new change to the callbacks
registered for its entity (``"key"``, ``"app"``, ``"catalog"`` ...). The poll looks back a few seconds on the
database's own clock, so a transaction that commits late is not missed, and each change is delivered once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from .engine import Database
from .tables import change_log

if TYPE_CHECKING:  # imported only where Redis is configured (7 MB a process)
    from redis.asyncio import Redis

log = logging.getLogger("payi_server.changes")

_LOOKBACK = timedelta(seconds=5)
_PRUNE_AFTER = timedelta(hours=1)

Callback = Callable[[str], Awaitable[None] | None]


def utcnow() -> datetime:
    return datetime.now(UTC)


async def record_change(conn: Any, db: Database, entity: str, entity_id: str) -> None:
    """Note, inside the caller's transaction, that something cached elsewhere changed."""
    changed_at: Any = utcnow() if db.is_sqlite else func.clock_timestamp()
    await conn.execute(change_log.insert().values(entity=entity, entity_id=entity_id, changed_at=changed_at))


class ChangeFeed:
    def __init__(self, db: Database, *, interval: float) -> None:
        self._db = db
        self._interval = interval
        self._callbacks: dict[str, list[Callback]] = {}
        self._periodic: list[Callable[[], Awaitable[None]]] = []
        self._seen: dict[int, datetime] = {}
        self._since: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        self._failures = 0
        self._redis: Redis | None = None
        self._channel = ""
        self._listener: asyncio.Task[None] | None = None

    def use_redis(self, client: Redis, channel: str) -> None:
        """Also wake up as soon as any process announces a change (the database poll stays, as the fallback)."""
        self._redis = client
        self._channel = channel

    async def poke(self) -> None:
        """Announce, after a commit, that something cached changed: every process polls at once."""
        if self._redis is None:
            return
        try:
            await self._redis.publish(self._channel, b"1")
        except Exception:  # noqa: BLE001 - the poll interval still bounds the delay
            log.debug("could not announce a change through Redis")

    async def _listen(self) -> None:
        assert self._redis is not None
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(self._channel)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - Redis away: polling carries on; try again shortly
                await asyncio.sleep(2.0)

    def subscribe(self, entity: str, callback: Callback) -> None:
        self._callbacks.setdefault(entity, []).append(callback)

    def every_poll(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` after each poll (small periodic chores, e.g. flushing key last-used times)."""
        self._periodic.append(work)

    async def start(self) -> None:
        self._since = await self._db_now()
        self._task = asyncio.create_task(self._run(), name="payi-change-feed")
        if self._redis is not None:
            self._listener = asyncio.create_task(self._listen(), name="payi-change-feed-redis")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except asyncio.CancelledError:
                pass
            self._listener = None
        if self._redis is not None:
            await self._redis.aclose()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.poll_once()
                for work in self._periodic:
                    await work()
                self._failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep polling; the database may come back
                self._failures += 1
                if self._failures == 1 or self._failures % 100 == 0:
                    log.warning("change feed poll failed (%s times): %s", self._failures, type(exc).__name__)

    async def _db_now(self) -> datetime:
        if self._db.is_sqlite:
            return utcnow()
        async with self._db.read() as conn:
            value = (await conn.execute(select(func.clock_timestamp()))).scalar_one()
        assert isinstance(value, datetime)
        return value.astimezone(UTC)

    async def poll_once(self) -> None:
        now = await self._db_now()
        since = (self._since or now) - _LOOKBACK
        query = select(change_log.c.id, change_log.c.entity, change_log.c.entity_id).where(
            change_log.c.changed_at > since
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        for row in rows:
            if row.id in self._seen:
                continue
            self._seen[row.id] = now
            for callback in self._callbacks.get(row.entity, ()):
                result = callback(row.entity_id)
                if result is not None:
                    await result
        horizon = now - 2 * _LOOKBACK
        for change_id, seen in list(self._seen.items()):
            if seen < horizon:
                del self._seen[change_id]
        self._since = now
        if time.monotonic() - self._last_prune > 300:
            self._last_prune = time.monotonic()
            async with self._db.write() as conn:
                await conn.execute(delete(change_log).where(change_log.c.changed_at < now - _PRUNE_AFTER))
