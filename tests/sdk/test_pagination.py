"""Cursor pagination: pages, iteration across pages, stop conditions, sync and async."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

import payi
from payi.pagination import AsyncCursorPage, AsyncPaginator, PageInfo, SyncCursorPage

from .wire import BASE_URL, Recorder, page


def cat(name: str) -> dict[str, str]:
    return {"category": name}


@pytest.fixture
def client(recorder: Recorder, clean_env: pytest.MonkeyPatch) -> Any:
    transport = httpx2.MockTransport(recorder)
    with payi.Payi(
        api_key="k",
        base_url=BASE_URL,
        http_client=httpx2.Client(transport=transport),
        _strict_response_validation=True,
    ) as sync_client:
        yield sync_client


@pytest.fixture
async def aclient(recorder: Recorder, clean_env: pytest.MonkeyPatch) -> Any:
    transport = httpx2.MockTransport(recorder)
    async with payi.AsyncPayi(
        api_key="k",
        base_url=BASE_URL,
        http_client=httpx2.AsyncClient(transport=transport),
        _strict_response_validation=True,
    ) as async_client:
        yield async_client


def test_first_page_and_manual_paging(client: Any, recorder: Recorder) -> None:
    recorder.json(page([cat("a")], "c1"))
    recorder.json(page([cat("b")], None))
    first = client.categories.list(limit=1)
    assert isinstance(first, SyncCursorPage)
    assert [c.category for c in first.items] == ["a"] and first.cursor == "c1"
    assert first.has_next_page() and first.next_page_info() == PageInfo(params={"cursor": "c1"})
    second = first.get_next_page()
    assert [c.category for c in second.items] == ["b"]
    assert not second.has_next_page() and second.next_page_info() is None
    with pytest.raises(RuntimeError, match="has_next_page"):
        second.get_next_page()
    assert dict(recorder.requests[1].url.params) == {"limit": "1", "cursor": "c1"}
    assert "SyncCursorPage[" in repr(second) and "items=" in repr(second)


def test_iteration_walks_all_pages(client: Any, recorder: Recorder) -> None:
    recorder.json(page([cat("a"), cat("b")], "c1"))
    recorder.json(page([cat("c")], "c2"))
    recorder.json(page([cat("d")], ""))
    first = client.categories.list(active=True)
    assert [c.category for c in first] == ["a", "b", "c", "d"]
    recorder.json(page([cat("c")], "c2"))
    recorder.json(page([cat("d")], ""))
    assert [len(p.items) for p in first.iter_pages()] == [2, 1, 1]  # fetched again by a second walk
    assert len(recorder.requests) == 3 + 2


def test_an_empty_page_stops_even_with_a_cursor(client: Any, recorder: Recorder) -> None:
    recorder.json(page([cat("a")], "c1"))
    recorder.json(page([], "c2"))
    assert [c.category for c in client.categories.list()] == ["a"]
    assert len(recorder.requests) == 2


def test_a_missing_cursor_stops(client: Any, recorder: Recorder) -> None:
    recorder.json({"items": [cat("a")]})
    assert [c.category for c in client.categories.list()] == ["a"]
    assert len(recorder.requests) == 1


def test_the_original_query_is_repeated_with_the_cursor(client: Any, recorder: Recorder) -> None:
    recorder.json(page([{"name": "k", "description": "d", "request_id": "r"}], "next/page+1"))
    recorder.json(page([], None))
    list(
        client.use_cases.definitions.kpis.list(
            "bot", kpi_name="k", sort_ascending=True, extra_query={"x": "y"}, extra_headers={"X-H": "1"}
        )
    )
    second = recorder.requests[1]
    assert dict(second.url.params) == {
        "kpi_name": "k",
        "sort_ascending": "true",
        "x": "y",
        "cursor": "next/page+1",
    }
    assert second.headers["X-H"] == "1"
    assert second.url.raw_path.startswith(b"/api/v1/use_cases/definitions/bot/kpis?")


def test_strict_page_without_items_raises(client: Any, recorder: Recorder) -> None:
    recorder.json({"cursor": None})
    with pytest.raises(payi.APIResponseValidationError):
        client.categories.list()


def test_lenient_page_without_items_is_empty(recorder: Recorder, clean_env: pytest.MonkeyPatch) -> None:
    transport = httpx2.MockTransport(recorder)
    with payi.Payi(api_key="k", base_url=BASE_URL, http_client=httpx2.Client(transport=transport)) as lenient:
        recorder.json({"cursor": 5})
        result = lenient.categories.list()
        assert result.items == [] and result.cursor is None
        recorder.json(page([{"no_category": True}]))
        assert [c.model_extra for c in lenient.categories.list()] == [{"no_category": True}]


async def test_async_paginator(aclient: Any, recorder: Recorder) -> None:
    recorder.json(page([cat("a")], "c1"))
    recorder.json(page([cat("b")], None))
    paginator = aclient.categories.list()
    assert isinstance(paginator, AsyncPaginator)
    assert [c.category async for c in paginator] == ["a", "b"]


async def test_async_pages(aclient: Any, recorder: Recorder) -> None:
    recorder.json(page([cat("a")], "c1"))
    recorder.json(page([cat("b")], "c2"))
    recorder.json(page([cat("c")], None))
    first = await aclient.categories.list(limit=1)
    assert isinstance(first, AsyncCursorPage)
    second = await first.get_next_page()
    assert [c.category for c in second.items] == ["b"]
    assert [[c.category for c in p.items] async for p in second.iter_pages()] == [["b"], ["c"]]
    recorder.json(page([cat("a")], "c1"))
    recorder.json(page([cat("b")], None))
    assert [c.category async for c in await aclient.categories.list()] == ["a", "b"]
