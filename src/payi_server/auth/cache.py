"""Key verification with an in-process cache that every server process keeps consistent within a second.

A warm request costs a dict lookup and one HMAC, no database round trip. Each process polls the
``auth_changes`` table (every ``key_refresh_interval`` seconds, 0.25 by default) and drops the cached copy of any
key or application that changed, so a revoked or regenerated key stops working everywhere within a second.
The poll looks back a few seconds on the database's own clock, so a transaction that commits late is not missed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update

from ..errors import invalid_api_key
from ..store.engine import Database
from ..store.tables import api_keys, applications, auth_changes
from .keys import MAX_KEY_LENGTH, KeyHasher, KeyKind, parse_key

log = logging.getLogger("payi_server.auth")

_LOOKBACK = timedelta(seconds=5)
_LAST_USED_RESOLUTION = 30.0  # seconds between writes of one key's last_used_at
_PRUNE_AFTER = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key and what it belongs to."""

    key_id: int
    kind: KeyKind
    org_id: int
    app_id: int | None
    app_name: str | None = None
    store_prompts: bool = False

    @property
    def app_id_str(self) -> str:
        return str(self.app_id) if self.app_id is not None else ""


@dataclass(frozen=True, slots=True)
class _Entry:
    key_hash: str
    principal: Principal
    expires_at: datetime | None
    revoked: bool
    loaded_at: float


def utcnow() -> datetime:
    return datetime.now(UTC)


async def record_change(conn: Any, db: Database, entity: str, entity_id: str) -> None:
    """Note, inside the caller's transaction, that a key or application changed."""
    changed_at: Any = utcnow() if db.is_sqlite else func.clock_timestamp()
    await conn.execute(auth_changes.insert().values(entity=entity, entity_id=entity_id, changed_at=changed_at))


class KeyCache:
    def __init__(self, db: Database, hasher: KeyHasher, *, refresh_interval: float, max_size: int) -> None:
        self._db = db
        self._hasher = hasher
        self._interval = refresh_interval
        self._max_size = max_size
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, asyncio.Future[_Entry | None]] = {}
        self._seen_changes: dict[int, datetime] = {}
        self._since: datetime | None = None
        self._used: dict[int, float] = {}
        self._used_written: dict[int, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        self._poll_failures = 0

    # --- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self._since = await self._db_now()
        self._task = asyncio.create_task(self._run(), name="payi-key-cache")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        try:
            await self._flush_last_used(force=True)
        except Exception:  # noqa: BLE001 - shutdown must go on
            log.warning("could not record key last-used times at shutdown")

    # --- verification ------------------------------------------------------------------------------
    async def authenticate(self, raw: str | None) -> Principal:
        if not raw or len(raw) > MAX_KEY_LENGTH:
            raise invalid_api_key()
        parsed = parse_key(raw.strip())
        if parsed is None:
            raise invalid_api_key()
        entry = self._entries.get(parsed.lookup_id)
        if entry is None:
            entry = await self._load(parsed.lookup_id)
            if entry is None:
                raise invalid_api_key()
        if entry.revoked or not self._hasher.verify(raw.strip(), entry.key_hash):
            raise invalid_api_key()
        if entry.expires_at is not None and entry.expires_at <= utcnow():
            raise invalid_api_key()
        self._used[entry.principal.key_id] = time.time()
        return entry.principal

    def invalidate(self, lookup_id: str) -> None:
        self._entries.pop(lookup_id, None)

    def invalidate_app(self, app_id: int) -> None:
        for lookup, entry in list(self._entries.items()):
            if entry.principal.app_id == app_id:
                self._entries.pop(lookup, None)

    async def _load(self, lookup_id: str) -> _Entry | None:
        pending = self._loading.get(lookup_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[_Entry | None] = asyncio.get_running_loop().create_future()
        self._loading[lookup_id] = future
        try:
            entry = await self._fetch(lookup_id)
            if entry is not None:
                if len(self._entries) >= self._max_size:
                    for stale in list(self._entries)[: self._max_size // 10 or 1]:
                        self._entries.pop(stale, None)
                self._entries[lookup_id] = entry
            future.set_result(entry)
            return entry
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            self._loading.pop(lookup_id, None)

    async def _fetch(self, lookup_id: str) -> _Entry | None:
        query = (
            select(
                api_keys.c.id,
                api_keys.c.kind,
                api_keys.c.org_id,
                api_keys.c.app_id,
                api_keys.c.key_hash,
                api_keys.c.expires_at,
                api_keys.c.revoked_at,
                applications.c.name.label("app_name"),
                applications.c.store_prompts,
                applications.c.deleted_at,
            )
            .select_from(api_keys.outerjoin(applications, applications.c.id == api_keys.c.app_id))
            .where(api_keys.c.lookup_id == lookup_id)
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        principal = Principal(
            key_id=row.id,
            kind=KeyKind(row.kind),
            org_id=row.org_id,
            app_id=row.app_id,
            app_name=row.app_name,
            store_prompts=bool(row.store_prompts),
        )
        return _Entry(
            key_hash=row.key_hash,
            principal=principal,
            expires_at=row.expires_at,
            revoked=row.revoked_at is not None or row.deleted_at is not None,
            loaded_at=time.monotonic(),
        )

    # --- consistency across processes --------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.poll_once()
                await self._flush_last_used()
                self._poll_failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep polling; the database may come back
                self._poll_failures += 1
                if self._poll_failures == 1 or self._poll_failures % 100 == 0:
                    log.warning("key cache refresh failed (%s): %s", self._poll_failures, type(exc).__name__)

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
        query = select(auth_changes.c.id, auth_changes.c.entity, auth_changes.c.entity_id).where(
            auth_changes.c.changed_at > since
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        for row in rows:
            if row.id in self._seen_changes:
                continue
            self._seen_changes[row.id] = now
            if row.entity == "key":
                self.invalidate(row.entity_id)
            elif row.entity == "app":
                self.invalidate_app(int(row.entity_id))
        horizon = now - 2 * _LOOKBACK
        for change_id, seen in list(self._seen_changes.items()):
            if seen < horizon:
                del self._seen_changes[change_id]
        self._since = now
        if time.monotonic() - self._last_prune > 300:
            self._last_prune = time.monotonic()
            async with self._db.write() as conn:
                await conn.execute(delete(auth_changes).where(auth_changes.c.changed_at < now - _PRUNE_AFTER))

    async def _flush_last_used(self, *, force: bool = False) -> None:
        if not self._used:
            return
        now = time.time()
        due = [
            (key_id, at)
            for key_id, at in self._used.items()
            if force or now - self._used_written.get(key_id, 0.0) >= _LAST_USED_RESOLUTION
        ]
        if not due:
            return
        stmt = (
            update(api_keys)
            .where(api_keys.c.id == bindparam("kid"))
            .values(last_used_at=bindparam("at"))
            .execution_options(synchronize_session=False)
        )
        async with self._db.write() as conn:
            await conn.execute(stmt, [{"kid": k, "at": datetime.fromtimestamp(t, UTC)} for k, t in due])
        for key_id, at in due:
            self._used_written[key_id] = now
            if self._used.get(key_id) == at:
                del self._used[key_id]
