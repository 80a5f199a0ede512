"""Optional: block-limit budgets held in Redis, so that a reservation is one Redis round trip instead of a
locking database transaction (``PAYI_SERVER_REDIS_URL``).

The database stays the ledger (spend, counts, history are charged there by the recorder); Redis holds, per block
limit, the spend as of the last sync with the database, the holds of calls in flight, and the limit's rule.
Check-and-hold runs in one Lua script, so it is atomic across every process that shares the Redis:

- a limit's Redis state is (re)loaded from the database when missing or older than ``resync`` seconds (its spend,
  plus what the database path holds for calls it admitted while Redis was away);
- expired holds (a crashed process) are dropped before each check;
- when the recorder has charged a call in the database, ``settle`` adds the cost to the Redis spend and drops the
  call's hold.

Any Redis error makes the caller fall back to the database path (``ledger.reserve``), which is correct on its own:
enforcement degrades to slower, never to open. Amounts are integers of 1e-10 USD (exact in Lua below ~$900k).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select

from ..store.engine import Database
from ..store.tables import limits
from .ledger import ReserveOutcome
from .model import ZERO

log = logging.getLogger("payi_server.limits.shared")

_SCALE = Decimal(10**10)
_KEY_TTL = 3600
_BACKOFF = 5.0
_ROW_TTL = 1.0

_RESERVE = """
local now = tonumber(ARGV[1]); local est = tonumber(ARGV[2]); local rid = ARGV[3]
local expiry = tonumber(ARGV[4]); local resync = tonumber(ARGV[5])
local n = #KEYS / 3
for i = 0, n - 1 do
  local synced = redis.call('HGET', KEYS[i*3+1], 'synced')
  if not synced or now - tonumber(synced) > resync then return {'stale', tostring(i)} end
end
for i = 0, n - 1 do
  local h, r, a = KEYS[i*3+1], KEYS[i*3+2], KEYS[i*3+3]
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', r, '-inf', now)) do
    local amt = tonumber(redis.call('HGET', a, id) or '0')
    redis.call('HINCRBY', h, 'reserved', -amt)
    redis.call('HDEL', a, id)
    redis.call('ZREM', r, id)
  end
end
local blocked = {}
for i = 0, n - 1 do
  local h = KEYS[i*3+1]
  local spent = tonumber(redis.call('HGET', h, 'spent'))
  local held = tonumber(redis.call('HGET', h, 'reserved')) + tonumber(redis.call('HGET', h, 'dbheld'))
  local max = tonumber(redis.call('HGET', h, 'max'))
  local ok
  if redis.call('HGET', h, 'enf') == 'strict' then ok = spent + held + est <= max else ok = spent + held < max end
  if not ok then table.insert(blocked, tostring(i)) end
end
if #blocked > 0 then
  table.insert(blocked, 1, 'blocked')
  return blocked
end
if est > 0 then
  for i = 0, n - 1 do
    redis.call('HINCRBY', KEYS[i*3+1], 'reserved', est)
    redis.call('ZADD', KEYS[i*3+2], expiry, rid)
    redis.call('HSET', KEYS[i*3+3], rid, est)
  end
end
return {'ok'}
"""

_SETTLE = """
local rid = ARGV[1]
local n = #KEYS / 3
for i = 0, n - 1 do
  local h, r, a = KEYS[i*3+1], KEYS[i*3+2], KEYS[i*3+3]
  if redis.call('EXISTS', h) == 1 then
    local amt = redis.call('HGET', a, rid)
    if amt then
      redis.call('HINCRBY', h, 'reserved', -tonumber(amt))
      redis.call('HDEL', a, rid)
      redis.call('ZREM', r, rid)
    end
    redis.call('HINCRBY', h, 'spent', tonumber(ARGV[i + 2]))
  end
end
return 'ok'
"""


def _units(value: Decimal) -> int:
    return int((value * _SCALE).to_integral_value())




class SharedLimits:
    def __init__(self, client: Redis, *, resync: float = 5.0, prefix: str = "payi") -> None:
        self._redis = client
        self._prefix = prefix
        self._resync_ms = int(resync * 1000)
        self._down_until = 0.0
        self._row_cache: dict[tuple[int, str], tuple[Any, float]] = {}
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)

    def _keys(self, pk: int) -> list[str]:
        base = f"{self._prefix}:limit:{{{pk}}}"  # one hash slot per limit (Redis Cluster)
        return [base, base + ":holds", base + ":amounts"]

    async def close(self) -> None:
        await self._redis.aclose()

    async def _rows(self, db: Database, app_id: int, limit_ids: list[str]) -> dict[str, Any]:
        """The limits' rows, remembered for a second (their rule rarely changes; spend is synced separately)."""
        now = time.monotonic()
        found: dict[str, Any] = {}
        wanted = []
        for limit_id in limit_ids:
            cached = self._row_cache.get((app_id, limit_id))
            if cached is not None and now - cached[1] < _ROW_TTL:
                found[limit_id] = cached[0]
            else:
                wanted.append(limit_id)
        if wanted:
            query = select(limits).where(
                limits.c.app_id == app_id, limits.c.limit_id.in_(wanted), limits.c.deleted_at.is_(None)
            )
            async with db.read() as conn:
                rows = (await conn.execute(query)).all()
            if len(self._row_cache) > 100_000:
                self._row_cache.clear()
            for row in rows:
                self._row_cache[(app_id, row.limit_id)] = (row, now)
                found[row.limit_id] = row
        return found

    async def _sync(self, rows: Iterable[Any], now_ms: int) -> None:
        pipe = self._redis.pipeline(transaction=True)
        for row in rows:
            h, holds, amounts = self._keys(row.id)
            pipe.hset(
                h,
                mapping={
                    "spent": _units(row.spent_total),
                    "dbheld": _units(row.reserved),
                    "max": _units(row.max),
                    "enf": row.enforcement or "default",
                    "synced": now_ms,
                },
            )
            pipe.hsetnx(h, "reserved", 0)
            for key in (h, holds, amounts):
                pipe.expire(key, _KEY_TTL)
        await pipe.execute()

    async def reserve(
        self, db: Database, app_id: int, limit_ids: list[str], estimate: Decimal, *, reservation_id: int, ttl: float
    ) -> ReserveOutcome:
        """Check every named limit and hold ``estimate`` on the block limits, in Redis. Raises on Redis errors
        (and, for a few seconds after one, at once: a hanging Redis must not slow every call down)."""
        if time.monotonic() < self._down_until:
            raise ConnectionError("shared limits marked unavailable")
        try:
            return await self._reserve_in_redis(db, app_id, limit_ids, estimate, reservation_id, ttl)
        except Exception:
            self._down_until = time.monotonic() + _BACKOFF
            raise

    async def _reserve_in_redis(
        self, db: Database, app_id: int, limit_ids: list[str], estimate: Decimal, reservation_id: int, ttl: float
    ) -> ReserveOutcome:
        outcome = ReserveOutcome()
        rows = await self._rows(db, app_id, limit_ids)
        outcome.missing = [i for i in limit_ids if i not in rows]
        if outcome.missing:
            return outcome
        for limit_id, row in rows.items():
            outcome.types[limit_id] = row.limit_type
            outcome.snapshot[limit_id] = (row.spent_total, row.max, row.threshold)
        block = [rows[i] for i in limit_ids if rows[i].limit_type == "block"]
        if not block:
            return outcome
        keys = [k for row in block for k in self._keys(row.id)]
        for _attempt in range(2):
            now_ms = int(time.time() * 1000)
            args = [now_ms, _units(estimate), reservation_id, now_ms + int(ttl * 1000), self._resync_ms]
            answer = [x.decode() if isinstance(x, bytes) else str(x) for x in await self._reserve(keys=keys, args=args)]
            if answer[0] == "stale":
                await self._sync(block, now_ms)
                continue
            if answer[0] == "blocked":
                outcome.blocked = [block[int(i)].limit_id for i in answer[1:]]
                outcome.states = {
                    i: ("blocked" if i in outcome.blocked else "blocked_external") for i in limit_ids
                }
                outcome.count_blocked_on_record = True
                return outcome
            if estimate > ZERO:
                outcome.reserved_pks = [row.id for row in block]
                outcome.shared = True
            return outcome
        raise RuntimeError("shared limit state could not be synchronised")

    async def settle(self, reservation_id: int | None, charges: dict[int, Decimal]) -> None:
        """After the database charged a call: add its cost to the shared spend and drop its hold."""
        if not charges:
            return
        pks = sorted(charges)
        keys = [k for pk in pks for k in self._keys(pk)]
        await self._settle(keys=keys, args=[reservation_id or 0, *(_units(charges[pk]) for pk in pks)])
