"""What the dashboard shows, on SQLite and PostgreSQL: one money format, filters kept by the navigation, the same
default range on the overview and the request log, limits near their max and the trend against the period before."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from payi_server.reports.forecast import forecast_limits, forecast_over
from payi_server.store.changes import utcnow
from payi_server.store.tables import limits
from payi_server.web.context import money

from ...conftest import Running
from ..reports.data import create_app, event, ingest, price
from .conftest import Login


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "$0.00"), (1.44, "$1.44"), (0.4901648, "$0.49"), (0.5429728, "$0.54"), (Decimal("0.005"), "$0.0050"),
        (0.000125, "$0.00013"), (0.00995, "$0.01"), (1234.565, "$1,234.57"), (-0.5, "-$0.50"),
        (Decimal("0.00000000012"), "$0.00000000012"), (100_000_000, "$100,000,000.00"),
    ],
)
def test_one_money_format(value: object, shown: str) -> None:
    assert money(value) == shown


async def _limit(running: Running, name: str, maximum: float, spend_units: int, threshold: float | None = None) -> str:
    body: dict[str, object] = {"limit_name": name, "max": maximum}
    if threshold is not None:
        body["threshold"] = threshold
    response = await running.client.post("/api/v1/limits", json=body, headers=running.headers())
    assert response.status_code == 201, response.text
    limit_id = str(response.json()["limit"]["limit_id"])
    if spend_units:
        await ingest(running, [event(utcnow(), spend_units, limit_ids=[limit_id])])
    return limit_id


async def test_overview_lists_limits_near_their_max_with_the_true_percentage(running: Running, login: Login) -> None:
    await price(running)
    over = await _limit(running, "over", 2, 2860)  # $2.86 of $2: 143%
    near = await _limit(running, "near", 10, 8500)  # 85%
    calm = await _limit(running, "calm", 100, 1000)  # 1%
    client = await login("ops@example.com")
    page = (await client.get("/")).text
    panel = page[page.index('id="near-limits"'):]
    assert panel.index(over) < panel.index(near) and calm not in panel
    row = re.search(rf'data-limit-id="{over}">(.*?)</tr>', panel, re.S).group(1)
    assert 'value="2.0"' in row  # the bar stops at max
    assert '<span class="pct">143.0%</span>' in row and 'badge-overrun">overrun<' in row
    limits = (await client.get("/limits")).text
    assert '<span class="pct">143.0%</span>' in limits and '<span class="pct">85.0%</span>' in limits


async def test_trend_against_the_same_hours_before(running: Running, login: Login) -> None:
    await price(running)
    now = utcnow()
    await ingest(running, [event(now - timedelta(hours=1), 3000), event(now - timedelta(hours=25), 2000),
                           event(now - timedelta(hours=26), 2000)])
    client = await login("ops@example.com")
    page = (await client.get("/", params={"range": "24h"})).text
    assert re.search(r'id="spend-trend"[^>]*>▼ 25% vs the previous 24 hours<', page)  # $3 against $4
    assert re.search(r'id="requests-trend"[^>]*>▼ 50% vs the previous 24 hours<', page)  # 1 request against 2
    first = (await client.get("/", params={"range": "custom", "start_date": "2020-01-01", "end_date": "2020-01-02"})).text
    assert 'id="spend-trend"' not in first  # nothing before: no trend


async def test_navigation_keeps_the_filters_and_both_pages_default_to_seven_days(running: Running, login: Login) -> None:
    client = await login("ops@example.com")
    page = (await client.get("/", params={"range": "30d", "user": "ann"})).text
    for href in ("/requests", "/breakdown/resource", "/use-cases", "/limits", "/applications", "/users"):
        assert f'href="{href}?range=30d&amp;user=ann"' in page, href
    assert '<option value="7d" selected>' in (await client.get("/requests")).text
    assert '<option value="7d" selected>' in (await client.get("/")).text


async def test_request_log_latency_sorting_and_export_names(running: Running, login: Login) -> None:
    await price(running)
    now = utcnow()
    await ingest(running, [
        event(now - timedelta(minutes=3), 1000, user_id="slow", end_to_end_latency_ms=900),
        event(now - timedelta(minutes=2), 5000, user_id="dear", end_to_end_latency_ms=100),
        event(now - timedelta(minutes=1), 10, user_id="new"),
    ])
    client = await login("ops@example.com")

    def users(html: str) -> list[str]:
        body = html[html.index("<tbody>"):]
        return re.findall(r'<td class="wide">(slow|dear|new)</td>', body)

    assert users((await client.get("/requests")).text) == ["new", "dear", "slow"]
    assert users((await client.get("/requests", params={"sort": "oldest"})).text) == ["slow", "dear", "new"]
    assert users((await client.get("/requests", params={"sort": "cost"})).text) == ["dear", "slow", "new"]
    latency = (await client.get("/requests", params={"sort": "latency"})).text
    assert users(latency) == ["slow", "dear", "new"]  # no latency: last
    assert '<td class="num latency">900 ms</td>' in latency
    assert (await client.get("/requests", params={"sort": "nonsense"})).status_code == 200

    log = await client.get("/export/requests.csv", params={"range": "7d"})
    rows = list(csv.DictReader(io.StringIO(log.text)))
    assert {r["application"] for r in rows} == {"default"}  # by name
    day = utcnow().astimezone(ZoneInfo("Europe/Paris"))
    first = (day - timedelta(days=6)).strftime("%Y-%m-%d")
    client.cookies.set("payi_tz", "Europe/Paris")
    log = await client.get("/export/requests.csv", params={"range": "7d"})
    assert log.headers["content-disposition"] == (
        f'attachment; filename="payi-requests-{first}-to-{day.strftime("%Y-%m-%d")}.csv"')
    report = await client.get("/export/report.csv", params={"range": "custom", "start_date": "2026-11-01",
                                                            "end_date": "2026-11-30", "group": "property:team x"})
    assert report.headers["content-disposition"] == (
        'attachment; filename="payi-spend-by-property-team_x-per-day-2026-11-01-to-2026-11-30.csv"')


async def test_use_cases_across_applications_with_a_total_and_instances_of_the_range(
    running: Running, login: Login
) -> None:
    await price(running)
    _other_id, other_key = await create_app(running, "billing")
    now = utcnow()
    await ingest(running, [event(now, 1000, use_case_name="support", use_case_id="s1"),
                           event(now, 1000, use_case_name="support", use_case_id="s1"),
                           event(now, 500, use_case_name="search", use_case_id="q1")])
    await ingest(running, [event(now, 2000, use_case_name="support", use_case_id="s9")], key=other_key)
    client = await login("ops@example.com")
    page = (await client.get("/use-cases", params={"range": "24h"})).text
    support = page[page.index('data-use-case="support"'):page.index('data-use-case="search"')]
    group = re.search(r'<tr class="group-row">(.*?)</tr>', support, re.S).group(1)
    assert "all 2 applications" in group
    assert re.findall(r'<td class="num">([^<]*)</td>', group) == ["2", "3", "$4.00"]  # instances, requests, spend
    total = re.search(r'<tr id="use-case-total">(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r'<th class="num">([^<]*)</th>', total) == ["3", "4", "$4.50"]
    past = (await client.get("/use-cases", params={"range": "custom", "start_date": "2020-01-01",
                                                   "end_date": "2020-01-02"})).text
    total = re.search(r'<tr id="use-case-total">(.*?)</tr>', past, re.S).group(1)
    assert re.findall(r'<th class="num">([^<]*)</th>', total) == ["0", "0", "$0.00"]  # nothing started then


async def test_chart_data_ends_with_the_range_and_marks_the_bucket_in_progress(running: Running, login: Login) -> None:
    await price(running)
    await ingest(running, [event(utcnow(), 1000), event("2020-01-02T12:00:00Z", 1000)])
    client = await login("ops@example.com")
    week = _chart_of((await client.get("/", params={"range": "7d", "bucket": "day"})).text)
    assert week["end"] - week["x"][-1] in (23 * 3600, 24 * 3600, 25 * 3600)  # the last day, whole
    assert week["partial_from"] == week["x"][-1]  # today is in progress
    day = _chart_of((await client.get("/", params={"range": "24h"})).text)
    assert day["end"] == day["x"][-1] + 3600 and day["partial_from"] == day["x"][-1]
    past = _chart_of((await client.get("/", params={"range": "custom", "start_date": "2020-01-01",
                                                    "end_date": "2020-01-03", "bucket": "day"})).text)
    assert past["partial_from"] is None and len(past["x"]) == 3
    counts = _chart_of((await client.get("/", params={"range": "24h"})).text, "counts-chart")
    assert [(c["label"], sum(c["values"])) for c in counts["series"]] == [("Requests", 1), ("Failed", 0), ("Blocked", 0)]
    assert counts["unit"] == "count" and counts["x"] == day["x"]


def _chart_of(html: str, chart: str = "spend-chart") -> dict:  # type: ignore[type-arg]
    import json

    found = re.search(rf'<script type="application/json" id="{chart}-data">(.*?)</script>', html, re.S)
    assert found, "no chart"
    return json.loads(found.group(1))  # type: ignore[no-any-return]


async def test_forecasts_from_the_limit_rollups(running: Running, login: Login) -> None:
    await price(running)
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    once = await _limit(running, "once", 10, 0)
    daily = (await running.client.post(
        "/api/v1/limits", json={"limit_name": "daily", "max": 1000, "period": "day", "timezone": "UTC"},
        headers=running.headers())).json()["limit"]["limit_id"]
    fresh = await _limit(running, "fresh", 10, 0)
    await ingest(running, [event(now - timedelta(hours=30), 2000, limit_ids=[once]),
                           event(now - timedelta(hours=1), 2000, limit_ids=[once, daily])])
    async with running.state.db.write() as conn:  # both limits exist since two days
        await conn.execute(update(limits).where(limits.c.limit_id.in_([once, daily])).values(
            created_at=now - timedelta(hours=48)))
        rows = [dict(r._mapping) for r in (await conn.execute(select(limits))).all()]
    shown = {r["limit_id"]: {**r, "spent": float(r["spent_total"])} for r in rows}
    ahead = await forecast_limits(running.state.db, shown.values(), now)
    by_id = {r["limit_id"]: ahead.get(int(r["id"])) for r in rows}
    first = by_id[once]
    assert first is not None and first.per_day == 2.0  # $4 over 48 hours
    assert first.reached_at == now + timedelta(hours=72) and first.window_end is None and first.projected is None
    today = by_id[daily]
    midnight = now.replace(hour=0) + timedelta(days=1)
    rate = 2.0 / ((now - now.replace(hour=0)) / timedelta(hours=1)) if now.hour else None
    if rate is None:
        assert today is None  # the window began less than an hour ago
    else:
        assert today is not None and today.window_end == midnight and today.reached_at is None
        assert today.projected == pytest.approx(2.0 + rate * (midnight - now) / timedelta(hours=1))
    assert by_id[fresh] is None  # less than an hour of history
    client = await login("ops@example.com")
    page = (await client.get("/limits")).text
    row = re.search(rf'data-limit-id="{once}">(.*?)</tr>', page, re.S).group(1)
    assert "/day" in row and "max on" in row
    overview = (await client.get("/")).text
    assert f'data-limit-id="{once}"' in overview[overview.index('id="near-limits"'):]  # its max within 7 days


async def test_forecasts_at_the_rate_of_the_selected_range(running: Running, login: Login) -> None:
    await price(running)
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    cap = await _limit(running, "cap", 10, 0)
    await ingest(running, [event(now - timedelta(days=5), 6000, limit_ids=[cap]),
                           event(now - timedelta(hours=1), 1000, limit_ids=[cap])])
    async with running.state.db.write() as conn:  # created 10 days ago
        await conn.execute(update(limits).where(limits.c.limit_id == cap).values(created_at=now - timedelta(days=10)))
        row = dict((await conn.execute(select(limits).where(limits.c.limit_id == cap))).one()._mapping)
    shown = [{**row, "spent": 7.0}]
    pk = int(row["id"])
    recent = (await forecast_limits(running.state.db, shown, now))[pk]
    assert recent.per_day == pytest.approx(1.0)  # $7 over the last 7 days

    async def rate(start: timedelta, end: timedelta) -> float | None:
        found = (await forecast_over(running.state.db, shown, now, now - start, now - end)).get(pk)
        return found.per_day if found is not None else None

    assert await rate(timedelta(hours=48), -timedelta(hours=5)) == pytest.approx(0.5)  # $1 in 48 hours up to now
    assert await rate(timedelta(days=6), timedelta(days=4)) == pytest.approx(3.0)  # a past range: $6 in 48 hours
    assert await rate(timedelta(days=30), timedelta(0)) == pytest.approx(0.7)  # from its creation: $7 in 10 days
    assert await rate(timedelta(days=40), timedelta(days=20)) is None  # before it existed
    async with running.state.db.write() as conn:  # a reset shortens the recent rate, not the range's
        await conn.execute(update(limits).where(limits.c.limit_id == cap).values(reset_at=now - timedelta(hours=2)))
    row["reset_at"] = now - timedelta(hours=2)
    assert (await forecast_limits(running.state.db, [{**row, "spent": 1.0}], now))[pk].per_day == pytest.approx(12.0)
    assert await rate(timedelta(days=30), timedelta(0)) == pytest.approx(0.7)

    client = await login("ops@example.com")
    day = f"{now - timedelta(days=5):%Y-%m-%d}"  # the day of the $6 call, in UTC
    params = {"range": "custom", "start_date": day, "end_date": day, "tz": "UTC"}
    page = (await client.get("/limits", params=params)).text
    assert f"At the rate of {day} to {day}" in page and 'id="forecast-basis"' in page
    cells = re.search(rf'data-limit-id="{cap}">(.*?)</tr>', page, re.S).group(1)
    recent_shown, range_shown = re.findall(r'<span class="forecast">\s*([^<]*?)/day', cells)
    assert range_shown == "$6.00" and recent_shown != range_shown  # $6 in that day; the recent rate since the reset
    overview = (await client.get("/", params=params)).text
    panel = overview[overview.index('id="near-limits"'):]
    assert f"At the rate of {day} to {day}" in panel
    assert re.findall(r'<span class="forecast">\s*([^<]*?)/day', panel)[1] == "$6.00"
    week = (await client.get("/limits", params={"range": "7d", "tz": "UTC"})).text
    assert "At the rate of last 7 days" in week


async def test_overview_latency_chart_from_the_rollup_histograms(running: Running, login: Login) -> None:
    await price(running)
    now = utcnow().replace(second=0, microsecond=0)
    earlier = now - timedelta(hours=2)
    await ingest(running, [event(now, end_to_end_latency_ms=ms) for ms in (120, 120, 800, 2400, 40_000)]
                 + [event(earlier, end_to_end_latency_ms=300), event(earlier)])  # the last one has no latency
    client = await login("ops@example.com")
    page = (await client.get("/", params={"range": "24h"})).text
    latency = _chart_of(page, "latency-chart")
    spend = _chart_of(page)
    assert latency["unit"] == "ms" and latency["x"] == spend["x"]
    assert [s["label"] for s in latency["series"]] == ["p50", "p95"]
    p50, p95 = (dict(zip(latency["x"], s["values"], strict=True)) for s in latency["series"])
    this_hour, two_ago = int(now.replace(minute=0).timestamp()), int(earlier.replace(minute=0).timestamp())
    # this hour: ranks 2.5 and 4.75 of 5 fall in [750, 1000) and [30000, 45000); 2 hours ago: one call in [300, 500)
    assert (p50[this_hour], p95[this_hour]) == (875.0, 41250.0)
    assert (p50[two_ago], p95[two_ago]) == (400.0, 490.0)
    assert {v for t, v in p50.items() if t not in (this_hour, two_ago)} == {None}  # no latency: a gap, not 0 ms
    # the whole range: 6 latencies, ranks 3 and 5.7: [300, 500) ends the 3rd; the 6th is in [30000, 45000)
    assert latency["totals"] == [500.0, 40500.0]
    card = re.search(r'id="total-latency">([^<]*)<', page).group(1)
    assert card == "500 / 40,500 ms"
    past = (await client.get("/", params={"range": "custom", "start_date": "2020-01-01", "end_date": "2020-01-02"})).text
    assert 'id="latency-chart"' not in past
