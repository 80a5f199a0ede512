"""The overview's latency chart in a real browser: p50 and p95 lines beside spend, a legend with the range's
percentiles before any hover and a bucket's on hover."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ..conftest import Live
from .conftest import add_user, price_and_ingest, sign_in

pytestmark = pytest.mark.browser


async def _ingest(live: Live) -> None:
    """Five calls a minute ago: 120, 120, 800, 2,400 and 40,000 ms."""
    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    items = [{"category": "acme", "resource": "m1", "units": {"text": {"input": 1000}}, "event_timestamp": at,
              "end_to_end_latency_ms": ms} for ms in (120, 120, 800, 2400, 40_000)]
    await price_and_ingest(live, items, 0.000001, 0.000002)


async def test_latency_chart_with_its_legend(page: Any, live: Live, tmp_path: Path) -> None:
    await _ingest(live)
    await add_user(live, "ops@example.com", role="viewer")
    await sign_in(page, live, "ops@example.com")
    await page.goto(live.url + "/?range=24h")
    await page.wait_for_selector("#latency-chart.drawn canvas")
    assert "End-to-end latency (p50, p95)" in await page.inner_text("#latency-chart >> xpath=..")
    labels = await page.locator("#latency-chart .u-legend .u-label").all_inner_texts()
    assert labels == ["Hour", "p50", "p95"], labels
    # before any hover: the range's percentiles (ranks 2.5 and 4.75 of 5: in [750, 1000) and [30000, 45000))
    legend = await page.locator("#latency-chart .u-legend .u-value").all_inner_texts()
    assert legend == ["whole range", "875 ms", "41,250 ms"], legend
    assert await page.inner_text("#total-latency") == "875 / 41,250 ms"
    # drawn beside spend and the counts, over the same hours; the hours without calls are gaps, not 0 ms
    same_x = await page.evaluate(
        "(() => { const c = Object.fromEntries(window.payiCharts.map(p => [p.id, p.data]));"
        " return JSON.stringify(c['latency-chart'].x) === JSON.stringify(c['spend-chart'].x)"
        " && c['latency-chart'].series[0].values.filter(v => v === null).length === c['latency-chart'].x.length - 1; })()"
    )
    assert same_x
    box = await page.locator("#latency-chart .u-over").bounding_box()
    await page.hover("#latency-chart .u-over", position={"x": box["width"] - 2, "y": 50})
    hovered = await page.locator("#latency-chart .u-legend .u-value").all_inner_texts()
    assert hovered[0] != "whole range", hovered
    await page.screenshot(path=str(tmp_path / "latency-chart.png"), full_page=True)
