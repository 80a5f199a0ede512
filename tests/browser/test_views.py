"""What the dashboard shows, in a real browser: one money format in every card, cell and chart label; filters kept
while navigating; limits near their max (a 143% limit: a full bar, a true label) and the trend on the overview."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from ..conftest import Live
from .conftest import add_user, price_and_ingest, sign_in

pytestmark = pytest.mark.browser

MONEY = re.compile(r"^-?\$(\d{1,3}(,\d{3})*\.\d{2}|0\.0\d*[1-9]\d?)$")


async def _setup(live: Live) -> str:
    """$0.4901648, $1.44 and $1.42 of spend now, $1 eight days ago, and a limit of $2 with $2.86 spent (143%)."""
    async with httpx2.AsyncClient(base_url=live.url, timeout=30) as http:
        response = await http.post("/api/v1/limits", json={"limit_name": "team cap", "max": 2},
                                   headers={"xProxy-api-key": live.app_key})
        limit_id = response.json()["limit"]["limit_id"]
    now = datetime.now(UTC)
    items = [
        {"category": "acme", "resource": "m1", "units": {"text": {"input": 4901648}}, "user_id": "ann",
         "event_timestamp": (now - timedelta(minutes=5)).isoformat()},
        {"category": "acme", "resource": "m1", "units": {"text": {"input": 14400000}}, "user_id": "bob",
         "event_timestamp": (now - timedelta(minutes=4)).isoformat(), "limit_ids": [limit_id]},
        {"category": "acme", "resource": "m1", "units": {"text": {"input": 14200000}}, "user_id": "bob",
         "event_timestamp": (now - timedelta(minutes=3)).isoformat(), "limit_ids": [limit_id]},
        {"category": "acme", "resource": "m1", "units": {"text": {"input": 10000000}}, "user_id": "ann",
         "event_timestamp": (now - timedelta(days=8)).isoformat()},
    ]
    await price_and_ingest(live, items, 0.0000001, 0.0000002)
    return str(limit_id)


async def test_money_limits_near_max_trend_and_filters_across_pages(page: Any, live: Live, tmp_path: Path) -> None:
    limit_id = await _setup(live)
    await add_user(live, "ops@example.com", role="viewer")
    await sign_in(page, live, "ops@example.com")
    await page.goto(live.url + "/?range=7d")
    cells = await page.locator(".card .value#total-spend, table.data td.num").all_inner_texts()
    money_cells = [c.split(" ")[0] for c in cells if "$" in c]
    assert money_cells and all(MONEY.match(c) for c in money_cells), money_cells
    assert "$0.49" in money_cells  # ann's $0.4901648
    await page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
    assert await page.inner_text("#total-spend") == "$3.35"
    # the trend: $3.35 in the last 7 days against $1 in the 7 days before
    assert "▲" in await page.inner_text("#spend-trend") and "previous 7 days" in await page.inner_text("#spend-trend")
    row = page.locator(f"#near-limits tr[data-limit-id='{limit_id}']")
    assert await row.locator(".pct").inner_text() == "143.0%"
    meter = row.locator("meter")
    assert await meter.evaluate("m => m.value === m.max")  # a full bar, never past it
    assert "max reached" in await row.locator(".forecast").first.inner_text()  # the recent-rate forecast column
    # filters follow the navigation
    await page.select_option("#f-range", "30d")
    await page.fill("input[name=user]", "bob")
    await page.click("#f-apply")
    await page.wait_for_url("**user=bob**")
    assert await page.inner_text("#total-spend") == "$2.86"
    await page.click("header nav >> text=Requests")
    await page.wait_for_url("**/requests?**")
    assert await page.input_value("#f-range") == "30d" and await page.input_value("input[name=user]") == "bob"
    assert await page.locator("table.requests tbody tr").count() == 2
    await page.click("header nav >> text=Overview")
    assert await page.input_value("input[name=user]") == "bob"


async def test_request_log_latency_sorting_export_and_a_phone(page: Any, live: Live, tmp_path: Path) -> None:
    await _setup(live)
    await add_user(live, "ops@example.com", role="viewer")
    await sign_in(page, live, "ops@example.com")
    await page.goto(live.url + "/requests")
    assert await page.locator("table.requests tbody tr").count() == 3  # 7 days, as on the overview
    await page.click("table.requests th >> text=Cost")
    await page.wait_for_url("**sort=cost**")
    costs = await page.locator("table.requests tbody td.num:not(.wide):not(.latency)").all_inner_texts()
    assert [c.split(" ")[0] for c in costs] == ["$1.44", "$1.42", "$0.49"]
    assert await page.locator("table.requests th >> text=Latency").count() == 1
    async with page.expect_download() as download_info:
        await page.click("text=Download CSV")
    download = await download_info.value
    assert re.fullmatch(r"payi-requests-\d{4}-\d{2}-\d{2}-to-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    text = Path(await download.path()).read_text(encoding="utf-8")
    assert ",default," in text  # the application by name
    # a phone: the log fits the screen's width
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(live.url + "/requests")
    wide = await page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391)"
        ".map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 8)"
    )
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390, wide
    assert await page.locator("table.requests tbody tr").count() == 3
    assert await page.locator("table.requests td.latency").first.is_visible()
    await page.screenshot(path=str(tmp_path / "requests-phone.png"), full_page=True)


async def test_charts_daily_axis_whole_last_bar_partial_bucket_and_legend(page: Any, live: Live, tmp_path: Path) -> None:
    await _setup(live)
    await add_user(live, "ops@example.com", role="viewer")
    await sign_in(page, live, "ops@example.com")
    await page.goto(live.url + "/?range=7d")
    await page.wait_for_selector("#spend-chart.drawn canvas")
    chart = "window.payiCharts[0]"
    # daily bars on a daily axis: every tick at midnight in the page's zone (Europe/Paris)
    ticks = await page.evaluate(
        f"{chart}.chart.axes[0]._splits.map(t => new Date(t * 1000).toLocaleTimeString('en-GB', "
        "{timeZone: 'Europe/Paris', hour12: false}))"
    )
    assert ticks and set(ticks) == {"00:00:00"}, ticks
    # the x scale covers the whole last bucket, and today (in progress) is marked
    x_min, x_max, first, end, partial = await page.evaluate(
        f"[{chart}.chart.scales.x.min, {chart}.chart.scales.x.max, {chart}.data.x[0], {chart}.data.end, "
        f"{chart}.data.partial_from]"
    )
    assert (x_min, x_max) == (first, end)
    assert partial == await page.evaluate(f"{chart}.data.x[{chart}.data.x.length - 1]")
    assert "so far" in await page.inner_text(".chart-box figcaption")
    # the legend shows the range's totals before any hover, never "--"
    legend = await page.locator("#spend-chart .u-legend .u-value").all_inner_texts()
    assert legend == ["whole range", "$3.35"], legend
    counts = await page.locator("#counts-chart .u-legend .u-value").all_inner_texts()
    assert counts == ["whole range", "3", "0", "0"], counts  # requests, failed, blocked
    await page.screenshot(path=str(tmp_path / "chart-7d.png"), full_page=True)

    await page.goto(live.url + "/?range=24h")
    await page.wait_for_selector("#spend-chart.drawn canvas")
    last, x_max, end = await page.evaluate(
        f"[{chart}.data.x[{chart}.data.x.length - 1], {chart}.chart.scales.x.max, {chart}.data.end]"
    )
    assert end == last + 3600 and x_max == end  # the last hourly bar is drawn whole
    await page.hover("#spend-chart .u-over", position={"x": 5, "y": 50})
    hovered = await page.locator("#spend-chart .u-legend .u-value").all_inner_texts()
    assert hovered[0] != "whole range" and hovered[1].startswith("$"), hovered
