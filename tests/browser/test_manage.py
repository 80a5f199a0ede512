"""Running the budget from the dashboard in a real browser: changes are POST-redirect-GET (a reload re-posts
nothing), limits and users are managed by admins and only seen by viewers."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from ..conftest import Live
from .conftest import add_user, sign_in

pytestmark = pytest.mark.browser


async def test_reloading_after_a_regenerated_key_keeps_that_key(page: Any, live: Live) -> None:
    await add_user(live, "admin@example.com")
    await sign_in(page, live, "admin@example.com")
    await page.goto(live.url + "/applications")
    page.on("dialog", lambda dialog: dialog.accept())
    await page.click("section[data-app=default] tr[data-slot='1'] button[name=regenerate]")
    await page.wait_for_selector("[data-new-key]")
    assert page.url == live.url + "/applications"  # redirected: the address bar holds no POST
    new_key = (await page.inner_text("[data-new-key]")).strip()
    await page.reload()
    assert await page.query_selector("[data-new-key]") is None  # shown once
    assert new_key not in await page.content()
    async with httpx2.AsyncClient(base_url=live.url, timeout=30) as http:
        # the reload regenerated nothing: the key just copied still works
        assert (await http.get("/api/v1/whoami", headers={"xProxy-api-key": new_key})).status_code == 200
    await page.go_back()
    assert new_key not in await page.content()
