"""The price catalog a server process prices events with, loaded from the ``resources`` table.

Two kinds of rows share that table: the managed ``system.*`` catalog (``org_id`` NULL, seeded from genai-prices
by :func:`sync_system_catalog`, refreshed by ``payi-server prices sync``) and each organisation's custom
categories (negotiated prices, created through ``/api/v1/categories``). ``PriceBook`` keeps an immutable snapshot
of both in memory and swaps in a new one whenever any process changes the catalog (the ``"catalog"`` entity of
the change feed), so pricing an event never touches the database.

Managed names resolve through aliases and prefixes (``gpt-4o-2024-08-06`` -> ``gpt-4o``); custom resources
resolve by exact name. Either way the version in force at the event's timestamp prices it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, text, update

from ..store.changes import ChangeFeed, record_change, utcnow
from ..store.engine import Database
from ..store.tables import resources, server_meta
from .seed import Catalog, SeedResource, UnitPrice, load_seed, seed_version

log = logging.getLogger("payi_server.pricing")

SYSTEM_PREFIX = "system."
_SYNC_LOCK = 7_270_002
_META_SEED_VERSION = "catalog_seed_version"

# Every managed category the Pay-i SDK can name, whether or not the seed has prices for it: events in them are
# accepted (and unpriced where no price is known) rather than rejected as an unknown category.
KNOWN_SYSTEM_CATEGORIES = frozenset(
    {
        "system.openai",
        "system.azureopenai",
        "system.azure",
        "system.anthropic",
        "system.aws.bedrock",
        "system.google.vertex",
        "system.databricks",
        "system.databricks.aws",
        "system.databricks.azure",
        "system.databricks.google",
        "system.databricks.databricks",
    }
)


@dataclass(frozen=True, slots=True)
class Resolved:
    """The resource version that prices an event."""

    resource_id: int
    version: SeedResource


def units_to_json(units: dict[str, UnitPrice] | Any) -> dict[str, dict[str, str | None]]:
    return {
        name: {
            "input_price": None if p.input_price is None else str(p.input_price),
            "output_price": None if p.output_price is None else str(p.output_price),
        }
        for name, p in units.items()
    }


def units_from_json(data: dict[str, Any]) -> dict[str, UnitPrice]:
    out = {}
    for name, prices in data.items():
        ip, op = prices.get("input_price"), prices.get("output_price")
        out[name] = UnitPrice(
            input_price=None if ip is None else Decimal(str(ip)),
            output_price=None if op is None else Decimal(str(op)),
        )
    return out


def row_to_version(row: Any) -> SeedResource:
    match = row.match or {}
    return SeedResource(
        category=row.category,
        resource=row.resource,
        start_timestamp=row.start_timestamp,
        units=units_from_json(row.units),
        aliases=tuple(match.get("aliases", ())),
        match_prefixes=tuple(match.get("prefixes", ())),
        match_suffixes=tuple(match.get("suffixes", ())),
        match_contains=tuple(match.get("contains", ())),
        match_patterns=tuple(match.get("patterns", ())),
        rank=int(match.get("rank", 0)),
        max_input_units=row.max_input_units,
        large_context_threshold=row.large_context_threshold,
        description=row.description,
    )


@dataclass
class _Snapshot:
    system: Catalog
    custom: dict[int, Catalog]
    custom_categories: dict[int, frozenset[str]]
    ids: dict[tuple[int | None, str, str, datetime], int] = field(default_factory=dict)


class PriceBook:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._snapshot = _Snapshot(Catalog([]), {}, {})
        self._reload_task: asyncio.Task[None] | None = None

    async def load(self) -> None:
        query = select(resources).where(resources.c.deleted_at.is_(None))
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        system_rows: list[SeedResource] = []
        custom_rows: dict[int, list[SeedResource]] = {}
        ids: dict[tuple[int | None, str, str, datetime], int] = {}
        for row in rows:
            version = row_to_version(row)
            if row.org_id is None:
                system_rows.append(version)
            else:
                custom_rows.setdefault(row.org_id, []).append(version)
            ids[(row.org_id, row.category, row.resource, row.start_timestamp)] = row.id
        self._snapshot = _Snapshot(
            system=Catalog(system_rows),
            custom={org: Catalog(versions) for org, versions in custom_rows.items()},
            custom_categories={org: frozenset(v.category for v in versions) for org, versions in custom_rows.items()},
            ids=ids,
        )

    def attach(self, feed: ChangeFeed) -> None:
        feed.subscribe("catalog", self._changed)

    def _changed(self, _entity_id: str) -> None:
        # Several changes in one poll lead to one reload.
        if self._reload_task is None or self._reload_task.done():
            self._reload_task = asyncio.create_task(self.load())

    def category_exists(self, org_id: int, category: str) -> bool:
        if category.startswith(SYSTEM_PREFIX):
            return category in KNOWN_SYSTEM_CATEGORIES or category in self._snapshot.system.categories()
        return category in self._snapshot.custom_categories.get(org_id, frozenset())

    def managed_name(self, category: str, resource: str) -> str | None:
        """The managed resource a client-visible name (alias, dated version ...) stands for."""
        return self._snapshot.system.resource_name(category, resource)

    def resolve(self, org_id: int, category: str, resource: str, at: datetime) -> Resolved | None:
        snapshot = self._snapshot
        if category.startswith(SYSTEM_PREFIX):
            version = snapshot.system.resolve(category, resource, at)
            key_org: int | None = None
        else:
            catalog = snapshot.custom.get(org_id)
            version = catalog.resolve(category, resource, at) if catalog is not None else None
            key_org = org_id
        if version is None:
            return None
        resource_id = snapshot.ids[(key_org, version.category, version.resource, version.start_timestamp)]
        return Resolved(resource_id=resource_id, version=version)


async def sync_system_catalog(db: Database, *, force: bool = False) -> dict[str, int] | None:
    """Bring the managed catalog in the database up to the bundled genai-prices data.

    New versions are inserted and changed ones updated in place; versions the data no longer has are kept (price
    history must stay resolvable for old events). Returns counts, or ``None`` when already current.
    """
    wanted = seed_version()
    async with db.write() as conn:
        if not db.is_sqlite:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SYNC_LOCK})
        current = (
            await conn.execute(select(server_meta.c.value).where(server_meta.c.name == _META_SEED_VERSION))
        ).scalar()
        if current == wanted and not force:
            return None
        existing = {
            (r.category, r.resource, r.start_timestamp): r
            for r in (await conn.execute(select(resources).where(resources.c.org_id.is_(None)))).all()
        }
        counts = {"inserted": 0, "updated": 0, "unchanged": 0}
        now = utcnow()
        new_rows = []
        for version in load_seed():
            values = _seed_values(version)
            old = existing.get((version.category, version.resource, version.start_timestamp))
            if old is None:
                new_rows.append({**values, "org_id": None, "created_at": now, "deleted_at": None})
                counts["inserted"] += 1
            elif any(getattr(old, k) != v for k, v in values.items()) or old.deleted_at is not None:
                await conn.execute(update(resources).where(resources.c.id == old.id).values(**values, deleted_at=None))
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        if new_rows:
            await conn.execute(insert(resources), new_rows)
        if current is None:
            await conn.execute(insert(server_meta).values(name=_META_SEED_VERSION, value=wanted))
        else:
            await conn.execute(
                update(server_meta).where(server_meta.c.name == _META_SEED_VERSION).values(value=wanted)
            )
        await record_change(conn, db, "catalog", "system")
    log.info("managed price catalog synced", extra={"fields": counts})
    return counts


def _seed_values(version: SeedResource) -> dict[str, Any]:
    return {
        "category": version.category,
        "resource": version.resource,
        "start_timestamp": version.start_timestamp,
        "units": units_to_json(dict(version.units)),
        "match": {
            "aliases": list(version.aliases),
            "prefixes": list(version.match_prefixes),
            "suffixes": list(version.match_suffixes),
            "contains": list(version.match_contains),
            "patterns": list(version.match_patterns),
            "rank": version.rank,
        },
        "max_input_units": version.max_input_units,
        "max_output_units": None,
        "max_total_units": None,
        "large_context_threshold": version.large_context_threshold,
        "character_billing": False,
        "proxy_allowed": True,
        "description": version.description,
        "extra": {"source": version.source, "deprecated": version.deprecated},
    }
