"""The request path's counts (``metrics.Pending``) end up exactly as prometheus_client's own calls would leave them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from payi_server.metrics import Metrics

# amounts on and around every bucket bound, below the first and above the last
_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_AMOUNTS = st.one_of(
    st.sampled_from([b * f for b in _BOUNDS for f in (0.999999, 1.0, 1.000001)] + [0.0, 1e-9, 500.0]),
    st.floats(min_value=0, max_value=1000, allow_nan=False),
)


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["proxy", "ingest"]), _AMOUNTS), max_size=40), st.integers(0, 40))
def test_pending_counts_render_as_prometheus_clients_own(observed: list[tuple[str, float]], flush_after: int) -> None:
    ours, theirs = Metrics(), Metrics()
    for n, (group, amount) in enumerate(observed):
        ours.pending(ours.latency, group).observe(amount)
        ours.pending(ours.requests, group, "2xx").inc()
        theirs.latency.labels(group).observe(amount)
        theirs.requests.labels(group, "2xx").inc()
        if n == flush_after:
            ours.flush()  # a flush between observations changes nothing either
    mine, expected = _samples(ours), _samples(theirs)
    assert mine.keys() == expected.keys()
    for key, value in expected.items():
        assert mine[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_pending_counts_reach_the_files_another_worker_scrapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With several workers a scrape sums every worker's files: a worker's counts are in them after a flush (every
    second while it runs, and when it stops), not only when it answers the scrape itself."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    from prometheus_client import values

    values.ValueClass = values.get_value_class()  # prometheus_client chooses the file-backed values at import
    try:
        worker, scraper = Metrics(), Metrics()

        def scraped() -> float:
            return _samples(scraper).get(("payi_http_request_seconds_count", (("group", "proxy"),)), 0.0)

        async def run() -> None:
            worker.start(interval=0.05)
            worker.pending(worker.latency, "proxy").observe(0.003)
            assert scraped() == 0  # not yet flushed
            for _ in range(100):
                await asyncio.sleep(0.02)
                if scraped() == 1:
                    break
            assert scraped() == 1
            worker.pending(worker.latency, "proxy").observe(0.2)
            await worker.stop()
            assert scraped() == 2
            assert _samples(scraper)[("payi_http_request_seconds_sum", (("group", "proxy"),))] == pytest.approx(0.203)

        asyncio.run(run())
    finally:
        monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
        values.ValueClass = values.get_value_class()
