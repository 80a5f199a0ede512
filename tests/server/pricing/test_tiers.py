"""Large-context tiers: the cost of a call follows the catalog's tier rule for its resource, whoever produced the
units (issue 12). Every figure is checked against genai-prices' own ``calc_price`` (the catalog's source), and the
figures of the issue's table are asserted as well, so a change on either side shows (``reference.py``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from payi_server.pricing.cost import price_call
from payi_server.pricing.catalog import LARGE_CONTEXT_SUFFIX, Catalog
from payi_server.store.tables import requests

from ...conftest import Running
from .reference import CALLS, IDS, NOW, Call


def test_issue_table_figures_are_genai_prices_figures() -> None:
    for call in CALLS:
        if call.issue_figure is not None:
            assert call.reference() == Decimal(call.issue_figure), call


@pytest.mark.parametrize("call", CALLS, ids=IDS)
def test_price_call_matches_genai_prices_however_the_units_are_named(catalog: Catalog, call: Call) -> None:
    version = catalog.resolve(call.category, call.resource, NOW)
    assert version is not None
    expected = call.reference()
    for tagged in (False, True):
        named, cost = price_call(call.units(tagged=tagged), version)
        assert cost.total == expected, (call, tagged, named)
        assert cost.unknown_units == {}
        above = call.total_input > (version.large_context_threshold or 0)
        assert all(name.endswith(LARGE_CONTEXT_SUFFIX) == above for name in named), named


async def _ingest(running: Running, body: dict[str, Any]) -> dict[str, Any]:
    response = await running.client.post("/api/v1/ingest", json=body, headers=running.headers())
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["xproxy_result"]
    return result


async def test_ingest_prices_the_tier_as_genai_prices_and_records_the_priced_units(
    running: Running, catalog: Catalog
) -> None:
    """Raw ingest (units as the official SDK names them, or untagged), one request per call and naming."""
    sent = 0
    for call in CALLS:
        expected = call.reference()
        for tagged in (False, True):
            body = {
                "category": call.category,
                "resource": call.resource,
                "units": call.units(tagged=tagged),
                "event_timestamp": NOW.isoformat(),
            }
            result = await _ingest(running, body)
            sent += 1
            assert Decimal(str(result["cost"]["total"]["base"])) == expected, (call, tagged, result)
            assert "unknown_units" not in result
    async with running.state.db.read() as conn:
        rows = (await conn.execute(select(requests).order_by(requests.c.id))).all()
    assert len(rows) == sent
    for index, row in enumerate(rows):
        call = CALLS[index // 2]
        assert row.cost_total == call.reference(), call
        assert row.unpriced is False
        # the recorded units are named the way they were priced, whichever names arrived
        version = catalog.resolve(call.category, call.resource, NOW)
        assert version is not None and version.large_context_threshold is not None
        above = call.total_input > version.large_context_threshold
        assert all(name.endswith(LARGE_CONTEXT_SUFFIX) == above for name in row.units), (call, row.units)
