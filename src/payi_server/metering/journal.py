"""Write-ahead journal of proxied calls: a call the provider answered is not lost when our process dies.

The proxy answers a call before the group-commit task has written its request record. Each server process keeps
a journal on local disk: one JSON line (orjson) per step of a call, copied into a shared memory map of the file
(``_File``; appended with a single ``os.write`` where the file cannot be mapped), with no system call, no fsync and
no await on the request path:

* ``started``  - everything needed to record the call later: application, organisation, the event (without its
  payload: prompts are never journaled) and the admission estimate, which is what the call is charged if its
  real usage is never learnt;
* ``answered`` - the real outcome: units, status, provider response id, the resource the provider reported,
  latencies;
* ``done``     - the records are committed in the database (one line for many ids).

A line copied into the map (or a ``write()`` that returned) is in the kernel's page cache, so it survives the death
of the process (``kill -9``, the OOM killer, a crash): the next start calls :func:`recover`, which returns every
call that was started and never done (a mapped file of a dead process ends in NUL bytes, which it ignores), and
records them (skipping ids the database already has), then :func:`finish_recovery` deletes the files. Each
journal file is held under an exclusive ``flock`` by its process for as long as it lives: a file whose lock can
be taken belongs to a dead process.

What a power loss (or a kernel crash) of the machine can still lose: whatever the kernel had not yet written to
the disk. A background thread calls ``fdatasync`` on the journal once a second when it changed (like Redis'
``appendfsync everysec``), and on the directory after a new file is created; so a power loss loses at most the
lines of about the last second (plus the duration of one fsync). The calls that lose their ``started`` line that
way and were not yet committed in the database are lost; a lost ``answered`` line makes the call recorded with
its estimate instead of its real usage; a lost ``done`` line only makes recovery offer a call the database
already has (the caller skips it). With ``fsync_interval=None`` nothing is ever fsynced and a power loss can
lose what the kernel had not written back yet (typically up to 30 seconds).

Files rotate: once ``max_bytes`` were written to the current file a new one is started
(``journal-<node>-<pid>.<seq>.log``) with a copy of the lines of the calls still open (kept in memory), and the
file it replaces is deleted (by the fsync thread once the new one is on disk, when that thread runs). On a clean
stop with nothing open the file is removed; otherwise it is kept for the next start to recover.
"""

from __future__ import annotations

import fcntl
import json
import logging
import mmap
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from .event import Attribution, Event, Units

log = logging.getLogger("payi_server.journal")

FORMAT_VERSION = 1
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_FSYNC_INTERVAL = 1.0
CUT_OFF_WARNING = (
    "The server stopped before the provider's answer was read: the call is charged at its admission estimate"
)

_NAME = re.compile(r"journal-(\d+)-(\d+)(?:\.(\d+))?\.log")
_MAX_NAME_TRIES = 10_000
_ATTRIBUTION_FIELDS = tuple(f.name for f in fields(Attribution))
# Everything an event holds but its payload (prompts and responses are never journaled).
_EVENT_FIELDS = tuple(f.name for f in fields(Event) if f.name not in ("payload", "attribution", "event_timestamp"))
_REQUIRED_EVENT_FIELDS = ("source", "category", "resource", "units")


# --- event <-> JSON -----------------------------------------------------------------------------------------
def event_to_json(event: Event) -> dict[str, Any]:
    """The event as JSON-ready values (no payload); :func:`event_from_json` rebuilds an equal event.

    Timestamps keep their time zone (ISO 8601 with the offset; a naive timestamp stays naive).
    """
    out: dict[str, Any] = {name: getattr(event, name) for name in _EVENT_FIELDS}
    out["event_timestamp"] = event.event_timestamp.isoformat()
    attribution = event.attribution
    out["attribution"] = {name: getattr(attribution, name) for name in _ATTRIBUTION_FIELDS}
    return out


def event_from_json(data: Mapping[str, Any]) -> Event:
    """The inverse of :func:`event_to_json` (unknown keys are ignored, missing optional ones take their default)."""
    for name in _REQUIRED_EVENT_FIELDS:
        if name not in data:
            raise KeyError(name)
    raw_attribution = data.get("attribution") or {}
    if not isinstance(raw_attribution, Mapping):
        raise TypeError("attribution is not an object")
    attribution = Attribution(**{k: v for k, v in raw_attribution.items() if k in _ATTRIBUTION_FIELDS})
    timestamp = data["event_timestamp"]
    if not isinstance(timestamp, str):
        raise TypeError("event_timestamp is not a string")
    values = {name: data[name] for name in _EVENT_FIELDS if name in data}
    return Event(event_timestamp=datetime.fromisoformat(timestamp), attribution=attribution, **values)


def _encode(record: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        # orjson refuses a lone surrogate and integers past 64 bits; the standard library escapes / keeps them.
        if isinstance(record.get("ev"), Event):
            record = {**record, "ev": event_to_json(record["ev"])}
        return (json.dumps(record, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")


def _decode(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)  # what _encode's fallback wrote; raises ValueError when it is not JSON either


def _file_name(node_id: int, pid: int, seq: int) -> str:
    return f"journal-{node_id}-{pid}.log" if seq == 0 else f"journal-{node_id}-{pid}.{seq}.log"


# --- the writer ---------------------------------------------------------------------------------------------
_MAP_SLACK = 1024 * 1024  # room a mapped file keeps past its rotation size, for the line that crosses it
_RELEASE_EVERY = 1024 * 1024  # a mapped file's pages written this far back leave the process's memory


@dataclass(slots=True, eq=False)
class _File:
    """A journal file. Written through a shared memory map where the file system allocates its space ahead
    (``posix_fallocate``): a store into the map is in the kernel's page cache as it is made, like a ``write()``
    that returned, for no system call per line. Elsewhere, and past the map's end, ``os.write``."""

    seq: int
    path: Path
    fd: int
    mm: mmap.mmap | None = None
    capacity: int = 0  # bytes the map covers
    pos: int = 0  # bytes written
    released: int = 0  # the map's pages below this offset were handed back (``MADV_DONTNEED``)

    def map(self, capacity: int) -> None:
        """Allocate ``capacity`` bytes and map them (the file reads as NUL bytes past what is written until it is
        truncated on close; ``recover`` ignores them). Where that fails, the file is written with ``os.write``."""
        try:
            os.posix_fallocate(self.fd, 0, capacity)
            self.mm = mmap.mmap(self.fd, capacity, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
            self.capacity = capacity
        except (OSError, ValueError) as exc:
            log.debug("journal %s is written without a memory map: %s", self.path, exc)
            self.mm = None

    def put(self, data: bytes) -> int:
        """Add ``data`` after what the file holds; its length (raises ``_PartialWrite``)."""
        end = self.pos + len(data)
        mm = self.mm
        if mm is not None:
            if end <= self.capacity:
                mm[self.pos : end] = data
                self.pos = end
                if end - self.released >= 2 * _RELEASE_EVERY:
                    self._release()
                return len(data)
            # past the map: its NUL tail goes, and the rest of this file is appended with ``os.write``
            self.unmap()
            try:
                os.ftruncate(self.fd, self.pos)
            except OSError as exc:
                raise _PartialWrite(0) from exc
        try:
            written = _write_all(self.fd, data)
        except _PartialWrite as exc:
            self.pos += exc.written
            raise
        self.pos += written
        return written

    def _release(self) -> None:
        # Pages written long ago stay in the page cache (dirty ones are written back as usual) but leave this
        # process's resident memory: a worker keeps about a megabyte of its journal mapped, not the whole file.
        upto = (self.pos - _RELEASE_EVERY) // mmap.PAGESIZE * mmap.PAGESIZE
        if upto > self.released and self.mm is not None:
            try:
                self.mm.madvise(mmap.MADV_DONTNEED, self.released, upto - self.released)
            except OSError:  # only memory use is at stake
                pass
            self.released = upto

    def unmap(self) -> None:
        if self.mm is not None:
            self.mm.close()
            self.mm = None

    def trim(self) -> None:
        """A mapped file is unmapped and cut to what was written (its NUL tail goes; recovery would ignore it)."""
        if self.mm is None:
            return
        self.unmap()
        try:
            os.ftruncate(self.fd, self.pos)
        except OSError:
            pass  # recovery ignores the NUL bytes

    def close(self) -> None:
        self.unmap()
        os.close(self.fd)


class Journal:
    """The journal of one server process. Not thread-safe: call it from the event loop's thread only.

    Rotation carries the open calls forward: the new file starts with a copy of the lines of every call still
    open (its start and its latest answer, kept in memory), so the files it replaces hold nothing needed any more
    and are deleted - at once without the fsync thread, else by that thread once the new file is on disk (so
    after a power loss one of the two is always there). Deleting a file because "its" calls are done would not be
    enough: it may hold the done line of a call started in an older file that is still kept.
    """

    def __init__(
        self, directory: Path, node_id: int, *, max_bytes: int, fsync_interval: float | None, mapped: bool = True
    ) -> None:  # use Journal.open
        self.directory = directory
        self.node_id = node_id
        self.pid = os.getpid()
        self.max_bytes = max_bytes
        self.fsync_interval = fsync_interval
        self.mapped = mapped
        self.write_errors = 0
        self.rotations = 0
        self._current: _File | None = None
        self._next_seq = 0
        self._size = 0
        self._rotate_at = max_bytes
        self._open: dict[int, list[bytes]] = {}  # request id -> its start line (and its latest answer line)
        self._torn = False  # the last write failed part way: start the next line on a line of its own
        self._closed = False
        # Shared with the fsync thread (which only ever syncs duplicates of our descriptors), under this lock.
        self._lock = threading.Lock()
        self._retiring: list[_File] = []  # replaced files, deleted once the current one is synced
        self._written = 0
        self._synced = 0
        self._dir_dirty = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def open(
        cls,
        directory: Path,
        node_id: int,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        fsync_interval: float | None = DEFAULT_FSYNC_INTERVAL,
        mapped: bool = True,
    ) -> Journal:
        """Create ``directory`` (0700) if needed and start ``journal-<node_id>-<pid>.log`` under an exclusive lock.

        A name already taken (a dead process with our pid whose journal is not recovered yet) is never reused:
        the next free sequence number is taken instead. ``fsync_interval=None`` turns the fsync thread off.
        ``mapped=False``: every line is written with ``os.write`` (see ``_File``).
        """
        directory = Path(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        journal = cls(directory, node_id, max_bytes=max_bytes, fsync_interval=fsync_interval, mapped=mapped)
        journal._current, journal._size = journal._create()
        journal._rotate_at = journal._size + max_bytes
        if fsync_interval is not None:
            journal._thread = threading.Thread(
                target=journal._sync_loop, name=f"payi-journal-fsync-{node_id}", daemon=True
            )
            journal._thread.start()
        return journal

    # --- state, for callers and tests
    @property
    def path(self) -> Path:
        """The file being written."""
        assert self._current is not None
        return self._current.path

    @property
    def paths(self) -> list[Path]:
        """Every file this journal holds: replaced ones not deleted yet, then the current one."""
        with self._lock:
            return [file.path for file in self._retiring] + [self.path]

    @property
    def open_ids(self) -> frozenset[int]:
        """The calls started and not yet done."""
        return frozenset(self._open)

    # --- the hot path
    def started(self, request_id: int, app_id: int, org_id: int, event: Event, estimate_units: Units) -> None:
        """Journal a call about to be sent to its provider (``estimate_units`` is what it is charged if cut off)."""
        if self._closed:
            return
        # orjson writes the event itself (a dataclass: every field, in order, at C speed; the payload is None
        # here, as the proxy sets it only once the call is answered); ``event_to_json`` is the fallback.
        ev: Event | dict[str, Any] = event if event.payload is None else event_to_json(event)
        record = {"k": "s", "id": request_id, "app": app_id, "org": org_id, "ev": ev}
        record["est"] = estimate_units
        line = self._line(record)
        if line is None or not self._append(line):
            return
        lines = self._open.get(request_id)
        if lines is None:
            self._open[request_id] = [line]
        else:  # started twice: the later start wins, an answer already journaled stays (as recovery reads it)
            lines[0] = line
        self._maybe_rotate()

    def answered(self, request_id: int, event: Event) -> None:
        """Journal the provider's answer: the units, status and resource the call is to be recorded with."""
        lines = self._open.get(request_id)
        if self._closed or lines is None:
            return
        line = self._line(
            {
                "k": "a",
                "id": request_id,
                "units": event.units,
                "status": event.http_status_code,
                "rid": event.provider_response_id,
                "res": event.resource,
                "scope": event.attribution.resource_scope,
                "e2e": event.end_to_end_latency_ms,
                "ttft": event.time_to_first_token_ms,
                "ttfct": event.time_to_first_completion_token_ms,
            }
        )
        if line is None or not self._append(line):
            return
        if len(lines) == 1:
            lines.append(line)
        else:
            lines[1] = line
        self._maybe_rotate()

    def done(self, request_ids: Iterable[int]) -> None:
        """The records of these calls are committed in the database (ids never started here are ignored)."""
        if self._closed:
            return
        ids = [request_id for request_id in dict.fromkeys(request_ids) if request_id in self._open]
        if not ids:
            return
        line = self._line({"k": "d", "ids": ids})
        if line is not None:
            # Written or not, the records are in the database: a recovery would find them there and skip them.
            self._append(line)
        for request_id in ids:
            del self._open[request_id]
        self._maybe_rotate()

    def close(self, clean: bool) -> None:
        """Stop journaling. A clean stop with no call open removes the files; otherwise they stay to be recovered.

        The files' locks are released either way (from here on a recovery may take them).
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        current = self._current
        assert current is not None
        remove = clean and not self._open
        if not remove:
            current.trim()
            if self.fsync_interval is not None:
                _datasync(current.fd, current.path)
        with self._lock:
            retiring, self._retiring = self._retiring, []
        for file in retiring:  # superseded by the current file either way
            _unlink(file.path)
            file.close()
        if remove:
            _unlink(current.path)
        current.close()
        if not remove and self._open:
            log.warning(
                "journal %s closed with %s calls not recorded yet: kept for recovery", current.path, len(self._open)
            )

    # --- internals
    def _line(self, record: dict[str, Any]) -> bytes | None:
        try:
            return _encode(record)
        except (TypeError, ValueError) as exc:
            self._error("cannot encode a journal record", exc)
            return None

    def _append(self, line: bytes) -> bool:
        file = self._current
        assert file is not None
        if self._torn:
            line = b"\n" + line
        try:
            self._size += file.put(line)
        except _PartialWrite as exc:
            self._size += exc.written
            self._torn = True  # part of the line may be in: the next one starts on a line of its own
            self._error(f"cannot write the journal {file.path}", exc.__cause__ or exc)
            return False
        self._torn = False
        self._written += 1
        return True

    def _maybe_rotate(self) -> None:
        if self._size < self._rotate_at:
            return
        carried = b"".join(line for lines in self._open.values() for line in lines)
        try:
            new, size = self._create(len(carried))
        except OSError as exc:
            self._rotate_at = self._size + self.max_bytes  # keep writing here; try again later
            self._error("cannot start a new journal file", exc)
            return
        try:
            size += new.put(carried)
        except _PartialWrite as exc:
            _unlink(new.path)
            new.close()
            self._rotate_at = self._size + self.max_bytes
            self._error("cannot start a new journal file", exc.__cause__ or exc)
            return
        old = self._current
        assert old is not None
        with self._lock:
            self._current = new
            if self.fsync_interval is not None:
                self._retiring.append(old)
        if self.fsync_interval is None:
            _unlink(old.path)  # before its lock goes: a recovery never finds it unlocked and linked
            old.close()
        self._size = size
        self._rotate_at = size + self.max_bytes  # however many calls were carried: no rotation storm
        self._torn = False
        self._written += 1
        self.rotations += 1

    def _create(self, room: int = 0) -> tuple[_File, int]:
        """A new file under our lock, with a name nobody used, and its header line (and that line's size);
        mapped, for ``room`` bytes more than ``max_bytes`` and the header."""
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC  # read too: it may be mapped
        for _ in range(_MAX_NAME_TRIES):
            seq = self._next_seq
            self._next_seq += 1
            path = self.directory / _file_name(self.node_id, self.pid, seq)
            try:
                fd = os.open(path, flags, 0o600)
            except FileExistsError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                alive = os.fstat(fd).st_nlink > 0
            except BlockingIOError:
                alive = False  # a recovery took the new, empty file before we locked it: it will delete it
            except OSError:
                os.close(fd)
                raise
            if not alive:
                os.close(fd)
                continue
            header = _encode(
                {"k": "h", "v": FORMAT_VERSION, "node": self.node_id, "pid": self.pid, "seq": seq,
                 "at": datetime.now().astimezone().isoformat()}
            )
            file = _File(seq=seq, path=path, fd=fd)
            if self.mapped:
                file.map(len(header) + room + self.max_bytes + _MAP_SLACK)
            try:
                file.put(header)
            except _PartialWrite as exc:
                _unlink(path)
                file.close()
                raise exc.__cause__ or exc from None
            with self._lock:
                self._dir_dirty = True
            self._written += 1
            return file, len(header)
        raise OSError(f"no free journal file name in {self.directory}")

    def _error(self, what: str, exc: BaseException) -> None:
        self.write_errors += 1
        if self.write_errors == 1 or self.write_errors % 1000 == 0:
            log.error("%s (%s errors so far): %s", what, self.write_errors, exc)

    # --- the fsync thread
    def _sync_loop(self) -> None:
        assert self.fsync_interval is not None
        while not self._stop.wait(self.fsync_interval):
            self._sync_once()

    def _sync_once(self) -> None:
        with self._lock:
            current = self._current
            if self._closed or current is None:
                return
            retiring, self._retiring = self._retiring, []
            fd = os.dup(current.fd) if self._written != self._synced or retiring else None
            self._synced = self._written
            sync_dir, self._dir_dirty = self._dir_dirty, False
        if fd is not None:
            try:
                _datasync(fd, current.path)
            finally:
                os.close(fd)
        if sync_dir:
            _sync_directory(self.directory)
        # The current file (with the calls carried over) is on disk: the files it replaced can go.
        for file in retiring:
            _unlink(file.path)
            file.close()


class _PartialWrite(Exception):
    def __init__(self, written: int) -> None:
        super().__init__(f"journal write failed after {written} bytes")
        self.written = written


def _write_all(fd: int, data: bytes) -> int:
    """Write all of ``data`` (a regular file takes it in one write unless the disk is full); its length."""
    written = 0
    try:
        while written < len(data):
            count = os.write(fd, data[written:] if written else data)
            if count <= 0:
                raise OSError("journal write made no progress")
            written += count
    except OSError as exc:
        raise _PartialWrite(written) from exc
    return written


def _datasync(fd: int, path: Path) -> None:
    try:
        if hasattr(os, "fdatasync"):
            os.fdatasync(fd)
        else:  # pragma: no cover - macOS
            os.fsync(fd)
    except OSError as exc:
        log.warning("cannot sync the journal %s: %s", path, exc)


def _sync_directory(directory: Path) -> None:
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        log.warning("cannot open the journal directory %s to sync it: %s", directory, exc)
        return
    try:
        os.fsync(dir_fd)
    except OSError as exc:
        log.warning("cannot sync the journal directory %s: %s", directory, exc)
    finally:
        os.close(dir_fd)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


# --- recovery -----------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Recovered:
    """A call a dead process started and never recorded."""

    request_id: int
    app_id: int
    org_id: int
    event: Event  # with the real outcome if it was answered, else with the estimated units
    answered: bool
    estimate_units: Units
    path: Path  # the file its start was journaled in

    @property
    def cut_off(self) -> bool:
        """The process died before the provider's answer was read: the event carries the admission estimate."""
        return not self.answered


@dataclass(slots=True, eq=False)
class _Call:
    path: Path
    start: dict[str, Any]
    answer: dict[str, Any] | None = None


# Files taken by recover() and not finished yet, by directory: their locks are held until finish_recovery, so two
# processes starting at once never both recover the same file.
_claims: dict[Path, dict[Path, int]] = {}
_claims_lock = threading.Lock()


def recover(directory: Path) -> list[Recovered]:
    """Every call that a dead process's journal in ``directory`` started and never marked done (by request id).

    Files still locked (live processes, this process's own journal, files an earlier call here already took) are
    skipped. The files taken stay locked and on disk until :func:`finish_recovery`: record the calls first (skipping
    ids the database already has), then finish. A torn last line and unreadable lines are skipped with a warning.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    names: list[tuple[tuple[int, int, int], Path]] = []
    for path in directory.iterdir():
        match = _NAME.fullmatch(path.name)
        if match:
            names.append(((int(match[1]), int(match[2]), int(match[3] or 0)), path))
    taken: dict[Path, int] = {}
    for _, path in sorted(names):
        fd = _claim(path)
        if fd is not None:
            taken[path] = fd
    if not taken:
        return []
    with _claims_lock:
        _claims.setdefault(directory.resolve(), {}).update(taken)

    # Read in the order written (a process's files by sequence number, each line by line): a done line only ever
    # follows its call's start, possibly in a later file.
    calls: dict[int, _Call] = {}
    for path, fd in taken.items():
        for record in _records(path, fd):
            kind = record.get("k")
            try:
                if kind == "s":
                    request_id = _int(record["id"])
                    call = calls.get(request_id)
                    if call is None:
                        calls[request_id] = _Call(path, record)
                    else:  # journaled twice: the later start wins, an answer already read stays
                        call.path, call.start = path, record
                elif kind == "a":
                    call = calls.get(_int(record["id"]))
                    if call is not None:
                        call.answer = record
                elif kind == "d":
                    for request_id in record["ids"]:
                        calls.pop(_int(request_id), None)
                elif kind == "h":
                    if record.get("v") != FORMAT_VERSION:
                        log.warning("journal %s has format version %r; reading it as version %s",
                                    path, record.get("v"), FORMAT_VERSION)
                else:
                    log.warning("journal %s: skipping a record of unknown kind %r", path, kind)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("journal %s: skipping a malformed %r record (%s)", path, kind, exc)

    out: list[Recovered] = []
    for request_id in sorted(calls):
        call = calls[request_id]
        try:
            out.append(_rebuild(request_id, call.path, call.start, call.answer))
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("journal %s: cannot rebuild call %s (%s): it is not recovered", call.path, request_id, exc)
    if out:
        log.warning("recovered %s unrecorded calls from %s journal files in %s", len(out), len(taken), directory)
    return out


def finish_recovery(directory: Path, *, delete: bool = True) -> list[Path]:
    """After the recovered calls are recorded: delete the files :func:`recover` took in ``directory`` and release them.

    ``delete=False`` only releases them (recording failed: the next start recovers them again). Returns the paths.
    """
    with _claims_lock:
        taken = _claims.pop(Path(directory).resolve(), {})
    for path, fd in taken.items():
        if delete:
            _unlink(path)  # while still locked: nobody else can have taken it meanwhile
        os.close(fd)
    return list(taken)


def _claim(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_nlink == 0:  # deleted by whoever held it before us (its owner, or another recovery)
            os.close(fd)
            return None
    except BlockingIOError:  # its process is alive (or another recovery has it)
        os.close(fd)
        return None
    except OSError:
        os.close(fd)
        raise
    return fd


def _records(path: Path, fd: int) -> Iterable[dict[str, Any]]:
    chunks: list[bytes] = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    # A mapped file of a process that died is NUL bytes past its last line (JSON lines never hold a NUL byte)
    lines = b"".join(chunks).rstrip(b"\x00").split(b"\n")
    tail = lines.pop()  # empty when the file ends with a complete line
    for number, line in enumerate(lines, 1):
        if not line:
            continue
        record = _parse(line)
        if record is None:
            log.warning("journal %s: skipping unreadable line %s (%s bytes)", path, number, len(line))
        else:
            yield record
    if tail:
        record = _parse(tail)
        if record is None:
            log.warning("journal %s: ignoring its torn last line (%s bytes)", path, len(tail))
        else:  # complete but for its newline
            yield record


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        record = _decode(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{value!r} is not an integer")
    return value


def _units(value: Any) -> Units:
    if not isinstance(value, dict) or not all(isinstance(sides, dict) for sides in value.values()):
        raise TypeError("units are not an object of objects")
    return value


def _rebuild(request_id: int, path: Path, record: dict[str, Any], answer: dict[str, Any] | None) -> Recovered:
    raw_event = record["ev"]
    if not isinstance(raw_event, dict):
        raise TypeError("the event is not an object")
    event = event_from_json(raw_event)
    estimate = _units(record["est"])
    if answer is None:
        event.units = {kind: dict(sides) for kind, sides in estimate.items()}
    else:
        event.units = _units(answer["units"])
        event.http_status_code = answer.get("status")
        event.provider_response_id = answer.get("rid")
        event.resource = answer.get("res") or event.resource
        if answer.get("scope") is not None:
            event.attribution.resource_scope = answer["scope"]
        event.end_to_end_latency_ms = answer.get("e2e")
        event.time_to_first_token_ms = answer.get("ttft")
        event.time_to_first_completion_token_ms = answer.get("ttfct")
    return Recovered(
        request_id=request_id,
        app_id=_int(record["app"]),
        org_id=_int(record["org"]),
        event=event,
        answered=answer is not None,
        estimate_units=estimate,
        path=path,
    )
