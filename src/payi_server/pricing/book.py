"""The price catalog a server process prices events with, loaded from the ``resources`` table.

Two kinds of rows share that table: the managed ``system.*`` catalog (``org_id`` NULL, seeded from genai-prices
and refreshed by ``sync``: at every start, and by ``payi-server prices sync``) and each organisation's custom
categories (negotiated prices, created through ``/api/v1/categories``). ``PriceBook`` keeps both in memory as
immutable parts (the managed catalog, each organisation's custom one) and reloads the part a change names whenever
any process changes it (the ``"catalog"`` entity of the change feed: ``"system"`` or the organisation id), so
pricing an event never touches the database. A reload installs its part only if no reload that started later
has installed it already (see :class:`PriceBook`).

Managed names resolve through aliases and prefixes (``gpt-4o-2024-08-06`` -> ``gpt-4o``); custom resources
resolve by exact name. Either way the version in force at the event's timestamp prices it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ..store.changes import ChangeFeed
from ..store.engine import Database
from ..store.tables import resources
from .catalog import Catalog, PriceVersion, UnitPrice

log = logging.getLogger("payi_server.pricing")

SYSTEM_PREFIX = "system."

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
    version: PriceVersion


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


def row_to_version(row: Any) -> PriceVersion:
    match = row.match or {}
    return PriceVersion(
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


_SYSTEM = "system"
"""The change-feed id of the managed catalog; a custom catalog's is its organisation id."""


@dataclass(frozen=True, slots=True)
class _Part:
    """One catalog as loaded: the managed one, or one organisation's custom one."""

    catalog: Catalog
    categories: frozenset[str]
    # each version's ``Resolved``, by the version's ``id()`` (the part keeps its versions alive): every priced call
    # resolves, and building it (a datetime hashed in a tuple key, an object) was most of a resolve's cost
    resolved: dict[int, Resolved]


def _part(versions: list[PriceVersion], ids: dict[tuple[str, str, datetime], int]) -> _Part:
    """A part of ``versions``; ``ids``: each one's resource id, by (category, resource, start)."""
    return _Part(
        catalog=Catalog(versions),
        categories=frozenset(v.category for v in versions),
        resolved={
            id(v): Resolved(resource_id=ids[(v.category, v.resource, v.start_timestamp)], version=v) for v in versions
        },
    )


_EMPTY = _part([], {})


class PriceBook:
    """The catalog in memory, as parts (the managed catalog, each organisation's custom one) reloaded one by one.

    A reload reads one part (the one a change names) and installs it only if it started after the reload that
    installed the part in place: a reload that started earlier read the same or older rows, so a slow reload
    finishing late never puts older prices back over newer ones (the synchronous reload after an API change and the
    change feed's reload of the same change can finish in either order).
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._system = _EMPTY
        self._custom: dict[int, _Part] = {}
        self._tickets = itertools.count(1)
        self._installed: dict[int | None, int] = {}  # part (None: managed) -> ticket of the reload in place
        self._dirty: set[int | None] = set()
        self._reload_task: asyncio.Task[None] | None = None
        # counts the parts installed: a resolution kept while it is unchanged is what ``resolve`` would give again
        self.generation = 0

    async def load(self) -> None:
        """(Re)load every part (at start)."""
        ticket = next(self._tickets)
        rows = await self._read(select(resources).where(resources.c.deleted_at.is_(None)))
        by_part: dict[int | None, list[Any]] = {None: []}
        for row in rows:
            by_part.setdefault(row.org_id, []).append(row)
        for org in self._custom:
            by_part.setdefault(org, [])
        for part, part_rows in by_part.items():
            self._install(part, ticket, part_rows)

    async def reload(self, org_id: int | None) -> None:
        """Reload one part: an organisation's custom catalog, or (``None``) the managed one."""
        ticket = next(self._tickets)
        owner = resources.c.org_id.is_(None) if org_id is None else resources.c.org_id == org_id
        rows = await self._read(select(resources).where(owner, resources.c.deleted_at.is_(None)))
        self._install(org_id, ticket, rows)

    async def _read(self, query: Any) -> list[Any]:
        async with self._db.read() as conn:
            return list((await conn.execute(query)).all())

    def _install(self, part: int | None, ticket: int, rows: list[Any]) -> bool:
        if ticket <= self._installed.get(part, 0):
            return False  # a reload that started later is in place already
        versions = [row_to_version(row) for row in rows]
        loaded = _part(versions, {(r.category, r.resource, r.start_timestamp): r.id for r in rows})
        if part is None:
            self._system = loaded
        elif versions:
            self._custom[part] = loaded
        else:
            self._custom.pop(part, None)
        self._installed[part] = ticket
        self.generation += 1
        return True

    def attach(self, feed: ChangeFeed) -> None:
        feed.subscribe("catalog", self._changed)

    def _changed(self, entity_id: str) -> None:
        # Changes arriving while a reload runs are reloaded after it, each part once.
        if entity_id == _SYSTEM:
            self._dirty.add(None)
        elif entity_id.isascii() and entity_id.isdigit():
            self._dirty.add(int(entity_id))
        else:
            self._dirty.update([None, *self._custom])
        if self._reload_task is None or self._reload_task.done():
            self._reload_task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self._dirty:
            part = self._dirty.pop()
            try:
                await self.reload(part)
            except Exception:  # noqa: BLE001 - the database may be away: the next change of the part retries
                log.warning("price catalog reload failed", exc_info=True)

    def category_exists(self, org_id: int, category: str) -> bool:
        if category.startswith(SYSTEM_PREFIX):
            return category in KNOWN_SYSTEM_CATEGORIES or category in self._system.categories
        return category in self._custom.get(org_id, _EMPTY).categories

    def managed_name(self, category: str, resource: str) -> str | None:
        """The managed resource a client-visible name (alias, dated version ...) stands for."""
        return self._system.catalog.resource_name(category, resource)

    def resolve(self, org_id: int, category: str, resource: str, at: datetime) -> Resolved | None:
        part = self._system if category.startswith(SYSTEM_PREFIX) else self._custom.get(org_id, _EMPTY)
        version = part.catalog.resolve(category, resource, at)
        return None if version is None else part.resolved[id(version)]
