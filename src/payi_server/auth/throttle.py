"""Brute-force protection: a client address that keeps presenting bad keys is refused with 429 for a while.

Counted per process, in a fixed window per address (``auth_failure_limit`` failures per
``auth_failure_window`` seconds); the answer carries ``retry-after``. Memory is bounded: the table is pruned
as windows end, and cleared if it ever holds more addresses than ``max_clients``.
"""

from __future__ import annotations

import math
import time

from ..errors import ApiError


class FailureThrottle:
    def __init__(self, limit: int, window: float, max_clients: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._counts: dict[str, tuple[float, int]] = {}
        self._last_prune = time.monotonic()

    def check(self, client: str) -> None:
        """Raise 429 if ``client`` used up its failures in the current window."""
        entry = self._counts.get(client)
        if entry is None:
            return
        start, count = entry
        now = time.monotonic()
        if now - start >= self.window:
            del self._counts[client]
            return
        if count >= self.limit:
            wait = max(1, math.ceil(self.window - (now - start)))
            raise ApiError(
                429,
                "too_many_failed_attempts",
                "Too many requests with an invalid api key from this address; try again later",
                headers={"retry-after": str(wait)},
            )

    def failed(self, client: str) -> None:
        now = time.monotonic()
        if now - self._last_prune > self.window:
            self._prune(now)
        start, count = self._counts.get(client, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        self._counts[client] = (start, count + 1)

    def _prune(self, now: float) -> None:
        self._last_prune = now
        if len(self._counts) > self.max_clients:
            self._counts.clear()
            return
        for client, (start, _) in list(self._counts.items()):
            if now - start >= self.window:
                del self._counts[client]
