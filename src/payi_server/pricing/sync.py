"""Bringing a newer managed catalog into the database: at every server start (the installed genai-prices), and with
``payi-server prices sync`` (the installed genai-prices, or an operator's JSON price file), with a dry-run diff.

Past costs never change. A resource's price history is only ever added to:

* a resource the database does not have yet gets every version the new catalog has, with its own dates;
* for a resource it has, when the price in force now differs from the new catalog's price in force now, a new
  version starting *now* (the sync's effective time) carries the new price: events before it keep the old one,
  even when the new catalog dates its price change in the past;
* versions dated in the future are added, or rewritten while still in the future (nothing was priced with them);
* names, context window, description (not prices) are updated in place on the resource's versions;
* nothing is deleted: a model the new catalog no longer lists stays resolvable for old events.

A price an operator brought in from a file is not replaced by a later genai-prices sync (the sync reports it as
kept); a later file sync replaces it, as new versions again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text, update

from ..errors import api_error
from ..store.changes import record_change, utcnow
from ..store.engine import Database
from ..store.tables import resources, server_meta
from .admin import parse_units
from .book import SYSTEM_PREFIX, row_to_version, units_to_json
from .catalog import PriceVersion, UnitPrice
from .seed import load_seed, seed_version

__all__ = ("Change", "Plan", "load_price_file", "plan_sync", "sync_catalog", "sync_system_catalog")

log = logging.getLogger("payi_server.pricing")

_SYNC_LOCK = 7_270_002
_META_SEED_VERSION = "catalog_seed_version"
FILE_SOURCE = "file:"


@dataclass(frozen=True, slots=True)
class Change:
    """One line of the diff."""

    kind: str  # "new_resource" | "new_version" | "future_version" | "operator_price_kept"
    category: str
    resource: str
    start: datetime
    before: dict[str, UnitPrice] | None = None
    after: dict[str, UnitPrice] | None = None
    threshold_before: int | None = None
    threshold_after: int | None = None

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "change": self.kind,
            "category": self.category,
            "resource": self.resource,
            "start_timestamp": self.start.isoformat(),
        }
        if self.before is not None:
            out["before"] = _units_view(self.before)
        if self.after is not None:
            out["after"] = _units_view(self.after)
        if self.threshold_before != self.threshold_after:
            out["large_context_threshold"] = {"before": self.threshold_before, "after": self.threshold_after}
        return out

    def line(self) -> str:
        name = f"{self.category} {self.resource}"
        when = self.start.strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.kind == "new_resource":
            return f"+ {name}  (new, from {when})"
        if self.kind == "operator_price_kept":
            return f"= {name}  (operator price kept)"
        parts = []
        before, after = self.before or {}, self.after or {}
        for unit in sorted(set(before) | set(after)):
            old, new = before.get(unit), after.get(unit)
            if old == new:
                continue
            parts.append(f"{unit} {_side(old)} -> {_side(new)}")
        if self.threshold_before != self.threshold_after:
            parts.append(f"large-context threshold {self.threshold_before} -> {self.threshold_after}")
        label = "new version" if self.kind == "new_version" else "future version"
        return f"~ {name}  {label} from {when}: " + "; ".join(parts)


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _units_view(units: dict[str, UnitPrice]) -> dict[str, dict[str, str | None]]:
    return {
        name: {"input_price": _decimal(p.input_price), "output_price": _decimal(p.output_price)}
        for name, p in sorted(units.items())
    }


def _side(price: UnitPrice | None) -> str:
    if price is None:
        return "-"
    return "/".join(_decimal(p) or "-" for p in (price.input_price, price.output_price))


@dataclass(slots=True)
class Plan:
    effective: datetime
    inserts: list[PriceVersion] = field(default_factory=list)
    price_updates: list[tuple[int, PriceVersion]] = field(default_factory=list)  # future versions rewritten
    name_updates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "inserted": len(self.inserts),
            "updated": len(self.price_updates) + len(self.name_updates),
            "unchanged": self.unchanged,
        }


def _price_key(version: PriceVersion) -> tuple[dict[str, UnitPrice], int | None]:
    return dict(version.units), version.large_context_threshold


def _names(version: PriceVersion) -> dict[str, Any]:
    """The columns a sync may update in place: everything but prices and dates."""
    values = version_values(version)
    for name in ("category", "resource", "start_timestamp", "units", "large_context_threshold"):
        del values[name]
    return values


def _in_force(versions: Sequence[Any], at: datetime, start: Any) -> Any | None:
    found = None
    for item in versions:
        if start(item) <= at:
            found = item
    return found


def plan_sync(existing_rows: Iterable[Any], wanted: Iterable[PriceVersion], now: datetime) -> Plan:
    """What bringing ``wanted`` (a whole catalog, or a file's resources) into ``existing_rows`` (the managed rows in
    force in the database) adds and updates; see the module docstring. Pure: nothing is read or written."""
    effective = now.astimezone(UTC)
    plan = Plan(effective=effective)
    have: dict[tuple[str, str], list[Any]] = {}
    for row in existing_rows:
        have.setdefault((row.category, row.resource), []).append(row)
    want: dict[tuple[str, str], list[PriceVersion]] = {}
    for version in wanted:
        want.setdefault((version.category, version.resource), []).append(version)
    for key, versions in sorted(want.items()):
        versions.sort(key=lambda v: v.start_timestamp)
        rows = sorted(have.get(key, []), key=lambda r: r.start_timestamp)
        if not rows:
            plan.inserts.extend(versions)
            plan.changes.append(Change("new_resource", *key, versions[0].start_timestamp, after=dict(versions[-1].units)))
            continue
        _plan_resource(plan, key, versions, rows)
    return plan


def _plan_resource(plan: Plan, key: tuple[str, str], versions: list[PriceVersion], rows: list[Any]) -> None:
    effective = plan.effective
    current_row = _in_force(rows, effective, lambda r: r.start_timestamp)
    current = _in_force(versions, effective, lambda v: v.start_timestamp)
    from_file = versions[-1].source.startswith(FILE_SOURCE)
    if current_row is not None and not from_file and str((current_row.extra or {}).get("source", "")).startswith(FILE_SOURCE):
        plan.changes.append(Change("operator_price_kept", *key, current_row.start_timestamp))
        plan.unchanged += len(rows)
        return
    if from_file:
        # a file brings prices: the resource keeps its names, context window, description, and the prices of the
        # units the file does not list
        known = row_to_version(current_row if current_row is not None else rows[-1])
        versions = [_with_names(v, known) for v in versions]
        current = _with_names(current, known) if current is not None else None
    else:
        names = _names(versions[-1])
        for row in rows:
            if any(getattr(row, column) != value for column, value in names.items()):
                plan.name_updates.append((row.id, names))
    if current is not None:
        before = row_to_version(current_row) if current_row is not None else None
        if before is None or _price_key(before) != _price_key(current):
            plan.inserts.append(replace(current, start_timestamp=effective))
            plan.changes.append(
                Change(
                    "new_version", *key, effective,
                    before=dict(before.units) if before else None, after=dict(current.units),
                    threshold_before=before.large_context_threshold if before else None,
                    threshold_after=current.large_context_threshold,
                )
            )
    by_start = {row.start_timestamp: row for row in rows}
    for version in versions:
        if version.start_timestamp <= effective:
            continue
        row = by_start.get(version.start_timestamp)
        if row is None:
            plan.inserts.append(version)
        elif _price_key(row_to_version(row)) != _price_key(version):
            plan.price_updates.append((row.id, version))
        else:
            plan.unchanged += 1
            continue
        old = row_to_version(row) if row is not None else None
        plan.changes.append(
            Change(
                "future_version", *key, version.start_timestamp,
                before=dict(old.units) if old else None, after=dict(version.units),
                threshold_before=old.large_context_threshold if old else None,
                threshold_after=version.large_context_threshold,
            )
        )
    plan.unchanged += sum(1 for row in rows if row.start_timestamp <= effective)


def _with_names(version: PriceVersion, known: PriceVersion) -> PriceVersion:
    return replace(
        version,
        units={**known.units, **version.units},
        aliases=tuple(dict.fromkeys((*known.aliases, *version.aliases))),
        match_prefixes=known.match_prefixes,
        match_suffixes=known.match_suffixes,
        match_contains=known.match_contains,
        match_patterns=known.match_patterns,
        rank=known.rank,
        max_input_units=version.max_input_units if version.max_input_units is not None else known.max_input_units,
        description=version.description or known.description,
    )


def version_values(version: PriceVersion) -> dict[str, Any]:
    """A managed version as ``resources`` column values."""
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


async def sync_catalog(
    db: Database,
    wanted: Sequence[PriceVersion],
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    seed_hash: str | None = None,
) -> Plan:
    """Plan (and unless ``dry_run``, apply in one transaction) bringing ``wanted`` into the managed catalog.

    ``seed_hash``: the content hash of ``wanted`` when it is the installed genai-prices catalog (recorded, so a
    server start skips the work when nothing changed)."""
    now = now or utcnow()
    query = select(resources).where(resources.c.org_id.is_(None), resources.c.deleted_at.is_(None))
    if dry_run:
        async with db.read() as conn:
            return plan_sync((await conn.execute(query)).all(), wanted, now)
    async with db.write() as conn:
        if not db.is_sqlite:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SYNC_LOCK})
        plan = plan_sync((await conn.execute(query)).all(), wanted, now)
        created = utcnow()
        if plan.inserts:
            rows = [
                {**version_values(v), "org_id": None, "created_at": created, "deleted_at": None} for v in plan.inserts
            ]
            await conn.execute(insert(resources), rows)
        for row_id, version in plan.price_updates:
            await conn.execute(update(resources).where(resources.c.id == row_id).values(**version_values(version)))
        for row_id, values in plan.name_updates:
            await conn.execute(update(resources).where(resources.c.id == row_id).values(**values))
        if seed_hash is not None:
            await _set_seed_hash(conn, seed_hash)
        if plan.inserts or plan.price_updates or plan.name_updates:
            await record_change(conn, db, "catalog", "system")
    return plan


async def _set_seed_hash(conn: Any, value: str) -> None:
    query = select(server_meta.c.value).where(server_meta.c.name == _META_SEED_VERSION)
    if (await conn.execute(query)).first() is None:
        await conn.execute(insert(server_meta).values(name=_META_SEED_VERSION, value=value))
    else:
        await conn.execute(update(server_meta).where(server_meta.c.name == _META_SEED_VERSION).values(value=value))


async def sync_system_catalog(db: Database, *, force: bool = False) -> dict[str, int] | None:
    """At start: bring the installed genai-prices catalog in (see the module docstring). Returns counts, or
    ``None`` when the installed catalog is the one last synced."""
    wanted_hash = seed_version()
    if not force:
        async with db.read() as conn:
            current = (
                await conn.execute(select(server_meta.c.value).where(server_meta.c.name == _META_SEED_VERSION))
            ).scalar()
        if current == wanted_hash:
            return None
    plan = await sync_catalog(db, load_seed(), seed_hash=wanted_hash)
    counts = plan.counts()
    log.info("managed price catalog synced", extra={"fields": counts})
    return counts


def genai_prices_version() -> str:
    return package_version("genai-prices")


# --- an operator's price file --------------------------------------------------------------------------------


def _int_or_none(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise api_error("invalid_price_file", "count", where=where)
    return value


def _names_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= 300 for v in value):
        raise api_error("invalid_price_file", "names", where=where)
    return tuple(v.lower() for v in value)


def parse_price_file(data: Any, *, source: str, now: datetime) -> list[PriceVersion]:
    """The versions a price file describes: ``{"resources": [...]}`` or a bare list of
    ``{category, resource, units, start_timestamp?, aliases?, large_context_threshold?, max_input_units?,
    description?}``; ``units`` as in the categories API (USD per single unit)."""
    items = data.get("resources") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise api_error("invalid_price_file")
    out = []
    for index, item in enumerate(items):
        where = f"resources[{index}]"
        if not isinstance(item, dict):
            raise api_error("invalid_price_file", "object", where=where)
        category, resource = item.get("category"), item.get("resource")
        if not isinstance(category, str) or not category.startswith(SYSTEM_PREFIX) or len(category) > 200:
            raise api_error("invalid_price_file", "category", where=where)
        if not isinstance(resource, str) or not 0 < len(resource) <= 300:
            raise api_error("invalid_price_file", "resource", where=where)
        start = now
        if item.get("start_timestamp") is not None:
            try:
                start = datetime.fromisoformat(str(item["start_timestamp"]).replace("Z", "+00:00"))
            except ValueError:
                raise api_error("invalid_price_file", "timestamp", where=where) from None
            if start.tzinfo is None:
                raise api_error("invalid_price_file", "timestamp_zone", where=where)
        description = item.get("description")
        out.append(
            PriceVersion(
                category=category,
                resource=resource,
                start_timestamp=start.astimezone(UTC),
                units=parse_units(item.get("units")),
                aliases=_names_list(item.get("aliases"), f"{where}.aliases"),
                max_input_units=_int_or_none(item.get("max_input_units"), f"{where}.max_input_units"),
                large_context_threshold=_int_or_none(
                    item.get("large_context_threshold"), f"{where}.large_context_threshold"
                ),
                description=description if isinstance(description, str) else None,
                source=FILE_SOURCE + source,
            )
        )
    return out


def load_price_file(path: Path, *, now: datetime) -> list[PriceVersion]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise api_error("invalid_price_file", "unreadable", name=path.name, error=exc) from None
    return parse_price_file(data, source=path.name[:200], now=now)
