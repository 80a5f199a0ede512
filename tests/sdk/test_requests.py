"""``client.requests``: results and properties by request id or by provider response id."""

from __future__ import annotations

from typing import Any

import pytest

from payi.types import PropertiesResponse, RequestResult

from .wire import XPROXY_RESULT, Api, check_wire

CASES: dict[str, dict[str, Any]] = {
    "request_id.result.retrieve": dict(
        call=lambda c: c.requests.request_id.result.retrieve("5673977"),
        method="GET",
        path="/api/v1/requests/5673977/result",
        response={"xproxy_result": XPROXY_RESULT},
        result_type=RequestResult,
    ),
    "request_id.properties.update": dict(
        call=lambda c: c.requests.request_id.properties.update(
            "5673977", properties={"rating": "good", "x": None}
        ),
        method="PUT",
        path="/api/v1/requests/5673977/properties",
        response={"request_id": "5673977"},
        result_type=PropertiesResponse,
        body={"properties": {"rating": "good", "x": None}},
    ),
    "response_id.result.retrieve": dict(
        call=lambda c: c.requests.response_id.result.retrieve("msg/01:a", category="system.anthropic"),
        method="GET",
        path="/api/v1/requests/provider/system.anthropic/msg%2F01:a/result",
        response={"xproxy_result": XPROXY_RESULT},
        result_type=RequestResult,
    ),
    "response_id.properties.update": dict(
        call=lambda c: c.requests.response_id.properties.update(
            "chatcmpl-1", category="system.openai", properties={"rating": "good"}
        ),
        method="PUT",
        path="/api/v1/requests/provider/system.openai/chatcmpl-1/properties",
        response={},
        result_type=PropertiesResponse,
        body={"properties": {"rating": "good"}},
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_wire(api: Api, case: dict[str, Any]) -> None:
    check_wire(api, **case)


def test_result_fields(api: Api) -> None:
    api.recorder.json({"xproxy_result": {**XPROXY_RESULT, "blocked_limit_ids": ["l1"], "experience_id": "e"}})
    result = api.call(lambda c: c.requests.request_id.result.retrieve("1"))
    assert result.xproxy_result.resource_id == "75"
    assert result.xproxy_result.blocked_limit_ids == ["l1"]
    assert result.xproxy_result.experience_id == "e"
