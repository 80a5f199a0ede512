"""Brute-force protection: a source that keeps failing to authenticate is answered 429 for a while.

- A *source* is what failures are counted for: ``key:<client address>`` for API keys, and
  ``signin:<account>|<client address>`` for dashboard sign-in (per account and address, so one address guessing
  cannot lock an account out everywhere, nor one account's guesser lock out its neighbours' accounts).
- Only failures count, and only failures are refused: a valid API key is never throttled, whoever failed from
  its address (``authenticate_request`` verifies the key first and calls ``failed`` only for a bad one). Sign-in
  checks ``check`` before the password, because a password can be guessed and a key (190 random bits) cannot.
- Counts are shared by every server process through the ``auth_failures`` table (a fixed window per source,
  ``auth_failure_limit`` failures per ``auth_failure_window`` seconds), so N workers do not give N times the
  budget. A process remembers the sources it saw run out and refuses them without a database round trip until
  their window ends; an attacker's requests beyond the budget therefore cost no writes. Without a database (or
  while it is unreachable) the counts are kept in the process.
- The clock is wall-clock seconds (shared across processes), injectable for tests.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ..errors import ApiError, api_error
from ..store.engine import Database
from ..store.tables import auth_failures

log = logging.getLogger("payi_server.auth")

_SOURCE_LENGTH = 400


def key_source(address: str) -> str:
    """The source an API key's failures count for: the client address."""
    return f"key:{address}"[:_SOURCE_LENGTH]


def sign_in_source(account: str, address: str) -> str:
    """The source a dashboard sign-in's failures count for: the account (case-insensitive) and the address."""
    return f"signin:{account.strip().lower()[:254]}|{address}"[:_SOURCE_LENGTH]


class FailureThrottle:
    def __init__(
        self,
        limit: int,
        window: float,
        db: Database | None = None,
        *,
        clock: Callable[[], float] = time.time,
        max_sources: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.db = db
        self.clock = clock
        self.max_sources = max_sources
        self._until: dict[str, float] = {}  # sources known to be out of failures: until when
        self._local: dict[str, tuple[float, int]] = {}  # (window start, failures) when there is no database
        self._last_prune = 0.0

    def _refused(self, until: float, now: float) -> ApiError:
        wait = max(1, math.ceil(until - now))
        return api_error("too_many_failed_attempts", headers={"retry-after": str(wait)})

    def _known_out(self, source: str, now: float) -> float | None:
        until = self._until.get(source)
        if until is not None and now >= until:
            del self._until[source]
            return None
        return until

    def _ran_out(self, source: str, until: float) -> None:
        if len(self._until) >= self.max_sources:
            self._until.clear()
        self._until[source] = until

    async def check(self, source: str) -> None:
        """Raise 429 if ``source`` has used up its failures in the current window (asks the shared table)."""
        now = self.clock()
        until = self._known_out(source, now)
        if until is None:
            start, failures = await self._read(source, now)
            if failures < self.limit:
                return
            until = start + self.window
            self._ran_out(source, until)
        raise self._refused(until, now)

    async def failed(self, source: str) -> None:
        """Count one failure of ``source``; raise 429 if it is beyond the budget (else the caller answers 401)."""
        now = self.clock()
        until = self._known_out(source, now)
        if until is not None:
            raise self._refused(until, now)
        start, failures = await self._add(source, now)
        if failures >= self.limit:
            self._ran_out(source, start + self.window)
        if failures > self.limit:
            raise self._refused(start + self.window, now)

    # --- the counts: the shared table, or this process when there is none ------------------------------------
    async def _read(self, source: str, now: float) -> tuple[float, int]:
        if self.db is not None:
            try:
                async with self.db.read() as conn:
                    row = (
                        await conn.execute(
                            select(auth_failures.c.window_start, auth_failures.c.failures).where(
                                auth_failures.c.source == source
                            )
                        )
                    ).first()
                if row is None or now - row.window_start >= self.window:
                    return now, 0
                return float(row.window_start), int(row.failures)
            except Exception:  # noqa: BLE001 - the database away: count in this process meanwhile
                log.warning("auth failure counts unavailable; counting in this process")
        return self._read_local(source, now)

    async def _add(self, source: str, now: float) -> tuple[float, int]:
        if now - self._last_prune >= self.window:
            await self._prune(now)
        if self.db is not None:
            try:
                return await self._add_shared(self.db, source, now)
            except Exception:  # noqa: BLE001 - the database away: count in this process meanwhile
                log.warning("auth failure counts unavailable; counting in this process")
        start, failures = self._read_local(source, now)
        if len(self._local) >= self.max_sources:
            self._local.clear()
        self._local[source] = (start, failures + 1)
        return start, failures + 1

    def _read_local(self, source: str, now: float) -> tuple[float, int]:
        start, failures = self._local.get(source, (now, 0))
        return (now, 0) if now - start >= self.window else (start, failures)

    async def _add_shared(self, db: Database, source: str, now: float) -> tuple[float, int]:
        table = auth_failures
        insert = (sqlite.insert(table) if db.is_sqlite else postgresql.insert(table)).values(
            source=source, window_start=now, failures=1
        )
        ended = table.c.window_start <= now - self.window
        stmt = insert.on_conflict_do_update(
            index_elements=[table.c.source],
            set_={
                "failures": case((ended, 1), else_=table.c.failures + 1),
                "window_start": case((ended, now), else_=table.c.window_start),
            },
        ).returning(table.c.window_start, table.c.failures)
        async with db.write() as conn:
            row = (await conn.execute(stmt)).one()
        return float(row.window_start), int(row.failures)

    async def _prune(self, now: float) -> None:
        self._last_prune = now
        self._local = {s: v for s, v in self._local.items() if now - v[0] < self.window}
        self._until = {s: u for s, u in self._until.items() if now < u}
        if self.db is None:
            return
        try:
            async with self.db.write() as conn:
                await conn.execute(delete(auth_failures).where(auth_failures.c.window_start <= now - self.window))
        except Exception:  # noqa: BLE001 - pruned next time
            log.debug("could not prune auth failure counts")
