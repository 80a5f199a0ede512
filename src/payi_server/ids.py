"""Snowflake ids for request records: time-ordered 63-bit integers, unique across server processes.

``(milliseconds since 2024-01-01) << 22 | node << 12 | sequence``. The node number comes from the ``nodes``
table at start-up, so two live processes never share one (it wraps after 1024 process starts).
Pay-i returns ids as numeric strings; so do we.
"""

from __future__ import annotations

import time

EPOCH_MS = 1_704_067_200_000
NODE_BITS = 10
SEQ_BITS = 12
_MAX_SEQ = (1 << SEQ_BITS) - 1
MAX_ID = 2**63 - 1  # every numeric id column is a 64-bit BIGINT (an INTEGER on SQLite)


def numeric_id(value: str) -> int | None:
    """An id from a path or form as the databases store it: ASCII digits only ("³".isdigit() is true, "١" is
    int 1), at most ``MAX_ID``; anything else is None (not found), never an OverflowError at the database."""
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        return None
    number = int(value)
    return number if number <= MAX_ID else None


class IdGenerator:
    def __init__(self, node: int) -> None:
        self.node = node & ((1 << NODE_BITS) - 1)
        self._last_ms = 0
        self._seq = 0

    def next(self) -> int:
        ms = int(time.time() * 1000) - EPOCH_MS
        if ms <= self._last_ms:
            # Same millisecond, or the clock stepped back: stay monotonic on the last timestamp.
            ms = self._last_ms
            self._seq += 1
            if self._seq > _MAX_SEQ:
                ms += 1
                self._seq = 0
        else:
            self._seq = 0
        self._last_ms = ms
        return (ms << (NODE_BITS + SEQ_BITS)) | (self.node << SEQ_BITS) | self._seq

    def next_str(self) -> str:
        return str(self.next())
