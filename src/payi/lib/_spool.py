"""The on-disk spool: ingest events that could not be delivered, kept until Pay-i is reachable again.

A spool is a directory of JSONL files, one event per line (``{"body": ..., "headers": ..., "query": ...}``; no
API key is ever written: the directory itself is per destination, see ``_config.destination_dir``).

- Files are written atomically: ``<name>.tmp`` then ``os.replace`` to ``<time>-<pid>-<random>.jsonl``, so a reader
  never sees half a file and names never collide between processes.
- A reader ``claim``s a file by taking an exclusive, non-blocking ``flock`` on it and checking that the path still
  names the inode it locked; the lock dies with the process, so a crashed sender never strands a file, and two
  processes never send the same file. After sending, the file is deleted (or rewritten with what was not sent)
  while the lock is still held.
- Events carry their ``provider_response_id``; the server de-duplicates on it, so a file that was sent but not yet
  deleted when a process died is harmless when another process sends it again.

Example:
    >>> import tempfile, pathlib
    >>> spool = Spool(pathlib.Path(tempfile.mkdtemp()))
    >>> _ = spool.write([{"body": {"category": "system.openai", "units": {}}}])
    >>> with spool.claim_next() as claimed:
    ...     [e["body"]["category"] for e in claimed.events]
    ['system.openai']
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

try:  # POSIX
    import fcntl

    def _try_lock(handle: IO[bytes]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

except ImportError:  # pragma: no cover - Windows
    import msvcrt

    def _try_lock(handle: IO[bytes]) -> bool:
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True


__all__ = ["ClaimedFile", "Spool"]

log = logging.getLogger("payi.instrument")

Event = dict[str, Any]


class ClaimedFile:
    """A locked spool file: read its ``events``, then ``done()`` or ``keep(remaining)``."""

    def __init__(self, spool: Spool, path: Path, handle: IO[bytes], events: list[Event]) -> None:
        self.spool = spool
        self.path = path
        self.events = events
        self._handle = handle
        self._settled = False

    def done(self) -> None:
        """Every event was delivered (or given up): delete the file."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._settled = True

    def keep(self, remaining: Sequence[Event]) -> None:
        """Only ``remaining`` still need sending: write them to a new file, then delete this one."""
        if remaining:
            self.spool.write(remaining)
        self.done()

    def release(self) -> None:
        self._handle.close()


class Spool:
    """One destination's spool directory (created on first write)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def write(self, events: Sequence[Event]) -> Path | None:
        """Write ``events`` as one new file, atomically; returns its path (``None`` when there was nothing)."""
        if not events:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        tmp = self.directory / f"{name}.tmp"
        final = self.directory / f"{name}.jsonl"
        with open(tmp, "w", encoding="utf-8") as out:
            for event in events:
                out.write(json.dumps(event, separators=(",", ":"), ensure_ascii=False, default=str))
                out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
        return final

    def pending(self) -> list[Path]:
        """Spool files waiting to be sent, oldest first."""
        try:
            return sorted(self.directory.glob("*.jsonl"))
        except OSError:
            return []

    def _claim(self, path: Path) -> ClaimedFile | None:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - held open for the lock's lifetime
        except OSError:
            return None
        try:
            if not _try_lock(handle):
                handle.close()
                return None
            if os.stat(path).st_ino != os.fstat(handle.fileno()).st_ino:
                handle.close()  # deleted (or replaced) by the process that held the lock before us
                return None
            events = _read_events(handle.read(), path)
        except OSError:
            handle.close()
            return None
        return ClaimedFile(self, path, handle, events)

    @contextlib.contextmanager
    def claim_next(self) -> Iterator[ClaimedFile | None]:
        """The oldest spool file no other process holds, locked for the duration of the block (or ``None``)."""
        claimed: ClaimedFile | None = None
        for path in self.pending():
            claimed = self._claim(path)
            if claimed is not None:
                break
        try:
            yield claimed
        finally:
            if claimed is not None:
                claimed.release()


def _read_events(raw: bytes, path: Path) -> list[Event]:
    events: list[Event] = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            log.warning("Pay-i spool: skipping an unreadable line %d of %s", number, path.name)
            continue
        if isinstance(event, dict) and isinstance(event.get("body"), dict):
            events.append(event)
    return events
