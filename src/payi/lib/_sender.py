"""The background sender: ingest events leave the caller's thread at once and are delivered by one worker thread.

Delivery, in order of preference:

1. sent at once (the client's own retries absorb a transient error). The worker wakes once per burst (it
   lingers 20 to 100 ms after a wake-up, longer when busy): a burst's events go in one
   ``POST /api/v1/ingest/bulk`` except the last, which is sent alone so its ``xproxy_result`` comes back; a lone
   event is a plain ``POST /api/v1/ingest`` (with ``?id=``);
2. when Pay-i is unreachable or answers 408/429/5xx: kept in a bounded in-memory retry queue and retried with
   exponential backoff (``queue_interval`` doubling up to ``queue_max_interval``); while Pay-i is down new events
   join the queue without an attempt of their own, so an outage costs one failed request per backoff step;
3. past the queue's size, when a retry fails again (so a killed process loses at most one backoff step of
   events), or at interpreter exit: written to the on-disk spool (``_spool.py``), which this process (or the next
   one to start) sends, in bulk, when Pay-i answers again.

A forked child starts its own worker (``restart_after_fork``); the parent keeps delivering what it had queued.

Failures are logged once per ``connection_error_logging_window`` (with the number suppressed), never per call.
Offline mode delivers to a list that is written as a JSON array at exit.

Example:
    >>> import logging
    >>> sender = Sender(None, InstrumentSettings(offline=True), logging.getLogger("x"), lambda result: None)
    >>> sender.flush(1.0)
    True
    >>> sender.shutdown()
"""

from __future__ import annotations

import json
import logging
import os
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from .._base_client import DefaultHttpxClient
from .._client import Payi
from .._exceptions import APIConnectionError, APIStatusError
from ..types.shared.xproxy_error import XproxyError
from ..types.shared.xproxy_result import XproxyResult
from ._config import InstrumentSettings, destination_dir
from ._spool import Spool
from .helpers import _set_attr_safe

__all__ = ["Envelope", "ProblemLog", "Sender", "Work"]

Event = dict[str, Any]
Outcome = Literal["ok", "retry", "drop"]
Result = XproxyResult | XproxyError

_SPOOL_SCAN_INTERVAL = 30.0  # seconds between looks for spool files left by other processes
# After a wake-up the worker lets a burst accumulate (one thread switch and one bulk request per burst); the busier
# the last burst, the longer the next wait, so sustained traffic costs less CPU per event.
_LINGER_MIN, _LINGER_MAX = 0.02, 0.1
_LOCAL_RESULT = XproxyResult(request_id="local_instrumentation")
_BULK_SIZE = 500  # spooled events per bulk request
_RETRYABLE = frozenset({408, 429})


@dataclass(slots=True)
class Envelope:
    """A built event (``{"body": ingest kwargs, "headers": ..., "query": ...}``) and the response to tag."""

    event: Event
    target: Any = None


class Work(Protocol):
    """Something the worker turns into an event (an instrumented call); built off the caller's thread."""

    def build(self) -> Envelope | None: ...


class _Flush:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class ProblemLog:
    """Logs a failure at most once per window, with the count of those suppressed since the last line.

    Example:
        >>> import logging
        >>> problems = ProblemLog(logging.getLogger("x"), window=60)
        >>> problems.report("Pay-i is down")  # logged
        >>> problems.report("Pay-i is down")  # counted, not logged
    """

    def __init__(self, logger: logging.Logger, window: float) -> None:
        self._logger = logger
        self._window = window
        self._last: float | None = None
        self._suppressed = 0
        self._lock = threading.Lock()

    def report(self, message: str, *, exc_info: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if self._last is not None and now - self._last < self._window:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        if suppressed:
            message += f" ({suppressed} similar failure(s) not logged in the last {self._window:g} s)"
        self._logger.warning("Pay-i: %s", message, exc_info=exc_info)

    def reset(self) -> None:
        with self._lock:
            self._last = None
            self._suppressed = 0


def _error_of(exc: APIStatusError) -> XproxyError:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("xproxy_error")
        if isinstance(error, dict):
            return XproxyError(
                code=error.get("code") or "unknown_error", message=error.get("message") or str(exc)
            )
    return XproxyError(code="unknown_error", message=str(exc))


class Sender:
    """The worker thread and its queues. ``submit`` is all the caller's thread ever does (a queue put)."""

    def __init__(
        self,
        client: Payi | None,
        settings: InstrumentSettings,
        logger: logging.Logger,
        on_result: Callable[[Result], None],
    ) -> None:
        self._settings = settings
        self._logger = logger
        self._on_result = on_result
        self.problems = ProblemLog(logger, settings.error_log_window)
        self.offline = settings.offline or client is None
        self._client = client
        self._probe_client = client.with_options(max_retries=0) if client is not None else None
        self.spool: Spool | None = None
        if client is not None and settings.spool_enabled:
            self.spool = Spool(destination_dir(settings.spool_root, str(client.base_url), client.api_key))
        self.offline_events: list[Event] = []
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._retry: deque[Envelope] = deque()
        self._flushes: list[_Flush] = []
        self._inflight: Envelope | None = None
        self._down = False
        self._failures = 0
        self._next_retry = 0.0
        self._next_scan = 0.0
        self._spool_pending = True  # look at the spool at start: files of an earlier run may be waiting
        self._closed = False
        self.delivered = 0
        self._thread = threading.Thread(target=self._run, name="payi-ingest-sender", daemon=True)
        self._thread.start()

    def restart_after_fork(self) -> None:
        """In a forked child: the worker thread did not survive the fork, and what was queued belongs to the parent
        (which still delivers it), so start over with empty queues, fresh locks and a new worker. The parent's pooled
        connections must not be shared either: the child sends through a new default HTTP client."""
        if self._client is not None:
            self._client = self._client.with_options(
                http_client=DefaultHttpxClient(timeout=self._client.timeout)
            )
            self._probe_client = self._client.with_options(max_retries=0)
        self._inbox = queue.SimpleQueue()
        self._retry.clear()
        self._flushes = []
        self._inflight = None
        self.offline_events = []
        self.problems = ProblemLog(self._logger, self._settings.error_log_window)
        self._down = False
        self._failures = 0
        self._closed = False
        self.delivered = 0
        self._thread = threading.Thread(target=self._run, name="payi-ingest-sender", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------------------------- caller side

    def submit(self, work: Work | Envelope) -> None:
        """Hand an event over to the worker; never blocks, never raises."""
        if self._closed:  # after shutdown (e.g. from another atexit handler): straight to the spool
            envelope = self._build(work)
            if envelope is not None and not self.offline:
                self._to_spool([envelope.event])
            return
        self._inbox.put(work)

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Wait until everything submitted so far is delivered (or given up); False if still pending."""
        if self._closed or not self._thread.is_alive():
            return not self._retry
        marker = _Flush()
        self._inbox.put(marker)
        return marker.done.wait(timeout)

    def shutdown(self) -> None:
        """At exit: deliver what can be delivered within ``exit_timeout``, spool the rest, write offline files."""
        if self._closed:
            return
        if not self._down:
            self.flush(self._settings.exit_timeout)
        self._closed = True
        self._inbox.put(_STOP)
        self._thread.join(timeout=0.5)
        queued = list(self._retry)
        leftovers: list[Event] = [env.event for env in queued]
        inflight = self._inflight
        if inflight is not None and all(env is not inflight for env in queued):
            leftovers.insert(0, inflight.event)  # may also be delivered by the worker: the server dedupes
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            envelope = self._build(item)
            if envelope is not None:
                if self.offline:
                    self.offline_events.append(envelope.event)
                else:
                    leftovers.append(envelope.event)
        if leftovers:
            self._to_spool(leftovers)
        if self.offline:
            self._write_offline()

    # ---------------------------------------------------------------------------------- the worker

    def _run(self) -> None:
        stopping = False
        linger = _LINGER_MIN
        while not stopping:
            try:
                batch = [self._inbox.get(timeout=self._wait_time())]
            except queue.Empty:
                batch = []
            if batch and batch[0] is not _STOP and not self._closed:
                time.sleep(linger)
            while True:
                try:
                    batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            envelopes: list[Envelope] = []
            for item in batch:
                if item is _STOP:
                    stopping = True
                elif isinstance(item, _Flush):
                    self._flushes.append(item)
                else:
                    envelope = self._build(item)
                    if envelope is not None:
                        envelopes.append(envelope)
            linger = min(_LINGER_MAX, max(_LINGER_MIN, len(envelopes) * 0.004))
            try:
                if envelopes:
                    self._dispatch(envelopes)
                self._tick()
            except Exception:  # noqa: BLE001 - the worker must survive anything
                self.problems.report("internal error in the ingest sender", exc_info=True)
            if self._flushes and not self._retry and not self._down:
                for marker in self._flushes:
                    marker.done.set()
                self._flushes.clear()
        for marker in self._flushes:
            marker.done.set()

    def _wait_time(self) -> float | None:
        if self.offline:
            return None
        now = time.monotonic()
        if self._down or self._retry:
            return max(0.0, self._next_retry - now)
        return 0.0 if self._spool_pending else max(0.0, self._next_scan - now)

    def _build(self, item: Any) -> Envelope | None:
        if isinstance(item, Envelope):
            return item
        try:
            envelope: Envelope | None = item.build()
            return envelope
        except Exception:  # noqa: BLE001 - a bug in event building must not stop the others
            self.problems.report("could not build an ingest event", exc_info=True)
            return None

    def _dispatch(self, envelopes: list[Envelope]) -> None:
        """Deliver a burst: all but the last event in bulk (cheap per event), the last one alone so that its
        ``xproxy_result`` comes back (``get_context()["last_result"]``, ``response.xproxy_result``)."""
        if self.offline:
            self.offline_events.extend(envelope.event for envelope in envelopes)
            self._on_result(_LOCAL_RESULT)
            return
        if self._down or self._retry:
            for envelope in envelopes:
                self._enqueue(envelope)
            return
        *burst, last = envelopes
        for start in range(0, len(burst), _BULK_SIZE):
            chunk = burst[start : start + _BULK_SIZE]
            outcome, retry = self._send_bulk([envelope.event for envelope in chunk], probe=False)
            if outcome == "retry":
                retry = [envelope.event for envelope in burst[start:]]
            for event in retry:
                self._enqueue(Envelope(event))
            if retry:
                self._mark_down()
                self._enqueue(last)
                return
        if self._send(last, probe=False) == "retry":
            self._mark_down()
            self._enqueue(last)

    def _tick(self) -> None:
        if self.offline:
            return
        now = time.monotonic()
        if self._down or self._retry:
            if now >= self._next_retry:
                self._retry_now()
        elif self._spool_pending or now >= self._next_scan:
            self._next_scan = now + _SPOOL_SCAN_INTERVAL
            self._spool_pending = self._send_spool_file() is True

    def _retry_now(self) -> None:
        while self._retry:
            if self._down:  # probe with the oldest event alone
                if self._send(self._retry[0], probe=True) == "retry":
                    self._mark_down()
                    return
                self._retry.popleft()
                self._mark_up()
                continue
            chunk = [self._retry.popleft() for _ in range(min(len(self._retry), _BULK_SIZE))]
            outcome, retry = self._send_bulk([envelope.event for envelope in chunk], probe=False)
            again = chunk if outcome == "retry" else [Envelope(event) for event in retry]
            if again:
                self._retry.extendleft(reversed(again))
                self._mark_down()
                return
        sent = self._send_spool_file()  # with the memory queue empty, a spool file is the probe
        if sent is not False:
            self._mark_up()
            self._spool_pending = sent is True

    def _mark_down(self) -> None:
        if self._down:
            self._failures += 1
            if self._retry and self.spool is not None and self._to_spool([env.event for env in self._retry]):
                self._retry.clear()  # still down: what waits in memory goes to disk, safe from a kill
        self._down = True
        base = self._settings.retry_interval * 2 ** min(self._failures, 30)
        delay = min(base, self._settings.retry_max_interval) * (1 - 0.2 * random.random())
        self._next_retry = time.monotonic() + delay

    def _mark_up(self) -> None:
        if self._down:
            self._logger.info("Pay-i: reachable again; delivering queued events")
            self.problems.reset()
        self._down = False
        self._failures = 0

    def _enqueue(self, envelope: Envelope) -> None:
        if not self._settings.queue_enabled:
            self._to_spool([envelope.event])
            return
        self._retry.append(envelope)
        if len(self._retry) > self._settings.queue_max_size:
            spilled = [env.event for env in self._retry]
            if self._to_spool(spilled):
                self._retry.clear()
            else:
                while len(self._retry) > 10 * self._settings.queue_max_size:
                    self._retry.popleft()  # no spool and no room: the oldest are lost (reported by _to_spool)

    def _to_spool(self, events: list[Event]) -> bool:
        if self.spool is None:
            self.problems.report(
                f"{len(events)} ingest event(s) could not be delivered and no spool is configured"
            )
            return False
        try:
            self.spool.write(events)
        except OSError as exc:
            self.problems.report(
                f"could not write {len(events)} event(s) to the spool {self.spool.directory}: {exc}"
            )
            return False
        return True

    def _send_spool_file(self) -> bool | None:
        """Send the oldest spool file in bulk requests: True when sent (more may wait), False when Pay-i
        failed (the rest is kept), None when there is none. One file per call, so new events are not held up."""
        if self.spool is None:
            return None
        with self.spool.claim_next() as claimed:
            if claimed is None:
                return None
            events = claimed.events
            keep: list[Event] = []
            for start in range(0, len(events), _BULK_SIZE):
                outcome, retry = self._send_bulk(events[start : start + _BULK_SIZE], probe=self._down)
                if outcome == "retry":
                    claimed.keep(keep + events[start:])
                    self._mark_down()
                    return False
                keep.extend(retry)
            if keep:
                claimed.keep(keep)
                self._mark_down()
                return False
            claimed.done()
            return True

    def _send_bulk(self, events: list[Event], *, probe: bool) -> tuple[Outcome, list[Event]]:
        """One ``ingest.bulk`` request; returns the outcome and the events to try again later."""
        client = self._probe_client if probe else self._client
        assert client is not None
        items = []
        for event in events:
            item = dict(event["body"])
            if "resource_scope" in item:
                item["scope"] = item.pop("resource_scope")
            items.append(item)
        try:
            response = client.ingest.bulk(events=items)  # type: ignore[arg-type]
        except APIStatusError as exc:
            if exc.status_code in _RETRYABLE or exc.status_code >= 500:
                self.problems.report(
                    f"bulk ingest failed with HTTP {exc.status_code}; spooled events are kept"
                )
                return "retry", []
            self.problems.report(
                f"bulk ingest of {len(events)} spooled event(s) refused with HTTP {exc.status_code}"
            )
            return "drop", []
        except APIConnectionError as exc:
            self.problems.report(f"cannot reach Pay-i ({exc}); events are kept and retried")
            self._on_result(XproxyError(code="api_connection_error", message=str(exc)))
            return "retry", []
        retry: list[Event] = []
        refused = 0
        for error in response.errors or ():
            status = error.xproxy_result.status_code if error.xproxy_result is not None else 500
            index = error.item_index
            if index is None or not 0 <= index < len(events):
                continue
            if status in _RETRYABLE or status >= 500:
                retry.append(events[index])
            elif status != 409:
                refused += 1
        if refused:
            self.problems.report(f"{refused} event(s) refused by Pay-i and dropped")
        self.delivered += len(events) - len(retry) - refused
        return "ok", retry

    def _send(self, envelope: Envelope, *, probe: bool) -> Outcome:
        client = self._probe_client if probe else self._client
        assert client is not None
        event = envelope.event
        self._inflight = envelope
        try:
            response = client.ingest.units(
                **event["body"],
                extra_headers=event.get("headers") or None,
                extra_query=event.get("query") or None,
            )
        except APIStatusError as exc:
            if exc.status_code in _RETRYABLE or exc.status_code >= 500:
                self.problems.report(
                    f"ingest failed with HTTP {exc.status_code}; events are kept and retried"
                )
                self._on_result(XproxyError(code="ingest_retry_enqueued", message=str(exc)))
                return "retry"
            if exc.status_code == 409:  # already recorded
                return "ok"
            error = _error_of(exc)
            self.problems.report(
                f"ingest refused with HTTP {exc.status_code} ({error.code}): {error.message}"
            )
            self._on_result(error)
            return "drop"
        except APIConnectionError as exc:
            self.problems.report(f"cannot reach Pay-i ({exc}); events are kept and retried")
            self._on_result(XproxyError(code="api_connection_error", message=str(exc)))
            return "retry"
        except Exception:  # noqa: BLE001 - e.g. an event the client cannot encode
            self.problems.report("could not send an ingest event", exc_info=True)
            return "drop"
        finally:
            self._inflight = None
        self.delivered += 1
        result = response.xproxy_result
        if result.warnings:
            self._logger.warning("Pay-i ingest result warnings:\n%s", "\n".join(result.warnings))
        if envelope.target is not None:
            _set_attr_safe(envelope.target, "xproxy_result", result)
        self._on_result(result)
        return "ok"

    # ---------------------------------------------------------------------------------- offline

    def _write_offline(self) -> None:
        name = self._settings.offline_file or f"payi_instrumentation_{datetime.now():%Y-%m-%d-%H-%M-%S}.json"
        if not self.offline_events:
            return
        path = Path(name)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as out:
                json.dump([event["body"] for event in self.offline_events], out, default=str)
            os.replace(tmp, path)
            self._logger.debug("Pay-i: wrote %d offline events to %s", len(self.offline_events), path)
        except OSError as exc:
            self._logger.error("Pay-i: could not write offline events to %s: %s", path, exc)
