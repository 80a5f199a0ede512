"""Headless Debian Chromium driven by Playwright's async API (never a downloaded browser).

Browser tests skip, with the reason, only when ``/usr/bin/chromium`` or the ``playwright`` package is missing;
``.ci/run`` installs both.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from payi_server.store.engine import Database
from payi_server.web.accounts import Accounts

from ..conftest import Live

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PASSWORD = "browser test password"


@pytest.fixture(scope="session")
def playwright_api() -> Any:
    """Playwright's async API, or a skip naming what is missing (before any server starts)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    return pytest.importorskip("playwright.async_api", reason="playwright is not installed (pip install playwright)")


@pytest.fixture
async def page(playwright_api: Any, live: Live) -> AsyncIterator[Any]:
    """A page in a fresh browser (its own cookies), in the Europe/Paris zone."""
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = await browser.new_context(
                timezone_id="Europe/Paris", locale="en-GB", viewport={"width": 1280, "height": 900}
            )
            context.set_default_timeout(15_000)
            yield await context.new_page()
            await context.close()
        finally:
            await browser.close()


async def add_user(live: Live, email: str, role: str = "admin") -> None:
    db = Database(live.settings.sqlalchemy_url, pool_size=1)
    try:
        await Accounts(db).create_user(live.boot.org_id, email, PASSWORD, role)
    finally:
        await db.dispose()


async def sign_in(page: Any, live: Live, email: str) -> None:
    await page.goto(live.url + "/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(live.url + "/")


async def price_and_ingest(live: Live, items: list[dict[str, Any]], input_price: float, output_price: float) -> None:
    """Prices for the resource ``acme/m1`` (per unit), then ``items`` ingested in bulk with the application key."""
    async with httpx2.AsyncClient(base_url=live.url, timeout=30) as http:
        response = await http.post(
            "/api/v1/categories/acme/resources/m1",
            json={"units": {"text": {"input_price": input_price, "output_price": output_price}},
                  "start_timestamp": "2020-01-01T00:00:00Z"},
            headers={"xProxy-api-key": live.org_key},
        )
        assert response.status_code == 200, response.text
        response = await http.post("/api/v1/ingest/bulk", json=items, headers={"xProxy-api-key": live.app_key})
        assert response.status_code == 200 and response.json()["error_count"] == 0, response.text
