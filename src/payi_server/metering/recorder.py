"""Group commit: request records are queued and written in batches, each batch one transaction.

``submit`` queues a priced event and waits until the transaction holding it has committed (ingest answers only
then); ``submit_nowait`` queues it and returns at once (the proxy records after answering). One task per process
takes whatever is queued (up to ``record_batch_size``) and hands it to ``metering.batch.BatchWriter`` (the batch's
steps). If a batch fails, its items are retried one by one, so one bad item cannot sink the others; while the
database is away, records nobody waits for are held and written when it is back. ``stop`` drains everything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..errors import ApiError, api_error
from ..metrics import Metrics
from ..limits.leases import LeaseBook
from ..store.engine import Database
from ..store.errors import is_unavailable
from ..usecases.implicit import KnownInstances, LimitFactory
from .batch import BatchWriter
from .journal import Journal
from .pending import Pending

__all__ = ["Observer", "Pending", "Recorder"]

log = logging.getLogger("payi_server.recorder")

# Called with each newly recorded call and its xproxy_result, after its transaction committed (exporters).
Observer = Callable[["Pending", dict[str, Any]], None]

_MAX_ATTEMPTS = 8
_WAKE: Any = object()  # queued by ``stop``: a batch that lingers is written at once


class Recorder:
    def __init__(
        self,
        db: Database,
        *,
        batch_size: int,
        flush_interval: float,
        linger: float = 0.0,
        make_limit: LimitFactory | None = None,
        queue_size: int = 20_000,
        metrics: Metrics | None = None,
        leases: LeaseBook | None = None,
        journal: Journal | None = None,
        observers: list[Observer] | None = None,
    ) -> None:
        self._db = db
        self._writer = BatchWriter(db, leases=leases, make_limit=make_limit)
        self._metrics = metrics
        self._observers = observers or []
        self.journal = journal
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._linger = max(linger, flush_interval)
        self._queue: asyncio.Queue[Pending] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None
        self._held: list[Pending] = []
        self._waiting_puts: set[asyncio.Task[None]] = set()
        self._retry_task: asyncio.Task[None] | None = None
        self.written = 0

    @property
    def known_instances(self) -> KnownInstances:
        """Use case instances known to exist (the change feed makes it forget deleted ones)."""
        return self._writer.known_instances

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="payi-recorder")

    async def stop(self, held_timeout: float = 30.0) -> None:
        """Write everything queued (and, for up to ``held_timeout`` seconds, what waits for the database), then stop."""
        if self._task is None:
            return
        while self._waiting_puts:
            await asyncio.gather(*self._waiting_puts)
        self._linger = self._flush_interval
        if not self._queue.full():  # (a full queue has no batch lingering: the writer takes what is queued)
            self._queue.put_nowait(_WAKE)
        await self._queue.join()
        if self._retry_task is not None and not self._retry_task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._retry_task), held_timeout)
            except TimeoutError:
                log.error("stopping with %s request records never written: the database stayed unreachable", self.held)
                self._retry_task.cancel()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None

    async def submit(self, item: Pending) -> dict[str, Any]:
        item.future = asyncio.get_running_loop().create_future()
        await self._queue.put(item)
        return await item.future

    async def submit_many(self, items: list[Pending]) -> list[dict[str, Any] | BaseException]:
        """``submit`` for many items at once (bulk ingest): one future each, no task per item."""
        loop = asyncio.get_running_loop()
        for item in items:
            item.future = loop.create_future()
            if self._queue.full():
                await self._queue.put(item)
            else:
                self._queue.put_nowait(item)
        return await asyncio.gather(*(item.future for item in items if item.future is not None), return_exceptions=True)

    def submit_nowait(self, item: Pending) -> None:
        """Queue a record nobody waits for (a proxied call, answered already)."""
        item.want_result = bool(self._observers)  # its xproxy_result was built for its answer
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            # Never drop a record: wait for room in the background (kept, so that a clean stop waits for it).
            task = asyncio.get_running_loop().create_task(self._queue.put(item))
            self._waiting_puts.add(task)
            task.add_done_callback(self._waiting_puts.discard)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # Group commit: what queued while the last batch was being written is the next batch
            # (``flush_interval`` > 0 waits that long for more). A batch of calls already answered (proxied,
            # journaled: nobody waits for their commit) waits up to ``linger`` for more, so that calls a few
            # milliseconds apart share one transaction instead of each running its own on the event loop while
            # the next call is being served; a record whose client waits (an ingest) ends the wait.
            first = await self._queue.get()
            if first is _WAKE:
                self._queue.task_done()
                continue
            batch = [first]
            started = loop.time()
            waited_for = first.future is not None
            while len(batch) < self._batch_size:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    timeout = started + (self._flush_interval if waited_for else self._linger) - loop.time()
                    if timeout <= 0:
                        break
                    try:
                        async with asyncio.timeout(timeout):  # (no task per item, as ``wait_for`` makes)
                            item = await self._queue.get()
                    except TimeoutError:
                        break
                if item is _WAKE:
                    self._queue.task_done()
                    break
                batch.append(item)
                waited_for = waited_for or item.future is not None
            try:
                await self._write_with_retry(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write_with_retry(self, batch: list[Pending]) -> None:
        try:
            outcomes = await self._write(batch)
        except Exception as exc:  # noqa: BLE001 - fall back to one transaction per item
            if is_unavailable(exc):
                self._database_down(batch, exc)
                return
            if len(batch) == 1:
                item = batch[0]
                if item.future is None and item.attempts < _MAX_ATTEMPTS:
                    # An answered proxy call: keep trying (an error we did not classify may be transient).
                    item.attempts += 1
                    self._database_down(batch, exc)
                    return
                log.error("could not record request %s: %s", item.request_id, type(exc).__name__, exc_info=exc)
                _settle(item, api_error("request_processing_error", status=503))
                self._journaled([item])  # logged above; replaying it at every start would not help
                return
            log.warning("batch of %s failed (%s); retrying one by one", len(batch), type(exc).__name__)
            for item in batch:
                await self._write_with_retry([item])
            return
        counted = []
        for item, outcome in zip(batch, outcomes, strict=True):
            _settle(item, outcome)
            if self._metrics is not None and not isinstance(outcome, ApiError) and not outcome.get("duplicate_request"):
                limits_ = outcome.get("limits") or {}
                counted.append((
                    item.event.source,
                    item.category,
                    item.cost_total,
                    bool(item.unknown_units) or item.resource_id is None,
                    [v["state"] for v in limits_.values()] if isinstance(limits_, dict) else [],
                ))
            if self._observers and not isinstance(outcome, ApiError) and not outcome.get("duplicate_request"):
                for observer in self._observers:
                    try:
                        observer(item, outcome)
                    except Exception:  # noqa: BLE001 - an exporter must never cost a record
                        log.warning("recorded-call observer failed", exc_info=True)
        self._journaled(batch)
        self.written += len(batch)
        if self._metrics is not None:
            self._metrics.recorded(counted)
            self._metrics.queue_depth.set(self._queue.qsize())

    def _database_down(self, batch: list[Pending], exc: BaseException) -> None:
        """The database cannot be reached. Callers that wait (ingest) get 503 and retry (deduplicated); records
        nobody waits for (proxied calls already answered) are kept and written when the database is back."""
        kept = 0
        for item in batch:
            if item.future is not None:
                _settle(item, api_error(
                    "database_unavailable",
                    headers={"x-should-retry": "true", "retry-after": "1"},
                ))
            else:
                self._held.append(item)
                kept += 1
        if kept:
            log.warning("database unreachable (%s): holding %s records for retry", type(exc).__name__, len(self._held))
        if self._held and (self._retry_task is None or self._retry_task.done()):
            self._retry_task = asyncio.create_task(self._retry_held(), name="payi-recorder-retry")

    async def _retry_held(self) -> None:
        delay = 0.25
        while self._held:
            await asyncio.sleep(delay)
            batch, self._held = self._held[: self._batch_size], self._held[self._batch_size :]
            try:
                outcomes = await self._write(batch)
            except Exception as exc:  # noqa: BLE001 - keep them until the database is back
                if is_unavailable(exc):
                    self._held = batch + self._held
                    delay = min(delay * 2, 5.0)
                    continue
                # Not an outage: find the one that fails, keep trying the others.
                for item in batch:
                    await self._write_with_retry([item])
                continue
            delay = 0.25
            for item, outcome in zip(batch, outcomes, strict=True):
                _settle(item, outcome)
            self._journaled(batch)
            self.written += len(batch)
            log.info("wrote %s held records; %s still held", len(batch), len(self._held))

    def _journaled(self, items: list[Pending]) -> None:
        """Committed (or given up): the journal need not replay these calls after a crash."""
        if self.journal is not None:
            self.journal.done(item.request_id for item in items)

    @property
    def held(self) -> int:
        return len(self._held)

    async def _write(self, batch: list[Pending]) -> list[dict[str, Any] | ApiError]:
        return await self._writer.write(batch)


def _settle(item: Pending, outcome: dict[str, Any] | ApiError) -> None:
    if isinstance(outcome, ApiError) and item.holds:
        LeaseBook.release(item.holds)  # never recorded: its holds must not stay in the lease
        item.holds = None
    if item.future is not None and not item.future.done():
        if isinstance(outcome, ApiError):
            item.future.set_exception(outcome)
        else:
            item.future.set_result(outcome)
    elif isinstance(outcome, ApiError) and item.future is None:
        log.warning("request %s not recorded: %s", item.request_id, outcome.code)
