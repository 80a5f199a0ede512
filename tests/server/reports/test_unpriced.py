"""Unpriced calls (issue 12): ``xproxy_result.cost`` stays a number, with ``unknown_units`` and a warning, and the
reports and the dashboard count such calls as unpriced, never as $0 spent."""

from __future__ import annotations

import re
from datetime import timedelta

from payi_server.store.changes import utcnow

from ...conftest import Running
from ..web.helpers import signed_in
from .data import CATEGORY, price, report


async def test_unpriced_calls_are_counted_as_unpriced_in_reports_and_the_dashboard(running: Running) -> None:
    await price(running)  # acme / m1: $0.001 per input unit
    at = (utcnow() - timedelta(minutes=5)).replace(microsecond=0).isoformat()
    bodies = [
        {"category": CATEGORY, "resource": "m1", "units": {"text": {"input": 1000}}},  # $1
        {"category": CATEGORY, "resource": "m-unknown", "units": {"text": {"input": 5000}}},  # no price at all
        {"category": CATEGORY, "resource": "m1", "units": {"text": {"input": 1000}, "guardrail_topic": {"input": 3}}},
    ]
    results = []
    for body in bodies:
        response = await running.client.post("/api/v1/ingest", json={**body, "event_timestamp": at}, headers=running.headers())
        assert response.status_code == 200, response.text
        results.append(response.json()["xproxy_result"])
    priced, unknown, partial = results
    assert "unknown_units" not in priced and "warnings" not in priced
    assert unknown["unknown_units"] == {"text": {"input": 5000}} and "resource_id" not in unknown
    assert unknown["cost"]["total"]["base"] == 0.0  # a number, as the SDK expects: the flag is unknown_units
    assert any("no price" in w for w in unknown["warnings"])
    assert partial["unknown_units"] == {"guardrail_topic": {"input": 3}} and partial["cost"]["total"]["base"] == 1.0
    assert any("guardrail_topic" in w for w in partial["warnings"])

    window = {"start": (utcnow() - timedelta(days=1)).isoformat(), "end": (utcnow() + timedelta(hours=1)).isoformat()}
    totals = (await report(running, **window))["totals"]
    assert (totals["requests"], totals["unpriced"], totals["cost_total"]) == (3, 2, 2.0)
    by_resource = {r["resource"]: r for r in (await report(running, **window, group_by="resource"))["rows"]}
    assert (by_resource["m-unknown"]["unpriced"], by_resource["m-unknown"]["requests"]) == (1, 1)
    assert by_resource["m1"]["unpriced"] == 1

    client = await signed_in(running, "ops@example.com")
    try:
        overview = await client.get("/", params={"range": "24h"})
        assert overview.status_code == 200
        assert 'id="total-spend">$2.00<' in overview.text
        assert re.search(r">Unpriced</span>\s*<span[^>]*>2</span>", overview.text), "the overview's unpriced count"
        listing = await client.get("/requests", params={"range": "24h"})
        assert listing.status_code == 200
        # the call with no price at all shows no amount (never "$0.00"); the partly priced one its amount and a badge
        assert listing.text.count(">no price</span>") == 1 and listing.text.count(">unpriced</span>") == 1
        row = next(r for r in listing.text.split("<tr") if "m-unknown" in r)
        assert "$0.00" not in row and ">—<" in row
    finally:
        await client.aclose()
