"""Latency percentiles from the hourly rollups' end-to-end latency histograms (``store.tables.LATENCY_BOUNDS_MS``).

The histograms of any set of rollup rows add up, so p50 and p95 of a chart bucket (or a whole range) cost one sum
per histogram column in the report's query, never a scan of the request log.

The estimate: the bucket holding the requested rank is found exactly; inside it, latencies are assumed spread
evenly (linear interpolation between its bounds). The estimate is therefore never further from the true
percentile than the width of that bucket: at most 10 ms below 10 ms; at most 0.67 times the true value from
100 ms to 60 s (e.g. a true p95 of 3.2 s is estimated between 3 and 5 s); at most 1.5 times it from 10 ms to
100 ms and from 60 s to 300 s. Latencies of 300 s or more share one open bucket, whose percentile is reported
as 300000 ms (a lower bound).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..store.tables import LATENCY_BOUNDS_MS

PERCENTILES = {"latency_p50_ms": 0.50, "latency_p95_ms": 0.95}
LATENCY_MEASURES = tuple(PERCENTILES)
_LOWER = (0, *LATENCY_BOUNDS_MS)


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0 < q <= 1) in milliseconds of a histogram; None when it counts nothing."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count > 0 and seen + count >= rank:
            if i >= len(LATENCY_BOUNDS_MS):
                return float(_LOWER[i])  # the open bucket: a lower bound
            low, high = _LOWER[i], LATENCY_BOUNDS_MS[i]
            return round(low + (high - low) * (rank - seen) / count, 1)
        seen += count
    return float(_LOWER[-1])


def percentiles(counts: Sequence[int]) -> dict[str, float | None]:
    """``{"latency_p50_ms": ..., "latency_p95_ms": ...}`` of one histogram."""
    return {name: percentile(counts, q) for name, q in PERCENTILES.items()}
