"""``client.limits`` and ``client.limits.properties`` on the wire."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from payi.pagination import AsyncCursorPage, SyncCursorPage
from payi.types import DefaultResponse, Limit, LimitHistoryResponse, LimitResponse

from .wire import LIMIT, LIMIT_RESPONSE, TOTALS, Api, check_wire, page

HISTORY = {
    "limit_history": {"limit_id": "2579", "totals": TOTALS, "limit_reset_timestamp": "2025-01-01T00:00:00Z"},
    "request_id": "r1",
    "message": "Limit has been successfully reset.",
}
RESET_AT = datetime(2025, 5, 1, 16, 39, 38, 999504, tzinfo=UTC)

CASES: dict[str, dict[str, Any]] = {
    "create": dict(
        call=lambda c: c.limits.create(
            limit_name="team-a",
            max=100.0,
            limit_type="allow",
            threshold=0.9,
            properties={"team": "a"},
            limit_id="mine",
        ),
        method="POST",
        path="/api/v1/limits",
        response=LIMIT_RESPONSE,
        result_type=LimitResponse,
        body={
            "limit_name": "team-a",
            "max": 100.0,
            "limit_type": "allow",
            "threshold": 0.9,
            "properties": {"team": "a"},
            "limit_id": "mine",
        },
    ),
    "create-minimal": dict(
        call=lambda c: c.limits.create(limit_name="team-a", max=1),
        method="POST",
        path="/api/v1/limits",
        response=LIMIT_RESPONSE,
        result_type=LimitResponse,
        body={"limit_name": "team-a", "max": 1},
    ),
    "retrieve": dict(
        call=lambda c: c.limits.retrieve("lim/1 x"),
        method="GET",
        path="/api/v1/limits/lim%2F1%20x",
        response=LIMIT_RESPONSE,
        result_type=LimitResponse,
    ),
    "update": dict(
        call=lambda c: c.limits.update("2579", max=200.0),
        method="PUT",
        path="/api/v1/limits/2579",
        response=LIMIT_RESPONSE,
        result_type=LimitResponse,
        body={"max": 200.0},
    ),
    "update-null-name": dict(
        call=lambda c: c.limits.update("2579", limit_name=None),
        method="PUT",
        path="/api/v1/limits/2579",
        response=LIMIT_RESPONSE,
        result_type=LimitResponse,
        body={"limit_name": None},
    ),
    "delete": dict(
        call=lambda c: c.limits.delete("2579"),
        method="DELETE",
        path="/api/v1/limits/2579",
        response={"request_id": "r1"},
        result_type=DefaultResponse,
    ),
    "reset": dict(
        call=lambda c: c.limits.reset("2579", reset_date=RESET_AT),
        method="POST",
        path="/api/v1/limits/2579/reset",
        response=HISTORY,
        result_type=LimitHistoryResponse,
        query={"resetDate": "2025-05-01T16:39:38.999504+00:00"},
    ),
    "reset-no-date": dict(
        call=lambda c: c.limits.reset("2579"),
        method="POST",
        path="/api/v1/limits/2579/reset",
        response=HISTORY,
        result_type=LimitHistoryResponse,
    ),
    "properties.update": dict(
        call=lambda c: c.limits.properties.update("2579", properties={"team": "b", "old": None}),
        method="PUT",
        path="/api/v1/limits/2579/properties",
        response=[LIMIT_RESPONSE],
        result_type=[LimitResponse],
        body={"properties": {"team": "b", "old": None}},
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_wire(api: Api, case: dict[str, Any]) -> None:
    check_wire(api, **case)


def test_list_query_and_page(api: Api) -> None:
    result = check_wire(
        api,
        lambda c: c.limits.list(limit=10, limit_name="team-a", sort_ascending=False, cursor="start"),
        method="GET",
        path="/api/v1/limits",
        response=page([LIMIT]),
        result_type=(SyncCursorPage, AsyncCursorPage),
        query={"cursor": "start", "limit": "10", "limit_name": "team-a", "sort_ascending": "false"},
    )
    assert [item.limit_id for item in result.items] == ["2579"]
    assert isinstance(result.items[0], Limit)
    assert result.cursor is None and not result.has_next_page()


def test_list_walks_every_page(api: Api) -> None:
    second = {**LIMIT, "limit_id": "2580"}
    api.recorder.json(page([LIMIT], "c1"))
    api.recorder.json(page([second], "c2"))
    api.recorder.json(page([], "c3"))
    ids = [limit.limit_id for limit in api.collect(lambda c: c.limits.list(limit_name="team"))]
    assert ids == ["2579", "2580"]
    assert [dict(r.url.params) for r in api.recorder.requests] == [
        {"limit_name": "team"},
        {"limit_name": "team", "cursor": "c1"},
        {"limit_name": "team", "cursor": "c2"},
    ]


def test_properties_of_limit_totals(api: Api) -> None:
    api.recorder.json({**LIMIT_RESPONSE, "limit": {**LIMIT, "limit_tags": ["x"], "threshold": 0.8}})
    result = api.call(lambda c: c.limits.retrieve("2579"))
    assert result.limit.threshold == 0.8
    assert result.limit.totals.requests.total == 0
    assert result.limit.limit_tags == ["x"]  # unknown fields are kept


def test_empty_path_parameter_is_rejected(api: Api) -> None:
    with pytest.raises(ValueError, match="non-empty value for `limit_id`"):
        api.call(lambda c: c.limits.retrieve(""))
    assert api.recorder.requests == []
