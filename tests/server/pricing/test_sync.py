"""``payi-server prices sync`` and the sync a server start runs: a newer catalog comes in as new dated versions,
with a dry-run diff, and past costs never change (issue 12). On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from typer.testing import CliRunner

from payi_server.cli import app
from payi_server.pricing.book import PriceBook
from payi_server.pricing.catalog import UnitPrice
from payi_server.pricing.seed import load_seed
from payi_server.pricing.sync import sync_catalog, sync_system_catalog
from payi_server.store.changes import utcnow
from payi_server.store.engine import Database
from payi_server.store.tables import requests, resources

from ...conftest import Running
from ..conftest_helpers import cli_env

PAST = datetime(2025, 1, 1, tzinfo=UTC)
FILE = {
    "resources": [
        {
            "category": "system.openai",
            "resource": "acme-model-1",
            "units": {"text": {"input_price": "0.000001", "output_price": "0.000004"}},
            "aliases": ["acme-model-1-latest"],
        },
        {
            # a negotiated gpt-4o price, dated in the past: it applies from the sync on, never before
            "category": "system.openai",
            "resource": "gpt-4o",
            "start_timestamp": "2024-01-01T00:00:00Z",
            "units": {
                "text": {"input_price": "0.000002", "output_price": "0.000008"},
                "text_cache_read": {"input_price": "0.000001"},
            },
        },
    ]
}


def _cli(env: dict[str, str], *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, ["prices", "sync", *args], env=env)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout.strip().splitlines()[-1]) if "--json" in args and code == 0 else result


async def _book(url: str) -> tuple[Database, PriceBook]:
    db = Database(url if "+" in url else url.replace("sqlite://", "sqlite+aiosqlite://").replace("postgresql://", "postgresql+asyncpg://"), pool_size=1)
    book = PriceBook(db)
    await book.load()
    return db, book


async def _rows(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(resources))).scalar_one())


def _input_price(book: PriceBook, resource: str, at: datetime) -> Decimal | None:
    resolved = book.resolve(1, "system.openai", resource, at)
    return None if resolved is None else resolved.version.units["text"].input_price


def test_prices_sync_from_a_file_dry_run_apply_and_idempotent(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url, tmp_path)
    path = tmp_path / "negotiated.json"
    path.write_text(json.dumps(FILE))

    async def count() -> int:
        db, _ = await _book(database_url)
        try:
            return await _rows(db)
        finally:
            await db.dispose()

    before = asyncio.run(count())
    dry = _cli(env, "--file", str(path), "--dry-run", "--json")
    assert dry["dry_run"] is True and dry["source"] == "file negotiated.json"
    kinds = {(c["resource"], c["change"]) for c in dry["changes"]}
    assert kinds == {("acme-model-1", "new_resource"), ("gpt-4o", "new_version")}
    gpt = next(c for c in dry["changes"] if c["resource"] == "gpt-4o")
    assert gpt["before"]["text"] == {"input_price": "0.0000025", "output_price": "0.00001"}
    assert gpt["after"]["text"] == {"input_price": "0.000002", "output_price": "0.000008"}
    assert gpt["start_timestamp"] == dry["effective"]  # from the sync on, not from the file's past date
    assert asyncio.run(count()) == before  # a dry run writes nothing

    text = _cli(env, "--file", str(path), "--dry-run")
    assert "~ system.openai gpt-4o  new version from" in text.stdout and "text 0.0000025/0.00001 -> 0.000002/0.000008" in text.stdout
    assert "+ system.openai acme-model-1  (new, from" in text.stdout

    applied = _cli(env, "--file", str(path), "--json")
    assert applied["counts"]["inserted"] == 2 and applied["dry_run"] is False
    assert asyncio.run(count()) == before + 2
    effective = datetime.fromisoformat(applied["effective"])

    async def prices() -> tuple[Any, ...]:
        db, book = await _book(database_url)
        try:
            return (
                _input_price(book, "gpt-4o", effective - timedelta(seconds=1)),
                _input_price(book, "gpt-4o", effective),
                _input_price(book, "gpt-4o", PAST),
                _input_price(book, "acme-model-1-latest", effective + timedelta(days=1)),
                book.resolve(1, "system.openai", "gpt-4o-2024-08-06", effective).version,  # type: ignore[union-attr]
            )
        finally:
            await db.dispose()

    just_before, after, past, new_model, version = asyncio.run(prices())
    assert just_before == past == Decimal("0.0000025")  # history untouched
    assert after == Decimal("0.000002")
    assert new_model == Decimal("0.000001")
    assert version.max_input_units == 128_000  # the resource keeps its names and context window,
    assert version.units["reasoning"].output_price == Decimal("0.00001")  # the units the file does not list,
    assert version.units["text_cache_read"].input_price == Decimal("0.000001")  # and takes the ones it lists

    again = _cli(env, "--file", str(path), "--json")
    assert again["changes"] == [] and again["counts"]["inserted"] == 0
    # the installed genai-prices catalog does not replace an operator's price
    genai = _cli(env, "--json")
    assert genai["source"].startswith("genai-prices ")
    assert {(c["resource"], c["change"]) for c in genai["changes"]} >= {("gpt-4o", "operator_price_kept")}
    assert genai["counts"]["inserted"] == 0
    assert asyncio.run(count()) == before + 2


def test_a_bad_price_file_is_refused_before_anything_is_written(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url, tmp_path)
    cases = [
        ("not json", "cannot read"),
        (json.dumps({"resources": [{"category": "acme", "resource": "x", "units": {"text": {}}}]}), "managed 'system.'"),
        (json.dumps([{"category": "system.openai", "resource": "x", "units": {"text": {"input_price": -1}}}]), "non-negative"),
        (json.dumps([{"category": "system.openai", "resource": "x", "units": {"text": {}}, "start_timestamp": "2024-01-01"}]), "time zone"),
    ]
    for body, message in cases:
        path = tmp_path / "bad.json"
        path.write_text(body)
        result = _cli(env, "--file", str(path), code=2)
        assert message in result.output, (body, result.output)


def _newer_catalog(now: datetime) -> list[Any]:
    """The installed catalog as a newer genai-prices release might have it: gpt-4o's price changed with a date in
    the past, and o3 gets a price dated next year."""
    rows = load_seed()
    out = []
    for row in rows:
        if row.category == "system.openai" and row.resource == "gpt-4o" and row.start_timestamp <= now:
            units = {**row.units, "text": UnitPrice(Decimal("0.000005"), Decimal("0.00002"))}
            row = replace(row, units=units)
        out.append(row)
    o3 = max((r for r in rows if r.category == "system.openai" and r.resource == "o3"), key=lambda r: r.start_timestamp)
    out.append(replace(o3, start_timestamp=datetime(now.year + 1, 1, 1, tzinfo=UTC), units={"text": UnitPrice(Decimal("0.000001"), Decimal("0.000002"))}))
    return out


async def test_an_upgraded_catalog_adds_versions_from_now_and_past_costs_never_change(running: Running) -> None:
    db, book = running.state.db, running.state.book
    body = {"category": "system.openai", "resource": "gpt-4o", "units": {"text": {"input": 1000, "output": 1000}}}
    headers = running.headers()
    earlier = utcnow() - timedelta(minutes=1)
    first = await running.client.post("/api/v1/ingest", json={**body, "event_timestamp": earlier.isoformat()}, headers=headers)
    old_cost = first.json()["xproxy_result"]["cost"]["total"]["base"]
    assert old_cost == 0.0125  # 1000 x $2.50 + 1000 x $10 per million

    now = utcnow()
    newer = _newer_catalog(now)
    dry = await sync_catalog(db, newer, dry_run=True, now=now)
    assert {(c.resource, c.kind) for c in dry.changes} == {("gpt-4o", "new_version"), ("o3", "future_version")}
    plan = await sync_catalog(db, newer, now=now)
    assert plan.counts()["inserted"] == 2 and plan.counts()["updated"] == 0
    # every running process reloads the managed catalog through its change feed (as after the CLI command)
    await running.state.changes.poll_once()
    reload = book._reload_task  # noqa: SLF001
    assert reload is not None
    await reload

    late = await running.client.post("/api/v1/ingest", json={**body, "event_timestamp": earlier.isoformat()}, headers=headers)
    current = await running.client.post("/api/v1/ingest", json=body, headers=headers)
    assert late.json()["xproxy_result"]["cost"]["total"]["base"] == old_cost  # an event before the sync: old price
    assert current.json()["xproxy_result"]["cost"]["total"]["base"] == 0.025  # 1000 x $5 + 1000 x $20 per million
    async with db.read() as conn:
        charged = (await conn.execute(select(requests.c.cost_total).order_by(requests.c.id))).scalars().all()
    assert charged == [Decimal("0.0125"), Decimal("0.0125"), Decimal("0.025")]  # what was recorded stays
    resolved = book.resolve(1, "system.openai", "o3", datetime(now.year + 1, 1, 2, tzinfo=UTC))
    assert resolved is not None and resolved.version.units["text"].input_price == Decimal("0.000001")
    # idempotent; and the next start with the installed catalog brings its own price back, again from then on
    assert (await sync_catalog(db, newer, now=now)).changes == []
    counts = await sync_system_catalog(db, force=True)
    assert counts is not None and counts["inserted"] == 1  # gpt-4o's installed price, as a new version


def test_a_model_a_newer_genai_prices_describes_differently_is_skipped_not_fatal(monkeypatch: Any) -> None:
    """The server keeps working when genai-prices is upgraded (the published extra allows >=0.2.3,<0.3): a model
    whose data this version cannot read is left out (unpriced, logged), every other model is seeded."""
    from dataclasses import replace as dc_replace

    from genai_prices import data as genai_data

    from payi_server.pricing import seed

    class NewClause:  # a match clause kind this version has never seen
        def is_match(self, text: str) -> bool:
            return text == "future-model"

    providers = []
    for provider in genai_data.providers:
        if provider.id == "openai":
            broken = dc_replace(provider.models[0], id="future-model", match=seed.ClauseAnd(and_=[NewClause()]))  # type: ignore[list-item]
            provider = dc_replace(provider, models=[broken, *provider.models])
        providers.append(provider)
    monkeypatch.setattr(genai_data, "providers", providers)
    rows = seed._seed.__wrapped__()  # noqa: SLF001 - the uncached build, with the patched data
    names = {(r.category, r.resource) for r in rows}
    assert ("system.openai", "future-model") not in names
    assert ("system.openai", "gpt-4o") in names and len(rows) >= len(load_seed()) - 5
