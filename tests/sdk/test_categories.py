"""``client.categories`` and ``client.categories.resources`` on the wire (names with dots, colons and slashes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from payi.pagination import AsyncCursorPage, SyncCursorPage
from payi.types import CategoryResourceResponse, CategoryResponse

from .wire import RESOURCE, Api, check_wire, page

PAGES = (SyncCursorPage, AsyncCursorPage)
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
SLASHED = "meta/llama 3"

CASES: dict[str, dict[str, Any]] = {
    "list": dict(
        call=lambda c: c.categories.list(active=True, limit=5, sort_ascending=True),
        method="GET",
        path="/api/v1/categories",
        response=page([{"category": "system.openai"}]),
        result_type=PAGES,
        query={"Active": "true", "limit": "5", "sort_ascending": "true"},
    ),
    "delete": dict(
        call=lambda c: c.categories.delete("acme.models"),
        method="DELETE",
        path="/api/v1/categories/acme.models",
        response=[RESOURCE],
        result_type=[CategoryResourceResponse],
    ),
    "delete_resource": dict(
        call=lambda c: c.categories.delete_resource(SLASHED, category="system.aws.bedrock"),
        method="DELETE",
        path="/api/v1/categories/system.aws.bedrock/resources/meta%2Fllama%203",
        response=[RESOURCE],
        result_type=[CategoryResourceResponse],
    ),
    "list_resources": dict(
        call=lambda c: c.categories.list_resources("system.aws.bedrock", active=False),
        method="GET",
        path="/api/v1/categories/system.aws.bedrock/resources",
        response=page([RESOURCE]),
        result_type=PAGES,
        query={"Active": "false"},
    ),
    "resources.create": dict(
        call=lambda c: c.categories.resources.create(
            MODEL,
            category="acme",
            units={"text": {"input_price": 1e-06, "output_price": 2e-06}},
            max_input_units=1000,
            start_timestamp=datetime(2025, 1, 1, tzinfo=UTC),
        ),
        method="POST",
        path=f"/api/v1/categories/acme/resources/{MODEL}",
        response=RESOURCE,
        result_type=CategoryResourceResponse,
        body={
            "units": {"text": {"input_price": 1e-06, "output_price": 2e-06}},
            "max_input_units": 1000,
            "start_timestamp": "2025-01-01T00:00:00+00:00",
        },
    ),
    "resources.list": dict(
        call=lambda c: c.categories.resources.list(
            MODEL, category="system.aws.bedrock", active=True, cursor="x"
        ),
        method="GET",
        path=f"/api/v1/categories/system.aws.bedrock/resources/{MODEL}",
        response=page([RESOURCE]),
        result_type=PAGES,
        query={"Active": "true", "cursor": "x"},
    ),
    "resources.retrieve": dict(
        call=lambda c: c.categories.resources.retrieve("75", category="system.aws.bedrock", resource=SLASHED),
        method="GET",
        path="/api/v1/categories/system.aws.bedrock/resources/meta%2Fllama%203/75",
        response=RESOURCE,
        result_type=CategoryResourceResponse,
    ),
    "resources.delete": dict(
        call=lambda c: c.categories.resources.delete("75", category="acme", resource=MODEL),
        method="DELETE",
        path=f"/api/v1/categories/acme/resources/{MODEL}/75",
        response=RESOURCE,
        result_type=CategoryResourceResponse,
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_wire(api: Api, case: dict[str, Any]) -> None:
    check_wire(api, **case)


def test_resource_fields_parse(api: Api) -> None:
    api.recorder.json(RESOURCE)
    result = api.call(lambda c: c.categories.resources.retrieve("75", category="c", resource="r"))
    assert result.units["text"].output_price == 1.25e-06
    assert result.aws_bedrock_resource is not None and result.aws_bedrock_resource.aws_model_units == 2
    assert result.start_timestamp == datetime(2025, 5, 1, 16, 39, 38, 999504, tzinfo=UTC)


def test_categories_pages(api: Api) -> None:
    api.recorder.json(page([{"category": "a"}, {"category": "b"}], "n"))
    api.recorder.json(page([{"category": "c"}], ""))
    items = api.collect(lambda c: c.categories.list(active=True))
    assert all(isinstance(item, CategoryResponse) for item in items)
    assert [item.category for item in items] == ["a", "b", "c"]
    assert dict(api.recorder.requests[1].url.params) == {"Active": "true", "cursor": "n"}
