"""Latency histograms in the hourly rollup and the p50/p95 the reports compute from them, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from payi_server.reports.latency import percentile
from payi_server.store.erasure import erase
from payi_server.store.tables import LATENCY_BOUNDS_MS, ROLLUP_LATENCY_COLUMNS, rollup_hourly

from ...conftest import Running
from .data import create_app, event, ingest, price, report

WINDOW = {"start": "2026-05-01T00:00:00Z", "end": "2026-05-02T00:00:00Z"}
HOUR_A = "2026-05-01T10:00:00+00:00"
HOUR_B = "2026-05-01T11:00:00+00:00"


def _histogram(**counts: int) -> list[int]:
    return [counts.get(c, 0) for c in ROLLUP_LATENCY_COLUMNS]


@pytest.mark.parametrize(
    ("counts", "q", "expected"),
    [
        ({}, 0.5, None),  # nothing counted: no percentile, never 0 ms
        ({"latency_lt_150ms": 4}, 0.5, 125.0),  # interpolated inside [100, 150)
        ({"latency_lt_150ms": 4}, 0.95, 147.5),
        ({"latency_lt_10ms": 1, "latency_lt_1000ms": 1}, 0.5, 10.0),  # rank 1 of 2: the top of the first bucket
        ({"latency_lt_10ms": 1, "latency_lt_1000ms": 1}, 0.95, 975.0),
        ({"latency_ge_300000ms": 3}, 0.5, 300000.0),  # the open bucket: its lower bound
    ],
)
def test_percentile_of_a_histogram(counts: dict[str, int], q: float, expected: float | None) -> None:
    assert percentile(_histogram(**counts), q) == expected


def test_the_buckets_are_log_spaced_and_ordered() -> None:
    assert list(LATENCY_BOUNDS_MS) == sorted(set(LATENCY_BOUNDS_MS))
    assert len(ROLLUP_LATENCY_COLUMNS) == len(LATENCY_BOUNDS_MS) + 1 == 24
    ratios = [b / a for a, b in zip(LATENCY_BOUNDS_MS, LATENCY_BOUNDS_MS[1:], strict=False)]
    assert max(r for a, r in zip(LATENCY_BOUNDS_MS, ratios, strict=False) if 100 <= a < 60000) <= 1.67  # docs' bound
    assert max(ratios) <= 2.5 and LATENCY_BOUNDS_MS[-1] >= 300_000


def _events(**attribution: Any) -> list[dict[str, Any]]:
    """Hour A: 5, 120, 120, 800 and 2400 ms and one without latency; hour B: 40 s and 400 s."""
    a = [event("2026-05-01T10:05:00Z", end_to_end_latency_ms=ms, **attribution) for ms in (5, 120, 120, 800, 2400)]
    a.append(event("2026-05-01T10:06:00Z", **attribution))
    b = [event("2026-05-01T11:30:00Z", end_to_end_latency_ms=ms, **attribution) for ms in (40_000, 400_000)]
    return a + b


async def _stored(running: Running) -> dict[str, list[int]]:
    """The summed histogram of each hour's rollup rows."""
    async with running.state.db.read() as conn:
        rows = (await conn.execute(select(rollup_hourly))).all()
    out: dict[str, list[int]] = {}
    for row in rows:
        hour = row.bucket.isoformat()
        current = out.setdefault(hour, [0] * len(ROLLUP_LATENCY_COLUMNS))
        for i, c in enumerate(ROLLUP_LATENCY_COLUMNS):
            current[i] += row._mapping[c]
    return out


async def test_the_recorder_counts_each_latency_in_its_bucket(running: Running) -> None:
    await price(running)
    await ingest(running, _events()[:4])
    await ingest(running, _events()[4:])  # a second batch adds to the same rollup row
    stored = await _stored(running)
    assert stored == {
        HOUR_A: _histogram(latency_lt_10ms=1, latency_lt_150ms=2, latency_lt_1000ms=1, latency_lt_3000ms=1),
        HOUR_B: _histogram(latency_lt_45000ms=1, latency_ge_300000ms=1),
    }  # the event without a latency is in no bucket (hour A counts 5 of its 6 requests)


async def test_reports_give_p50_and_p95_per_bucket_and_for_the_range(running: Running) -> None:
    await price(running)
    await ingest(running, _events())
    hourly = await report(running, **WINDOW, bucket="hour", latency="true")
    assert hourly["measures"][-2:] == ["latency_p50_ms", "latency_p95_ms"]
    # hour A: ranks 2.5 and 4.75 of 5 fall in [100, 150) (2nd and 3rd) and [2000, 3000) (5th)
    # hour B: rank 1 of 2 is the top of [30000, 45000); rank 1.9 is in the open bucket
    assert [(r["bucket"], r["requests"], r["latency_p50_ms"], r["latency_p95_ms"]) for r in hourly["rows"]] == [
        (HOUR_A, 6, 137.5, 2750.0),
        (HOUR_B, 2, 45000.0, 300000.0),
    ]
    # the range: 7 latencies, true median 800 ms; rank 3.5 is in [750, 1000)
    assert (hourly["totals"]["latency_p50_ms"], hourly["totals"]["latency_p95_ms"]) == (875.0, 300000.0)
    total = await report(running, **WINDOW, bucket="total", latency="true")
    assert (total["rows"][0]["latency_p50_ms"], total["rows"][0]["latency_p95_ms"]) == (875.0, 300000.0)
    top = await report(running, **WINDOW, bucket="day", group_by="resource", top=1, latency="true")
    assert top["totals"]["latency_p50_ms"] == 875.0 and top["rows"][0]["latency_p50_ms"] == 875.0
    plain = await report(running, **WINDOW, bucket="hour")
    assert "latency_p50_ms" not in plain["measures"] and "latency_p50_ms" not in plain["rows"][0]
    csv = await running.client.get("/api/v1/reports/spend", params={**WINDOW, "bucket": "total", "latency": "true",
                                                                    "format": "csv"}, headers=running.headers())
    header, row = csv.text.splitlines()[:2]
    assert header.endswith("latency_p50_ms,latency_p95_ms") and row.endswith("875.0,300000.0")


async def test_a_range_without_latencies_has_no_percentiles(running: Running) -> None:
    await price(running)
    await ingest(running, [event("2026-05-01T10:05:00Z")])
    body = await report(running, **WINDOW, bucket="hour", latency="true")
    assert body["rows"][0]["requests"] == 1 and body["rows"][0]["latency_p50_ms"] is None
    assert body["totals"]["latency_p95_ms"] is None


async def test_latency_does_not_combine_with_the_narrow_rollups(running: Running) -> None:
    response = await running.client.get(
        "/api/v1/reports/spend", params={**WINDOW, "group_by": "limit", "latency": "true"}, headers=running.headers()
    )
    assert response.status_code == 400 and response.json()["xproxy_error"]["code"] == "unsupported_dimensions"


async def test_erasure_keeps_the_histograms(running: Running) -> None:
    await price(running)
    app_id, key = await create_app(running, "erased")
    await ingest(running, _events(user_id="ann") + [event("2026-05-01T10:07:00Z", end_to_end_latency_ms=90)], key)
    before = await _stored(running)
    rows_before = (await report(running, running.org_key, **WINDOW, bucket="hour", latency="true"))["rows"]
    counts = await erase(running.state.db, int(app_id), "user_id", "ann")
    assert counts["rollup_rows"] == 2
    assert await _stored(running) == before
    assert (await report(running, running.org_key, **WINDOW, bucket="hour", latency="true"))["rows"] == rows_before
