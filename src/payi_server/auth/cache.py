"""Key verification with an in-process cache that every server process keeps consistent within a second.

A warm request costs a dict lookup (the shape check and one HMAC the first time a key is presented), no database
round trip. Through the process's ``ChangeFeed``
(``store.changes``, polled every ``key_refresh_interval`` seconds, 0.25 by default) it drops the cached copy of
any key or application that changed, so a revoked or regenerated key stops working everywhere within a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, select, update

from ..errors import invalid_api_key
from ..store.changes import ChangeFeed, utcnow
from ..store.engine import Database
from ..store.tables import api_keys, applications
from .keys import MAX_KEY_LENGTH, KeyHasher, KeyKind, parse_key

log = logging.getLogger("payi_server.auth")

_LAST_USED_RESOLUTION = 30.0  # seconds between writes of one key's last_used_at


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


class KeyCache:
    def __init__(self, db: Database, hasher: KeyHasher, *, max_size: int) -> None:
        self._db = db
        self._hasher = hasher
        self._max_size = max_size
        self._entries: dict[str, _Entry] = {}
        # A key as presented -> (its lookup id, the entry it verified against): a warm request of a key seen
        # before skips the shape check and the HMAC (together a few percent of a proxied call's time).
        self._verified: dict[str, tuple[str, _Entry]] = {}
        self._loading: dict[str, asyncio.Future[_Entry | None]] = {}
        self._used: dict[int, float] = {}
        self._used_written: dict[int, float] = {}

    # --- lifecycle ---------------------------------------------------------------------------------
    def attach(self, feed: ChangeFeed) -> None:
        """Drop cached keys and applications as soon as any process changes them."""
        feed.subscribe("key", self.invalidate)
        feed.subscribe("app", lambda app_id: self.invalidate_app(int(app_id)))
        feed.every_poll(self._flush_last_used)

    async def stop(self) -> None:
        try:
            await self._flush_last_used(force=True)
        except Exception:  # noqa: BLE001 - shutdown must go on
            log.warning("could not record key last-used times at shutdown")

    # --- verification ------------------------------------------------------------------------------
    async def authenticate(self, raw: str | None) -> Principal:
        if not raw or len(raw) > MAX_KEY_LENGTH:
            raise invalid_api_key()
        seen = self._verified.get(raw)
        if seen is not None and self._entries.get(seen[0]) is seen[1]:
            # This very key verified against the entry still cached (a changed or revoked key is dropped from
            # ``_entries``, and with it this shortcut).
            known = seen[1]
            if known.expires_at is not None and known.expires_at <= utcnow():
                raise invalid_api_key()
            self._used[known.principal.key_id] = time.time()
            return known.principal
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
        if len(self._verified) >= self._max_size:
            self._verified.clear()
        self._verified[raw] = (parsed.lookup_id, entry)
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
