"""Use-case instances and their KPI scores, scoped to the calling application (``app_id``).

An instance has a server-generated UUID (instances that ingest or proxy calls name are created on the fly by
``usecases.implicit``). When its definition has a ``limit_config``, the new instance gets its own limit, made
by the ``make_limit`` factory the caller passes in (the limits package provides it; this package does not import
it: the two are independent layers).

A KPI score can only be set for a KPI defined on the instance's use case, and must fit the KPI's type
(boolean 0/1, percentage 0 to 100, likertN 1 to N, number: any finite value); ``null`` clears it.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import insert, select, update

from ..errors import ApiError, api_error
from ..store.changes import utcnow
from ..store.engine import Database
from ..store.tables import limits, use_case_instances, use_case_kpi_scores, use_case_kpis
from ..store.upsert import insert_ignore
from .service import (
    KPI_NAME,
    Clock,
    check_kpi_name,
    check_use_case_name,
    find_definition,
    retire_instances,
    shown,
)

MAX_INSTANCE_ID = 64
MAX_PROPERTIES = 100

# (conn, app_id, definition row, use_case_id) -> the new limit's primary key (None: no limit_config).
InstanceLimitFactory = Callable[[Any, int, Any, str], Awaitable[int | None]]

_SCORE_RANGES = {"percentage": (0.0, 100.0), "likert5": (1.0, 5.0), "likert7": (1.0, 7.0), "likert10": (1.0, 10.0)}


def instance_not_found(use_case_id: str) -> ApiError:
    """``use_case_instance_not_found`` (404)."""
    return api_error("use_case_instance_not_found", use_case_id=shown(use_case_id))


def _check_id(use_case_id: str) -> str:
    if not use_case_id or len(use_case_id) > MAX_INSTANCE_ID or not use_case_id.isprintable():
        raise instance_not_found(use_case_id)
    return use_case_id


def instance_view(row: dict[str, Any], limit_id: str | None) -> dict[str, Any]:
    """``UseCaseInstanceResponse`` without ``request_id`` (plus properties and the creation time)."""
    return {
        "use_case_id": row["use_case_id"],
        "use_case_name": row["name"],
        "limit_id": limit_id,
        "type_version": row["type_version"],
        "properties": row["properties"] or {},
        "created_timestamp": row["created_at"],
    }


def score_view(row: dict[str, Any]) -> dict[str, Any]:
    """An instance KPI score item (``KpiListResponse``)."""
    return {
        "kpi_name": row["kpi_name"],
        "kpi_type": row["kpi_type"],
        "score": row["score"],
        "create_timestamp": row["created_at"],
        "update_timestamp": row["updated_at"],
    }


def check_score(kpi_type: str | None, score: bool | float | None) -> float | None:
    """The score as stored (booleans as 1.0 / 0.0), or ``invalid_kpi_score`` (400)."""
    if score is None:
        return None
    value = float(score)
    if not math.isfinite(value):
        raise api_error("invalid_kpi_score")
    if kpi_type == "boolean" and value not in (0.0, 1.0):
        raise api_error("invalid_kpi_score", "boolean")
    low, high = _SCORE_RANGES.get(kpi_type or "", (-math.inf, math.inf))
    if not low <= value <= high:
        raise api_error("invalid_kpi_score", "range", kpi_type=kpi_type, low=low, high=high)
    return value


class InstanceService:
    """Instances and KPI scores of one database."""

    def __init__(self, db: Database, *, make_limit: InstanceLimitFactory | None = None, clock: Clock = utcnow) -> None:
        self._db = db
        self._make_limit = make_limit
        self._clock = clock

    async def _instance(self, conn: Any, app_id: int, name: str, use_case_id: str) -> dict[str, Any]:
        name = check_use_case_name(name)
        found = (
            await conn.execute(
                select(use_case_instances).where(
                    use_case_instances.c.app_id == app_id,
                    use_case_instances.c.use_case_id == _check_id(use_case_id),
                    use_case_instances.c.name == name,
                )
            )
        ).first()
        if found is None:
            raise instance_not_found(use_case_id)
        return dict(found._mapping)

    async def _limit_id(self, conn: Any, limit_pk: int | None) -> str | None:
        if limit_pk is None:
            return None
        found = await conn.execute(
            select(limits.c.limit_id).where(limits.c.id == limit_pk, limits.c.deleted_at.is_(None))
        )
        return found.scalar_one_or_none()  # type: ignore[no-any-return]

    async def create_instance(self, app_id: int, name: str) -> dict[str, Any]:
        """A new instance of an existing definition, with its own limit if the definition has a limit_config."""
        name = check_use_case_name(name)
        now = self._clock()
        async with self._db.write() as conn:
            definition = await find_definition(conn, app_id, name, lock=True)
            use_case_id = str(uuid.uuid4())
            limit_pk = None
            if definition["limit_config"] and self._make_limit is not None:
                limit_pk = await self._make_limit(conn, app_id, definition, use_case_id)
            row = {
                "app_id": app_id,
                "use_case_id": use_case_id,
                "name": name,
                "type_version": definition["type_version"],
                "limit_pk": limit_pk,
                "properties": None,
                "created_at": now,
            }
            await conn.execute(insert(use_case_instances).values(**row))
            return instance_view(row, await self._limit_id(conn, limit_pk))

    async def get_instance(self, app_id: int, name: str, use_case_id: str) -> dict[str, Any]:
        """One instance (``use_case_instance_not_found`` unless it exists under that use-case name)."""
        async with self._db.read() as conn:
            row = await self._instance(conn, app_id, name, use_case_id)
            return instance_view(row, await self._limit_id(conn, row["limit_pk"]))

    async def delete_instance(self, app_id: int, name: str, use_case_id: str) -> dict[str, Any]:
        """Delete an instance, its scores and its own limit; returns the instance as it was."""
        async with self._db.write() as conn:
            row = await self._instance(conn, app_id, name, use_case_id)
            view = instance_view(row, await self._limit_id(conn, row["limit_pk"]))
            await retire_instances(conn, self._db, app_id, [row["use_case_id"]], self._clock())
        return view

    async def update_properties(
        self, app_id: int, name: str, use_case_id: str, properties: dict[str, str | None]
    ) -> dict[str, Any]:
        """Merge properties into an instance (a ``None`` value deletes the key)."""
        for key, value in properties.items():
            if not key or len(key) > 200 or "\x00" in key or (value is not None and (len(value) > 10_000 or "\x00" in value)):
                raise api_error("invalid_properties", "instance")
        async with self._db.write() as conn:
            row = await self._instance(conn, app_id, name, use_case_id)
            merged = dict(row["properties"] or {})
            for key, value in properties.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            if len(merged) > MAX_PROPERTIES:
                raise api_error("invalid_properties", "instance_count", max_properties=MAX_PROPERTIES)
            await conn.execute(
                update(use_case_instances)
                .where(use_case_instances.c.app_id == app_id, use_case_instances.c.use_case_id == row["use_case_id"])
                .values(properties=merged)
            )
            return instance_view({**row, "properties": merged}, await self._limit_id(conn, row["limit_pk"]))

    async def set_score(
        self, app_id: int, name: str, use_case_id: str, kpi_name: str, score: bool | float | None
    ) -> None:
        """Set (or with ``None`` clear) an instance's score for a KPI defined on its use case."""
        kpi_name = check_kpi_name(kpi_name)
        now = self._clock()
        async with self._db.write() as conn:
            row = await self._instance(conn, app_id, name, use_case_id)
            definition = await find_definition(conn, app_id, row["name"])
            kpi = (
                await conn.execute(
                    select(use_case_kpis.c.kpi_type).where(
                        use_case_kpis.c.definition_pk == definition["id"], use_case_kpis.c.name == kpi_name
                    )
                )
            ).first()
            if kpi is None:
                raise api_error("kpi_not_found", "instance", kpi_name=shown(kpi_name), name=row['name'])
            value = check_score(kpi.kpi_type, score)
            key = {"app_id": app_id, "use_case_id": row["use_case_id"], "kpi_name": kpi_name}
            inserted = await conn.execute(
                insert_ignore(self._db, use_case_kpi_scores, ["app_id", "use_case_id", "kpi_name"]).values(
                    **key, kpi_type=kpi.kpi_type, score=value, created_at=now, updated_at=now
                )
            )
            if not inserted.rowcount:
                await conn.execute(
                    update(use_case_kpi_scores)
                    .where(*(use_case_kpi_scores.c[k] == v for k, v in key.items()))
                    .values(kpi_type=kpi.kpi_type, score=value, updated_at=now)
                )

    async def list_scores(
        self, app_id: int, name: str, use_case_id: str, *, kpi_name: str | None = None, after: str | None = None,
        size: int = 100, ascending: bool = True,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of an instance's KPI scores by KPI name; returns the items and the name to continue after."""
        table = use_case_kpi_scores
        async with self._db.read() as conn:
            row = await self._instance(conn, app_id, name, use_case_id)
            if kpi_name is not None and not KPI_NAME.match(kpi_name):
                return [], None
            query = select(table).where(table.c.app_id == app_id, table.c.use_case_id == row["use_case_id"])
            if kpi_name is not None:
                query = query.where(table.c.kpi_name == kpi_name)
            if after is not None:
                query = query.where(table.c.kpi_name > after if ascending else table.c.kpi_name < after)
            order = table.c.kpi_name.asc() if ascending else table.c.kpi_name.desc()
            rows = [dict(r._mapping) for r in (await conn.execute(query.order_by(order).limit(size + 1))).all()]
        more = len(rows) > size
        rows = rows[:size]
        return [score_view(r) for r in rows], (str(rows[-1]["kpi_name"]) if more else None)
