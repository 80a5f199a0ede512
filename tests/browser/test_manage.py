"""Running the budget from the dashboard in a real browser: changes are POST-redirect-GET (a reload re-posts
nothing), limits and users are managed by admins and only seen by viewers."""

from __future__ import annotations

from pathlib import Path
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


async def test_an_admin_runs_a_limit_from_the_dashboard(page: Any, live: Live, tmp_path: Path) -> None:
    await add_user(live, "admin@example.com")
    await sign_in(page, live, "admin@example.com")
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto(live.url + "/limits")
    assert "Create the first one with the form below" in await page.inner_text("#empty-state")
    await page.fill("#new-limit input[name=limit_name]", "support budget")
    await page.fill("#new-limit input[name=max]", "25")
    await page.select_option("#new-limit select[name=limit_type]", "block")
    await page.fill("#new-limit input[name=threshold]", "90")
    await page.select_option("#new-limit select[name=period]", "week")
    assert await page.input_value("#new-limit input[name=timezone]") == "Europe/Paris"  # the browser's zone
    await page.click("#create-limit")
    await page.wait_for_selector("#notice")
    assert "created" in await page.inner_text("#notice")
    facts = await page.inner_text("#limit-facts")
    assert "each week at midnight in Europe/Paris" in facts and "90% ($22.50)" in facts
    await page.reload()
    assert await page.query_selector("#notice") is None  # one view

    await page.fill("#edit input[name=max]", "30")
    await page.check("#edit input[name=strict]")
    await page.click("#save-limit")
    await page.wait_for_selector("#notice")
    assert "$30.00" in await page.inner_text("#limit-facts") and "strict" in await page.inner_text("#limit-facts")
    await page.goto(live.url + "/limits")
    row = page.locator("tr[data-limit-id]")
    assert "90%" in await row.locator(".threshold").inner_text()
    assert "each week" in await row.locator(".period").inner_text()
    await page.screenshot(path=str(tmp_path / "limits.png"), full_page=True)
    await row.locator("a", has_text="support budget").click()
    await page.click("#delete-limit")
    await page.wait_for_url(live.url + "/limits")
    assert "deleted" in await page.inner_text("#notice")
    assert await page.query_selector("tr[data-limit-id]") is None


async def test_a_viewer_sees_limits_and_users_but_no_forms(page: Any, live: Live) -> None:
    async with httpx2.AsyncClient(base_url=live.url, timeout=30) as http:
        response = await http.post("/api/v1/limits", json={"limit_name": "cap", "max": 5, "threshold": 0.8},
                                   headers={"xProxy-api-key": live.app_key})
        assert response.status_code == 201, response.text
    await add_user(live, "viewer@example.com", role="viewer")
    await sign_in(page, live, "viewer@example.com")
    await page.goto(live.url + "/limits")
    assert await page.query_selector("tr[data-limit-id]") is not None
    assert await page.query_selector("form[method=post][action^='/limits']") is None
    await page.click("tr[data-limit-id] a")
    assert "cap" in await page.inner_text("h1")
    assert await page.query_selector("#edit") is None and await page.query_selector("#delete-limit") is None
    await page.click("nav >> text=Users")
    assert "viewer@example.com" in await page.inner_text("table.users")
    assert await page.query_selector("form[action^='/users']") is None


async def test_an_admin_adds_a_user_who_signs_in_with_the_generated_password(page: Any, live: Live) -> None:
    await add_user(live, "admin@example.com")
    await sign_in(page, live, "admin@example.com")
    await page.goto(live.url + "/users")
    await page.fill("#new-user input[name=email]", "cfo@example.com")
    await page.select_option("#new-user select[name=role]", "viewer")
    await page.click("#create-user")
    password = (await page.inner_text("[data-new-password]")).strip()
    await page.reload()
    assert await page.query_selector("[data-new-password]") is None
    await page.click("header button.link")  # sign out
    await page.wait_for_url("**/login")
    await page.fill("input[name=email]", "cfo@example.com")
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(live.url + "/")
    assert "viewer" in await page.inner_text("header")


async def test_an_admin_adds_an_alert_endpoint_and_sends_a_test(page: Any, live: Live, tmp_path: Path) -> None:
    from ..server.alerts.receiver import receiver

    await add_user(live, "admin@example.com")
    await sign_in(page, live, "admin@example.com")
    async with receiver() as hook:
        await page.click("header nav >> text=Alerts")
        assert "Add one with the form below" in await page.inner_text("#empty-state")
        await page.fill("#new-endpoint input[name=name]", "ops")
        await page.fill("#new-endpoint input[name=url]", hook.url + "/services/T0/B0/SECRETPATH")
        await page.select_option("#new-endpoint select[name=format]", "slack")
        await page.click("#create-endpoint")
        secret = (await page.inner_text("[data-new-secret]")).strip()
        assert secret.startswith("whsec_")
        assert "SECRETPATH" not in await page.content()  # a Slack URL's path is its secret
        await page.click("tr[data-endpoint=ops] button[name=test]")
        await page.wait_for_selector("#notice")
        assert await page.inner_text("#notice") == "Test alert sent."
        assert secret not in await page.content()  # shown once
        assert len(hook.received) == 1 and b"test alert to 'ops'" in hook.received[0]["body"]
        row = page.locator("table.deliveries tbody tr").first
        assert await row.get_attribute("data-status") == "sent" and "HTTP 200" in await row.inner_text()
        await page.screenshot(path=str(tmp_path / "alerts.png"), full_page=True)


async def test_an_admin_sets_a_limit_per_use_case_instance(page: Any, live: Live) -> None:
    async with httpx2.AsyncClient(base_url=live.url, timeout=30) as http:
        response = await http.post("/api/v1/use_cases/definitions", json={"name": "support", "description": ""},
                                   headers={"xProxy-api-key": live.app_key})
        assert response.status_code in (200, 201), response.text
    await add_user(live, "admin@example.com")
    await sign_in(page, live, "admin@example.com")
    await page.goto(live.url + "/use-cases")
    await page.click(".instance-limit-form summary")
    form = page.locator(".instance-limit-form form")
    await form.locator("input[name=max]").fill("3")
    await form.locator("select[name=limit_type]").select_option("block")
    await form.locator("button[name=set-instance-limit]").click()
    await page.wait_for_selector("#notice")
    assert "each instance: a block limit of $3.00" in await page.inner_text(".instance-limit")
    async with httpx2.AsyncClient(base_url=live.url, timeout=30) as http:
        created = await http.post("/api/v1/use_cases/instances/support", headers={"xProxy-api-key": live.app_key})
        assert created.status_code == 201, created.text
        limits = (await http.get("/api/v1/limits", headers={"xProxy-api-key": live.app_key})).json()["items"]
    assert [(lim["max"], lim["limit_type"]) for lim in limits] == [(3.0, "block")]
