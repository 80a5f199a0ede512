"""Use cases created on the fly by ingest and proxy calls (the SDK generates instance ids client-side).

Inside the recorder's transaction: unknown definitions are created (marked ``implicit``), unknown instances are
created under their definition, instance properties sent with a request are merged in (``null`` deletes a key),
and each instance's own limit (from its definition's ``limit_config``) is returned so the request counts
against it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, tuple_, update

from ..store.engine import Database
from ..store.tables import limits, use_case_definitions, use_case_instances
from ..store.upsert import insert_ignore
from .instances import InstanceLimitFactory

# (conn, app_id, definition row, instance id) -> the new limit's primary key; provided by the limits service.
LimitFactory = InstanceLimitFactory


class KnownInstances:
    """Use case instances this process has seen in the database, with their own limit's id: a batch whose calls
    name only known instances (and send no instance properties) needs no statement for them. An instance is never
    changed in place; deleting one tells every process (change feed, ``KNOWN_INSTANCES_ENTITY``) to forget the
    application's, so the next call naming it creates it again."""

    MAX = 100_000

    def __init__(self) -> None:
        self._known: dict[tuple[int, str], tuple[str, str | None]] = {}

    def forget(self, app_id: str) -> None:
        if not app_id.isdigit():
            self._known.clear()
            return
        app = int(app_id)
        self._known = {key: value for key, value in self._known.items() if key[0] != app}

    def lookup(self, refs: list[UseCaseRef]) -> dict[tuple[int, str], str | None] | None:
        out: dict[tuple[int, str], str | None] = {}
        for ref in refs:
            found = self._known.get((ref.app_id, ref.use_case_id))
            if found is None or found[0] != ref.name or ref.properties:
                return None
            out[(ref.app_id, ref.use_case_id)] = found[1]
        return out

    def remember(self, refs: list[UseCaseRef], limit_ids: dict[tuple[int, str], str | None]) -> None:
        if len(self._known) >= self.MAX:
            self._known.clear()
        for ref in refs:
            key = (ref.app_id, ref.use_case_id)
            if key in limit_ids:
                self._known[key] = (ref.name, limit_ids[key])


@dataclass(frozen=True, slots=True)
class UseCaseRef:
    app_id: int
    name: str
    use_case_id: str
    version: int | None
    properties: dict[str, str | None] | None


async def ensure_use_cases(
    conn: Any,
    db: Database,
    refs: Iterable[UseCaseRef],
    now: datetime,
    make_limit: LimitFactory | None = None,
    known: KnownInstances | None = None,
) -> dict[tuple[int, str], str | None]:
    """Create what is missing; return ``{(app_id, use_case_id): limit_id or None}``. With ``known``, nothing is
    read or written when every instance is known (the caller remembers what it found once its transaction has
    committed: ``KnownInstances.remember``)."""
    refs = list(refs)
    if not refs:
        return {}
    if known is not None:
        hit = known.lookup(refs)
        if hit is not None:
            return hit
    return await _ensure(conn, db, refs, now, make_limit)


async def _ensure(
    conn: Any, db: Database, refs: list[UseCaseRef], now: datetime, make_limit: LimitFactory | None
) -> dict[tuple[int, str], str | None]:
    definitions = sorted({(r.app_id, r.name) for r in refs})
    await conn.execute(
        insert_ignore(db, use_case_definitions, ["app_id", "name"]),
        [
            {
                "app_id": app_id,
                "name": name,
                "description": "",
                "logging_enabled": None,
                "type_version": 1,
                "limit_config": None,
                "implicit": True,
                "created_at": now,
                "updated_at": now,
            }
            for app_id, name in definitions
        ],
    )
    keys = sorted({(r.app_id, r.use_case_id) for r in refs})
    existing = {
        (row.app_id, row.use_case_id): row
        for row in (
            await conn.execute(
                select(use_case_instances).where(
                    tuple_(use_case_instances.c.app_id, use_case_instances.c.use_case_id).in_(keys)
                )
            )
        ).all()
    }
    defs = {
        (row.app_id, row.name): row
        for row in (
            await conn.execute(
                select(use_case_definitions).where(
                    tuple_(use_case_definitions.c.app_id, use_case_definitions.c.name).in_(definitions)
                )
            )
        ).all()
    }
    created: dict[tuple[int, str], dict[str, Any]] = {}
    for ref in refs:
        key = (ref.app_id, ref.use_case_id)
        if key in existing or key in created:
            continue
        definition = defs[(ref.app_id, ref.name)]
        limit_pk = None
        if definition.limit_config and make_limit is not None:
            limit_pk = await make_limit(conn, ref.app_id, definition, ref.use_case_id)
        created[key] = {
            "app_id": ref.app_id,
            "use_case_id": ref.use_case_id,
            "name": ref.name,
            "type_version": ref.version if ref.version is not None else definition.type_version,
            "limit_pk": limit_pk,
            "properties": None,
            "created_at": now,
        }
    if created:
        result = await conn.execute(
            insert_ignore(db, use_case_instances, ["app_id", "use_case_id"]).returning(
                use_case_instances.c.app_id, use_case_instances.c.use_case_id
            ),
            [created[k] for k in sorted(created)],
        )
        inserted = {(r.app_id, r.use_case_id) for r in result.all()}
        lost = [key for key in created if key not in inserted]
        if lost:
            # Another process created these instances first: drop the limits made for our copies and use theirs.
            orphans = [created[key]["limit_pk"] for key in lost if created[key]["limit_pk"] is not None]
            if orphans:
                await conn.execute(delete(limits).where(limits.c.id.in_(orphans)))
            rows = (
                await conn.execute(
                    select(use_case_instances).where(
                        tuple_(use_case_instances.c.app_id, use_case_instances.c.use_case_id).in_(lost)
                    )
                )
            ).all()
            for row in rows:
                del created[(row.app_id, row.use_case_id)]
                existing[(row.app_id, row.use_case_id)] = row
    # Properties sent with requests, merged in request order.
    merged: dict[tuple[int, str], dict[str, str]] = {}
    for ref in refs:
        if not ref.properties:
            continue
        key = (ref.app_id, ref.use_case_id)
        if key not in merged:
            row = existing.get(key)
            merged[key] = dict((row.properties if row is not None else None) or {})
        for name, value in ref.properties.items():
            if value is None:
                merged[key].pop(name, None)
            else:
                merged[key][name] = value
    for (app_id, use_case_id), props in sorted(merged.items()):
        await conn.execute(
            update(use_case_instances)
            .where(use_case_instances.c.app_id == app_id, use_case_instances.c.use_case_id == use_case_id)
            .values(properties=props)
        )
    # Each instance's own limit, by its client-visible id.
    limit_pks = {
        key: (created[key]["limit_pk"] if key in created else existing[key].limit_pk)
        for key in keys
    }
    wanted = sorted({pk for pk in limit_pks.values() if pk is not None})
    names: dict[int, str] = {}
    if wanted:
        names = {
            row.id: row.limit_id
            for row in (await conn.execute(select(limits.c.id, limits.c.limit_id).where(limits.c.id.in_(wanted)))).all()
        }
    return {key: (names.get(pk) if pk is not None else None) for key, pk in limit_pks.items()}
