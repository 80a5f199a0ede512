"""Which limits exist and whether they block, remembered for a second per process.

A proxied call naming only ``allow`` limits needs no reservation (nothing can block it), so the proxy skips the
reservation transaction when every named limit is known, recently, to be an allow limit. Unknown ids are never
remembered as missing: they go through the reservation, which validates them. A limit changed or deleted within
the second is handled where it matters: the ledger charges what exists when the call is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

TTL = 1.0


class LimitDirectory:
    def __init__(self, ttl: float = TTL, max_size: int = 100_000) -> None:
        self._ttl = ttl
        self._max = max_size
        self._types: dict[tuple[int, str], tuple[str, float]] = {}

    def all_allow(self, app_id: int, limit_ids: Iterable[str]) -> bool:
        """True when every id is known (within the TTL) to be an allow limit of this application."""
        now = time.monotonic()
        for limit_id in limit_ids:
            entry = self._types.get((app_id, limit_id))
            if entry is None or entry[0] != "allow" or now - entry[1] > self._ttl:
                return False
        return True

    def remember(self, app_id: int, types: dict[str, str]) -> None:
        if len(self._types) >= self._max:
            self._types.clear()
        now = time.monotonic()
        for limit_id, limit_type in types.items():
            self._types[(app_id, limit_id)] = (limit_type, now)
