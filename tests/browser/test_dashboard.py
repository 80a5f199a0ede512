"""The dashboard in a real browser: sign in, the spend of events just ingested on a chart, the use-case filter,
the browser's time zone, and a regenerated key whose predecessor is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from ..conftest import Live
from .conftest import add_user, price_and_ingest, sign_in

pytestmark = pytest.mark.browser


async def _ingest(live: Live) -> None:
    """$1 of 'support' and $2 of 'search', recorded a few minutes ago."""
    at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    items = [
        {"category": "acme", "resource": "m1", "units": {"text": {"input": 1000}}, "event_timestamp": at,
         "use_case_name": "support", "use_case_id": "s1", "user_id": "ann"},
        {"category": "acme", "resource": "m1", "units": {"text": {"input": 2000}}, "event_timestamp": at,
         "use_case_name": "search", "use_case_id": "q1", "user_id": "bob"},
    ]
    await price_and_ingest(live, items, 0.001, 0.002)


async def test_sign_in_and_see_the_spend_just_ingested(page: Any, live: Live, tmp_path: Path) -> None:
    await _ingest(live)
    await add_user(live, "ops@example.com")
    await sign_in(page, live, "ops@example.com")
    # the browser's zone is sent with every request (a cookie set by app.js) and used for buckets and times
    assert await page.get_attribute("body", "data-tz") == "Europe/Paris"
    assert await page.wait_for_selector("#spend-chart.drawn canvas") is not None
    assert float(await page.get_attribute("#spend-chart", "data-total") or 0) == pytest.approx(3.0)
    assert await page.inner_text("#total-spend") == "$3.00"
    assert await page.evaluate("window.payiCharts.length") == 2  # spend; requests, failed and blocked
    await page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

    await page.select_option("#f-use-case", "support")
    await page.click("#f-apply")
    await page.wait_for_url("**use_case=support**")
    await page.wait_for_selector("#spend-chart.drawn canvas")
    assert await page.inner_text("#total-spend") == "$1.00"
    assert float(await page.get_attribute("#spend-chart", "data-total") or 0) == pytest.approx(1.0)


async def test_a_wrong_password_stays_on_the_sign_in_page(page: Any, live: Live) -> None:
    await add_user(live, "ops@example.com")
    await page.goto(live.url + "/")
    assert "/login" in page.url
    await page.fill("input[name=email]", "ops@example.com")
    await page.fill("input[name=password]", "not the password")
    await page.click("button[type=submit]")
    assert "Wrong email or password" in await page.inner_text(".error")


async def test_regenerate_a_key_and_the_old_one_is_refused(page: Any, live: Live) -> None:
    await add_user(live, "admin@example.com")
    await sign_in(page, live, "admin@example.com")
    old_key = live.app_key
    async with httpx2.AsyncClient(base_url=live.url, timeout=30) as http:
        assert (await http.get("/api/v1/whoami", headers={"xProxy-api-key": old_key})).status_code == 200
        await page.goto(live.url + "/applications")
        page.on("dialog", lambda dialog: dialog.accept())
        await page.click("section[data-app=default] tr[data-slot='1'] button[name=regenerate]")
        new_key = (await page.inner_text("[data-new-key]")).strip()
        assert new_key.startswith("payi_app_") and new_key != old_key
        assert (await http.get("/api/v1/whoami", headers={"xProxy-api-key": old_key})).status_code == 401
        assert (await http.get("/api/v1/whoami", headers={"xProxy-api-key": new_key})).status_code == 200
    await page.goto(live.url + "/applications")
    assert new_key not in await page.content()  # shown once


async def test_a_viewer_sees_no_admin_buttons(page: Any, live: Live) -> None:
    await add_user(live, "viewer@example.com", role="viewer")
    await sign_in(page, live, "viewer@example.com")
    await page.goto(live.url + "/applications")
    assert await page.query_selector("button[name=regenerate]") is None
    assert "viewer" in await page.inner_text("header")
