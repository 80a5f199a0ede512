"""Reading and changing the price catalog (the ``/api/v1/categories`` endpoints).

Managed ``system.*`` categories are read-only here (``payi-server prices sync`` refreshes them). Custom
categories belong to an organisation and hold its negotiated prices; a category exists as long as it has a
resource. Creating a resource that exists adds a new version from ``start_timestamp`` on (default: now); deleting
marks versions inactive, so requests priced with them keep their ``resource_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, or_, select, update

from ..errors import api_error
from ..store.changes import record_change, utcnow
from ..store.engine import Database
from ..store.tables import resources
from ..store.types import MAX_UNIT_PRICE
from .book import KNOWN_SYSTEM_CATEGORIES, SYSTEM_PREFIX, PriceBook, units_to_json
from .catalog import UnitPrice

_EXTRA_FIELDS = (
    "mapped_resource",
    "azure_resource",
    "aws_bedrock_resource",
    "google_vertex_resource",
    "cost_per_hour",
    "reservation_id",
)


def _price(value: Any, where: str) -> Decimal | None:
    if value is None:
        return None
    try:
        price = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise api_error("invalid_unit_price", where=where) from None
    if not price.is_finite() or price < 0:
        raise api_error("invalid_unit_price", "negative", where=where)
    if price > MAX_UNIT_PRICE:  # 1e308 was stored, then every cost computed from it overflowed (a 500)
        raise api_error("invalid_unit_price", "too_large", where=where, max_unit_price=MAX_UNIT_PRICE)
    return price


def parse_units(raw: Any) -> dict[str, UnitPrice]:
    if not isinstance(raw, dict) or not raw:
        raise api_error("invalid_units", "prices")
    out = {}
    for name, prices in raw.items():
        if not isinstance(name, str) or not 0 < len(name) <= 100:
            raise api_error("invalid_units", "price_name")
        if not isinstance(prices, dict):
            raise api_error("invalid_units", "price", name=name)
        out[name] = UnitPrice(
            input_price=_price(prices.get("input_price"), f"units.{name}.input_price"),
            output_price=_price(prices.get("output_price"), f"units.{name}.output_price"),
        )
    return out


def resource_view(row: Any, end: datetime | None = None, aliased: str | None = None) -> dict[str, Any]:
    units = {
        name: {
            "input_price": float(p["input_price"]) if p.get("input_price") is not None else None,
            "output_price": float(p["output_price"]) if p.get("output_price") is not None else None,
        }
        for name, p in (row.units or {}).items()
    }
    view: dict[str, Any] = {
        "active": row.deleted_at is None,
        "category": row.category,
        "resource": row.resource,
        "resource_id": str(row.id),
        "start_timestamp": row.start_timestamp,
        "proxy_allowed": bool(row.proxy_allowed),
        "units": units,
        "character_billing": bool(row.character_billing),
    }
    for name in ("max_input_units", "max_output_units", "max_total_units", "large_context_threshold", "description"):
        if getattr(row, name) is not None:
            view[name] = getattr(row, name)
    if end is not None:
        view["end_timestamp"] = end
    if row.deleted_at is not None:
        view["deprecated_timestamp"] = row.deleted_at
    if aliased is not None and aliased != row.resource:
        view["aliased_resource"] = aliased
    for name in _EXTRA_FIELDS:
        if row.extra and name in row.extra:
            view[name] = row.extra[name]
    return view


def _views(rows: Sequence[Any], aliased: str | None = None) -> list[dict[str, Any]]:
    """Views with ``end_timestamp`` = the next active version's start."""
    ordered = sorted(rows, key=lambda r: (r.category, r.resource, r.start_timestamp, r.id))
    out = []
    for i, row in enumerate(ordered):
        end = None
        for later in ordered[i + 1 :]:
            if (later.category, later.resource) != (row.category, row.resource):
                break
            if later.deleted_at is None and later.start_timestamp > row.start_timestamp:
                end = later.start_timestamp
                break
        out.append(resource_view(row, end, aliased))
    return out


class CatalogAdmin:
    def __init__(self, db: Database, book: PriceBook) -> None:
        self.db = db
        self.book = book

    def _scope(self, org_id: int, category: str) -> Any:
        owner = resources.c.org_id.is_(None) if category.startswith(SYSTEM_PREFIX) else resources.c.org_id == org_id
        return and_(owner, resources.c.category == category)

    async def categories(self, org_id: int, active: bool | None) -> list[dict[str, Any]]:
        query = select(resources.c.category, resources.c.org_id, resources.c.deleted_at).where(
            or_(resources.c.org_id.is_(None), resources.c.org_id == org_id)
        )
        seen: dict[str, bool] = {}
        async with self.db.read() as conn:
            for row in (await conn.execute(query)).all():
                seen[row.category] = seen.get(row.category, False) or row.deleted_at is None
        out = []
        for name in sorted(seen):
            if active is not None and seen[name] != active:
                continue
            system = name.startswith(SYSTEM_PREFIX)
            out.append(
                {
                    "category": name,
                    "category_type": "system" if system else "custom",
                    "category_description": "Managed by Pay-i (seeded from genai-prices)" if system else "",
                    "active": seen[name],
                }
            )
        return out

    async def _rows(self, org_id: int, category: str, resource: str | None = None, active: bool | None = None) -> list[Any]:
        query = select(resources).where(self._scope(org_id, category))
        if resource is not None:
            query = query.where(resources.c.resource == resource)
        if active is True:
            query = query.where(resources.c.deleted_at.is_(None))
        elif active is False:
            query = query.where(resources.c.deleted_at.is_not(None))
        async with self.db.read() as conn:
            return list((await conn.execute(query)).all())

    async def list_resources(self, org_id: int, category: str, active: bool | None) -> list[dict[str, Any]]:
        rows = await self._rows(org_id, category, active=active)
        if not rows and not self.book.category_exists(org_id, category):
            raise api_error("category_not_found", category=category[:200], status=404)
        return _views(rows)

    async def versions(self, org_id: int, category: str, resource: str, active: bool | None) -> list[dict[str, Any]]:
        rows = await self._rows(org_id, category, resource, active)
        aliased = None
        if not rows and category.startswith(SYSTEM_PREFIX):
            # A managed alias (gpt-4o-2024-08-06) lists the versions of what it resolves to.
            name = self.book.managed_name(category, resource)
            if name is not None:
                rows = await self._rows(org_id, category, name, active)
                aliased = resource
        if not rows:
            raise api_error("category_resource_not_found", category=category[:200], resource=resource[:300])
        views = _views(rows)
        if aliased:
            for view in views:
                view["aliased_resource"] = aliased
        return views

    async def version(self, org_id: int, category: str, resource: str, resource_id: str) -> dict[str, Any]:
        for view in await self.versions(org_id, category, resource, None):
            if view["resource_id"] == resource_id:
                return view
        raise api_error("category_resource_not_found", "version", resource_id=resource_id[:40])

    async def create(self, org_id: int, category: str, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        if category.startswith(SYSTEM_PREFIX) or category in KNOWN_SYSTEM_CATEGORIES:
            raise api_error("invalid_category", "reserved")
        if not 0 < len(category) <= 200 or not 0 < len(resource) <= 300:
            raise api_error("invalid_category")
        units = parse_units(body.get("units"))
        start = body.get("start_timestamp") or utcnow()
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        ints = {}
        for name in ("max_input_units", "max_output_units", "max_total_units", "large_context_threshold"):
            value = body.get(name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise api_error("invalid_request", "count", name=name)
            ints[name] = value
        extra = {name: body[name] for name in _EXTRA_FIELDS if body.get(name) is not None}
        async with self.db.write() as conn:
            clash = (
                await conn.execute(
                    select(resources.c.id).where(
                        self._scope(org_id, category),
                        resources.c.resource == resource,
                        resources.c.start_timestamp == start,
                        resources.c.deleted_at.is_(None),
                    )
                )
            ).first()
            if clash is not None:
                raise api_error("resource_version_exists")
            values = {
                "org_id": org_id,
                "category": category,
                "resource": resource,
                "start_timestamp": start,
                "units": units_to_json(units),
                "match": None,
                **ints,
                "character_billing": bool(body.get("character_billing", False)),
                "proxy_allowed": bool(body.get("proxy_allowed", True)),
                "description": body.get("description"),
                "extra": extra or None,
                "created_at": utcnow(),
                "deleted_at": None,
            }
            new_id = (await conn.execute(resources.insert().values(**values).returning(resources.c.id))).scalar_one()
            await record_change(conn, self.db, "catalog", str(org_id))
        await self.book.reload(org_id)
        return await self.version(org_id, category, resource, str(new_id))

    async def delete(
        self, org_id: int, category: str, resource: str | None = None, resource_id: str | None = None
    ) -> list[dict[str, Any]]:
        if category.startswith(SYSTEM_PREFIX):
            raise api_error("invalid_category", "delete_managed")
        now = utcnow()
        async with self.db.write() as conn:
            query = select(resources).where(self._scope(org_id, category), resources.c.deleted_at.is_(None))
            if resource is not None:
                query = query.where(resources.c.resource == resource)
            if resource_id is not None:
                if not (resource_id.isascii() and resource_id.isdigit()) or len(resource_id) > 18:
                    raise api_error("category_resource_not_found", "version_id")
                query = query.where(resources.c.id == int(resource_id))
            rows = (await conn.execute(query)).all()
            if not rows:
                raise api_error("category_resource_not_found" if resource else "category_not_found", "plain", status=404)
            ids = [r.id for r in rows]
            await conn.execute(update(resources).where(resources.c.id.in_(ids)).values(deleted_at=now))
            await record_change(conn, self.db, "catalog", str(org_id))
            deleted = (await conn.execute(select(resources).where(resources.c.id.in_(ids)))).all()
        await self.book.reload(org_id)
        return _views(deleted)
