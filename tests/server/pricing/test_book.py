"""The price book installs a catalog snapshot only if it is newer than the one in place, and reloads only the part
(the managed catalog, or one organisation's custom catalog) a change names (issue 12).

The races are made deterministic by holding a reload between reading its rows and installing them (no sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from payi_server.pricing.admin import CatalogAdmin
from payi_server.pricing.book import PriceBook

from ...conftest import Running

AT = datetime(2025, 6, 1, tzinfo=UTC)


class Held:
    """Wraps ``book._read`` so that the next read returns its rows only when released."""

    def __init__(self, book: PriceBook) -> None:
        self.read_done = asyncio.Event()
        self.release = asyncio.Event()
        self._original: Callable[[Any], Awaitable[list[Any]]] = book._read  # noqa: SLF001
        self._armed = True
        book._read = self._read  # type: ignore[method-assign]  # noqa: SLF001

    async def _read(self, query: Any) -> list[Any]:
        rows = await self._original(query)
        if self._armed:
            self._armed = False
            self.read_done.set()
            await self.release.wait()
        return rows


async def _version(admin: CatalogAdmin, org: int, price: str, start: str = "2024-01-01T00:00:00+00:00") -> None:
    body = {
        "units": {"text": {"input_price": price, "output_price": price}},
        "start_timestamp": datetime.fromisoformat(start),
    }
    await admin.create(org, "acme.negotiated", "gpt-4o", body)


async def _start(running: Running) -> tuple[int, CatalogAdmin, PriceBook]:
    """The organisation, a writer (it reloads its own book, not the one under test) and a loaded book under test."""
    org = running.boot.org_id
    writer = CatalogAdmin(running.state.db, PriceBook(running.state.db))
    await _version(writer, org, "0.000003")
    book = PriceBook(running.state.db)
    await book.load()
    return org, writer, book


def _price(book: PriceBook, org: int) -> Decimal | None:
    resolved = book.resolve(org, "acme.negotiated", "gpt-4o", AT)
    return None if resolved is None else resolved.version.units["text"].input_price


async def test_a_reload_that_started_earlier_never_installs_over_a_later_one(running: Running) -> None:
    org, writer, book = await _start(running)
    assert _price(book, org) == Decimal("0.000003")

    held = Held(book)
    early = asyncio.create_task(book.reload(org))  # reads the old rows, then waits
    await held.read_done.wait()
    await _version(writer, org, "0.0000015", "2025-01-01T00:00:00+00:00")  # a newer version, committed
    await book.reload(org)  # started later: sees it, installs it
    assert _price(book, org) == Decimal("0.0000015")
    held.release.set()
    await early  # finishes last with the older rows: not installed
    assert _price(book, org) == Decimal("0.0000015")


async def test_the_full_load_and_a_part_reload_order_the_same_way(running: Running) -> None:
    org, writer, book = await _start(running)
    held = Held(book)
    full = asyncio.create_task(book.load())
    await held.read_done.wait()
    await _version(writer, org, "0.0000015", "2025-01-01T00:00:00+00:00")
    await book.reload(org)
    system_before = book.resolve(org, "system.openai", "gpt-4o", AT)
    held.release.set()
    await full
    assert _price(book, org) == Decimal("0.0000015")
    # the managed part had no later reload: the full load's copy of it was installed
    after = book.resolve(org, "system.openai", "gpt-4o", AT)
    assert system_before is not None and after is not None and after.resource_id == system_before.resource_id


async def test_a_change_reloads_only_its_part_and_changes_during_a_reload_are_not_lost(running: Running) -> None:
    org, writer, book = await _start(running)
    system = book._system  # noqa: SLF001 - the managed part's identity shows whether it was re-read

    held = Held(book)
    book._changed(str(org))  # noqa: SLF001 - what the change feed calls
    await held.read_done.wait()
    await _version(writer, org, "0.0000015", "2025-01-01T00:00:00+00:00")
    book._changed(str(org))  # noqa: SLF001 - arrives while the first reload is still running
    held.release.set()
    task = book._reload_task  # noqa: SLF001
    assert task is not None
    await task
    assert _price(book, org) == Decimal("0.0000015")  # the second change was reloaded after the first
    assert book._system is system  # noqa: SLF001 - an organisation's change never re-reads the managed catalog

    book._changed("system")  # noqa: SLF001
    task = book._reload_task  # noqa: SLF001
    assert task is not None
    await task
    assert book._system is not system  # noqa: SLF001


async def test_a_version_created_through_the_api_prices_the_next_call(running: Running) -> None:
    """The synchronous reload after the write and the change feed's reload of the same change, in any order."""
    org = running.headers(running.org_key)
    url = "/api/v1/categories/acme.negotiated/resources/gpt-4o"
    for price, expected in (("0.000001", 0.002), ("0.0000005", 0.001), ("0.00000025", 0.0005)):
        body = {"units": {"text": {"input_price": float(price), "output_price": float(price)}}}
        created = await running.client.post(url, json=body, headers=org)
        assert created.status_code == 200, created.text
        response = await running.client.post(
            "/api/v1/ingest",
            json={"category": "acme.negotiated", "resource": "gpt-4o", "units": {"text": {"input": 1000, "output": 1000}}},
            headers=running.headers(),
        )
        assert response.status_code == 200, response.text
        result = response.json()["xproxy_result"]
        assert result["cost"]["total"]["base"] == expected and result["resource_id"] == created.json()["resource_id"]
