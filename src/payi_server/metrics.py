"""Prometheus metrics, served at ``GET /metrics``.

Created per app (no module-level registry of ours). With several worker processes, ``payi-server serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a directory under the data dir before starting them, so any worker answers a
scrape with the sum over all workers. Labels are bounded: route groups, status classes, categories, states.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_GROUPS = ("ingest", "proxy", "limits", "use_cases", "categories", "requests", "reports", "admin")


def route_group(path: str) -> str:
    if not path.startswith("/api/v1/"):
        return "other"
    head = path[8:].split("/", 1)[0]
    return head if head in _GROUPS else "other"


FLUSH_INTERVAL = 1.0  # seconds: how late another worker's scrape may see a request's counts (see ``Pending``)


class Pending:
    """A child of a counter or a histogram whose observations are summed in plain Python on the request path and
    added to the child by :meth:`Metrics.flush` (at every scrape of this process and every ``FLUSH_INTERVAL``).

    prometheus_client takes a lock for every value it changes (a histogram's sum and bucket: two) and, with
    several workers, writes each to a memory-mapped file; three per request were 2% of a proxy worker's time.
    Summed here, they cost an addition and a ``bisect``; the file sees one write per value per second. Used on the
    event loop only (the request path, the flusher and ``/metrics`` all run there), so no lock is needed."""

    __slots__ = ("child", "bounds", "count", "sum", "buckets")

    def __init__(self, child: Any, bounds: list[float] | None) -> None:
        self.child = child
        self.bounds = bounds
        self.count = 0
        self.sum = 0.0
        self.buckets = [0] * len(bounds) if bounds is not None else []

    def inc(self, amount: int = 1) -> None:
        self.count += amount

    def observe(self, amount: float) -> None:
        assert self.bounds is not None
        # the first bucket whose upper bound is at least ``amount``: the one prometheus_client counts it in
        self.buckets[bisect_left(self.bounds, amount)] += 1
        self.sum += amount

    def flush(self) -> None:
        if self.bounds is None:
            count, self.count = self.count, 0
            if count:
                self.child.inc(count)
            return
        buckets, self.buckets = self.buckets, [0] * len(self.bounds)
        total, self.sum = self.sum, 0.0
        # a histogram child's own values (prometheus_client has no call that observes many at once); checked
        # against ``observe`` by tests/server/test_metrics.py
        for value, n in zip(self.child._buckets, buckets):
            if n:
                value.inc(n)
        if any(buckets):
            self.child._sum.inc(total)


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("payi_http_requests", "HTTP requests", ["group", "status"], registry=r)
        self.latency = Histogram(
            "payi_http_request_seconds", "HTTP request latency", ["group"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.upstream_latency = Histogram(
            "payi_upstream_seconds", "Provider latency seen by the proxy", ["category"], buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.cost = Counter("payi_cost_usd", "Recorded cost in USD", ["category"], registry=r)
        self.events = Counter("payi_events_recorded", "Recorded requests", ["source"], registry=r)
        self.unpriced = Counter("payi_events_unpriced", "Recorded requests with unpriced units", ["category"], registry=r)
        self.limit_states = Counter("payi_limit_states", "Limit states reported for requests", ["state"], registry=r)
        self.auth_failures = Counter("payi_auth_failures", "Requests refused for their API key", registry=r)
        self.throttled = Counter("payi_auth_throttled", "Requests refused by key brute-force throttling", registry=r)
        self.retention_deleted = Counter(
            "payi_retention_deleted",
            "Request rows and payloads deleted by retention sweeps (kind=partitions: whole days dropped)",
            ["kind"],
            registry=r,
        )
        self.default_partition_rows = Gauge(
            "payi_request_log_default_partition_rows",
            "Rows in the request log's DEFAULT partition at the last sweep (PostgreSQL; should be 0)",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.queue_depth = Gauge(
            "payi_record_queue_depth", "Request records waiting to be written", registry=r, multiprocess_mode="livesum"
        )

        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._pending: dict[tuple[int, tuple[str, ...]], Pending] = {}
        self._flusher: asyncio.Task[None] | None = None

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once: prometheus_client validates and locks on every call, and the
        request log and the proxy ask for the same few children on every request (labels are bounded)."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def pending(self, metric: Counter | Histogram, *labels: str) -> Pending:
        """The child ``metric.labels(*labels)`` as a :class:`Pending`, for a value changed on every request."""
        key = (id(metric), labels)
        found = self._pending.get(key)
        if found is None:
            bounds = list(metric._upper_bounds) if isinstance(metric, Histogram) else None
            found = self._pending[key] = Pending(self.child(metric, *labels), bounds)
        return found

    def flush(self) -> None:
        """Add what the request path counted to prometheus_client's values."""
        for pending in list(self._pending.values()):
            pending.flush()

    async def _flush_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.flush()

    def start(self, interval: float = FLUSH_INTERVAL) -> None:
        """Flush every ``interval`` seconds (another worker answers a scrape from the values' files)."""
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_every(interval))

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        self.flush()

    def render(self) -> bytes:
        self.flush()
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)

    def recorded(self, calls: Iterable[tuple[str, str, Decimal, bool, list[str]]]) -> None:
        """A committed batch: (source, category, cost, unpriced, limit states) per call, counted once per label
        (a bulk ingest commits a thousand calls at a time)."""
        events: Tally[str] = Tally()
        cost: dict[str, Decimal] = {}
        unpriced: Tally[str] = Tally()
        states: Tally[str] = Tally()
        for source, category, amount, is_unpriced, limit_states in calls:
            events[source] += 1
            if amount:
                cost[category] = cost.get(category, Decimal(0)) + amount
            if is_unpriced:
                unpriced[category] += 1
            states.update(limit_states)
        for source, n in events.items():
            self.events.labels(source).inc(n)
        for category, amount in cost.items():
            self.cost.labels(category).inc(float(amount))
        for category, n in unpriced.items():
            self.unpriced.labels(category).inc(n)
        for state, n in states.items():
            self.limit_states.labels(state).inc(n)
