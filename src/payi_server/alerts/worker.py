"""The alerts loop of one server process: detect transitions, then send what is due, every ``interval``."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx2

from ..store.engine import Database
from .deliver import TIMEOUT, deliver_due
from .detect import detect

log = logging.getLogger("payi.alerts")
INTERVAL = 2.0


class AlertWorker:
    def __init__(self, db: Database, interval: float = INTERVAL) -> None:
        self.db = db
        self.interval = interval
        self.http = httpx2.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> tuple[int, int]:
        """``(events recorded, deliveries sent or tried)``."""
        return await detect(self.db), await deliver_due(self.db, self.http)

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not end the loop
                log.exception("alerts: a round failed")
            await asyncio.sleep(self.interval)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="payi-alerts")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if not self.http.is_closed:
            await self.http.aclose()
