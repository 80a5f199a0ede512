"""Use-case definitions and their KPI definitions, scoped to the calling application (``app_id``).

A definition is identified by its name (letters, digits, ``.``, ``-``, ``_``; at most 64 characters). Ingest and
proxy calls create definitions on the fly (``implicit``, see ``usecases.implicit``); such a definition behaves
like any other (it can be updated, versioned, given a limit config ...), and stays ``implicit`` until someone
creates it: creating a definition with an implicit one's name makes it explicit instead of failing.

A definition's ``limit_config`` is stored already validated (the API validates it with the limits rules) and
gives every *new* instance its own limit; changing or deleting the config leaves existing instances' limits alone.
Instances and KPI scores are in ``usecases.instances``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import ApiError, api_error
from ..store.changes import record_change, utcnow
from ..store.engine import Database
from ..store.tables import (
    limits,
    use_case_definitions,
    use_case_instances,
    use_case_kpi_scores,
    use_case_kpis,
)

USE_CASE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
KPI_NAME = re.compile(r"^[^\x00-\x1f\x7f/\\]{1,64}$")
KPI_TYPES = ("boolean", "number", "percentage", "likert5", "likert7", "likert10")
MAX_DESCRIPTION = 2000
NO_RETRY = {"x-should-retry": "false"}  # a conflict will not go away on retry (the SDK retries 409 by default)

Clock = Callable[[], datetime]


class _Unset:
    """Marks an update field the caller did not send (``None`` may be a value: "clear it")."""


UNSET: Any = _Unset()


def check_use_case_name(name: str) -> str:
    """A use-case name, or ``invalid_use_case_name`` (400); an invalid name is never echoed back."""
    if not isinstance(name, str) or not USE_CASE_NAME.match(name):
        raise api_error("invalid_use_case_name")
    return name


def check_kpi_name(name: str) -> str:
    """A KPI name: 1 to 64 characters, no '/', '\\' or control characters, no outer spaces."""
    if not isinstance(name, str) or not KPI_NAME.match(name) or name != name.strip():
        raise api_error("invalid_kpi_name")
    return name


def check_description(text: str | None) -> str:
    """A description of at most 2000 characters (``invalid_use_case_description``); ``None`` is empty."""
    if text is None:
        return ""
    if len(text) > MAX_DESCRIPTION or "\x00" in text:
        raise api_error("invalid_use_case_description", max_description=MAX_DESCRIPTION)
    return text


def shown(value: str) -> str:
    """A client-sent name or id as it may appear in an error message (never anything like an API key)."""
    if not value.isprintable() or len(value) > 64 or value.lower().startswith("payi_"):
        return "(invalid)"
    return value


def use_case_not_found(name: str) -> ApiError:
    """``use_case_not_found`` (404)."""
    return api_error("use_case_not_found", name=shown(name))


def _row(raw: Any) -> dict[str, Any]:
    return dict(raw._mapping)


def _is_sqlite(conn: Any) -> bool:
    return bool(conn.dialect.name == "sqlite")


async def load_definition(conn: Any, app_id: int, name: str, *, lock: bool = False) -> dict[str, Any] | None:
    """The application's definition of that name, or ``None``."""
    query = select(use_case_definitions).where(
        use_case_definitions.c.app_id == app_id, use_case_definitions.c.name == name
    )
    if lock and not _is_sqlite(conn):
        query = query.with_for_update()
    found = (await conn.execute(query)).first()
    return _row(found) if found is not None else None


# Change-feed entity (id: the application) announcing that instances were deleted.
KNOWN_INSTANCES_ENTITY = "instances"  # change_log.entity holds 16 characters


async def find_definition(conn: Any, app_id: int, name: str, *, lock: bool = False) -> dict[str, Any]:
    """The application's definition of that name (``use_case_not_found`` otherwise)."""
    row = await load_definition(conn, app_id, name, lock=lock)
    if row is None:
        raise use_case_not_found(name)
    return row


async def retire_instances(conn: Any, db: Database, app_id: int, use_case_ids: list[str], now: datetime) -> None:
    """Delete instances with their KPI scores, and soft-delete the limits that were made for them. Every process
    forgets what it knew of the application's instances (``implicit.KnownInstances``, through the change feed)."""
    if not use_case_ids:
        return
    await record_change(conn, db, KNOWN_INSTANCES_ENTITY, str(app_id))
    pks = (
        await conn.execute(
            select(use_case_instances.c.limit_pk).where(
                use_case_instances.c.app_id == app_id,
                use_case_instances.c.use_case_id.in_(use_case_ids),
                use_case_instances.c.limit_pk.is_not(None),
            )
        )
    ).scalars().all()
    if pks:
        await conn.execute(
            update(limits)
            .where(limits.c.app_id == app_id, limits.c.id.in_(list(pks)), limits.c.deleted_at.is_(None))
            .values(deleted_at=now, updated_at=now)
        )
    await conn.execute(
        delete(use_case_kpi_scores).where(
            use_case_kpi_scores.c.app_id == app_id, use_case_kpi_scores.c.use_case_id.in_(use_case_ids)
        )
    )
    await conn.execute(
        delete(use_case_instances).where(
            use_case_instances.c.app_id == app_id, use_case_instances.c.use_case_id.in_(use_case_ids)
        )
    )


def definition_view(row: dict[str, Any]) -> dict[str, Any]:
    """``UseCaseDefinitionResponse`` without ``request_id`` (plus ``implicit`` and timestamps)."""
    return {
        "name": row["name"],
        "description": row["description"] or "",
        "limit_config": row["limit_config"],
        "logging_enabled": row["logging_enabled"],
        "type_version": row["type_version"],
        "implicit": bool(row["implicit"]),
        "created_timestamp": row["created_at"],
        "updated_timestamp": row["updated_at"],
    }


def kpi_view(row: dict[str, Any]) -> dict[str, Any]:
    """A KPI definition (``KpiRetrieveResponse`` without ``request_id``)."""
    return {
        "name": row["name"],
        "description": row["description"] or "",
        "goal": row["goal"],
        "kpi_type": row["kpi_type"],
        "created_timestamp": row["created_at"],
        "updated_timestamp": row["updated_at"],
    }


def _goal(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise api_error("invalid_kpi_goal")
    return value


class UseCaseService:
    """Definitions and KPI definitions of one database; ``clock`` is injectable for tests."""

    def __init__(self, db: Database, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    # --- definitions -----------------------------------------------------------------------------------------
    async def create_definition(
        self,
        app_id: int,
        *,
        name: str,
        description: str | None,
        limit_config: dict[str, Any] | None = None,
        logging_enabled: bool | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Create a definition, or make an implicit one explicit; returns ``(view, created)``.

        ``use_case_already_exists`` (409) if an explicit definition of that name exists.
        """
        name = check_use_case_name(name)
        text = check_description(description)
        for attempt in range(2):
            now = self._clock()
            values = {
                "description": text,
                "limit_config": limit_config,
                "logging_enabled": logging_enabled,
                "implicit": False,
                "updated_at": now,
            }
            try:
                async with self._db.write() as conn:
                    row = await load_definition(conn, app_id, name, lock=True)
                    if row is not None and not row["implicit"]:
                        raise api_error("use_case_already_exists", name=name, headers=NO_RETRY)
                    if row is not None:
                        await conn.execute(
                            update(use_case_definitions).where(use_case_definitions.c.id == row["id"]).values(**values)
                        )
                        return definition_view({**row, **values}), False
                    new = {"app_id": app_id, "name": name, "type_version": 1, "created_at": now, **values}
                    pk = (
                        await conn.execute(
                            insert(use_case_definitions).values(**new).returning(use_case_definitions.c.id)
                        )
                    ).scalar_one()
                    return definition_view({"id": pk, **new}), True
            except IntegrityError:
                # Created at the same moment (by another call, or implicitly by ingest): look again once.
                if attempt:
                    raise api_error("use_case_already_exists", name=name, headers=NO_RETRY) from None
        raise AssertionError("unreachable")

    async def get_definition(self, app_id: int, name: str) -> dict[str, Any]:
        """One definition (``use_case_not_found`` otherwise)."""
        async with self._db.read() as conn:
            return definition_view(await find_definition(conn, app_id, check_use_case_name(name)))

    async def _change(self, app_id: int, name: str, values: dict[str, Any]) -> dict[str, Any]:
        name = check_use_case_name(name)
        async with self._db.write() as conn:
            row = await find_definition(conn, app_id, name, lock=True)
            values = {**values, "updated_at": self._clock()}
            await conn.execute(
                update(use_case_definitions).where(use_case_definitions.c.id == row["id"]).values(**values)
            )
        return definition_view({**row, **values})

    async def update_definition(
        self, app_id: int, name: str, *, description: str | None = UNSET, logging_enabled: bool | None = UNSET
    ) -> dict[str, Any]:
        """Change the description (``None``: unchanged) and/or ``logging_enabled`` (``None``: the app default)."""
        values: dict[str, Any] = {}
        if description is not UNSET and description is not None:
            values["description"] = check_description(description)
        if logging_enabled is not UNSET:
            values["logging_enabled"] = logging_enabled
        return await self._change(app_id, name, values)

    async def increment_version(self, app_id: int, name: str) -> dict[str, Any]:
        """Bump ``type_version``; instances created from now on carry the new version."""
        name = check_use_case_name(name)
        async with self._db.write() as conn:
            row = await find_definition(conn, app_id, name, lock=True)
            values = {"type_version": int(row["type_version"]) + 1, "updated_at": self._clock()}
            await conn.execute(
                update(use_case_definitions).where(use_case_definitions.c.id == row["id"]).values(**values)
            )
        return definition_view({**row, **values})

    async def set_limit_config(self, app_id: int, name: str, config: dict[str, Any] | None) -> dict[str, Any]:
        """Replace (or, with ``None``, remove) the limit configuration given to new instances."""
        return await self._change(app_id, name, {"limit_config": config})

    async def list_definitions(
        self, app_id: int, *, name: str | None = None, after: int | None = None, size: int = 100,
        ascending: bool = True,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """A page of definitions in creation order, implicit ones included; returns views and the next key."""
        if name is not None and not USE_CASE_NAME.match(name):
            return [], None
        table = use_case_definitions
        query = select(table).where(table.c.app_id == app_id)
        if name is not None:
            query = query.where(table.c.name == name)
        if after is not None:
            query = query.where(table.c.id > after if ascending else table.c.id < after)
        query = query.order_by(table.c.id.asc() if ascending else table.c.id.desc()).limit(size + 1)
        async with self._db.read() as conn:
            rows = [_row(r) for r in (await conn.execute(query)).all()]
        more = len(rows) > size
        rows = rows[:size]
        return [definition_view(r) for r in rows], (int(rows[-1]["id"]) if more else None)

    async def delete_definition(self, app_id: int, name: str) -> dict[str, Any]:
        """Delete a definition with its KPIs, its instances and their scores; the instances' own limits are
        deleted too. Returns the definition as it was."""
        name = check_use_case_name(name)
        now = self._clock()
        async with self._db.write() as conn:
            row = await find_definition(conn, app_id, name, lock=True)
            ids = list(
                (
                    await conn.execute(
                        select(use_case_instances.c.use_case_id).where(
                            use_case_instances.c.app_id == app_id, use_case_instances.c.name == name
                        )
                    )
                ).scalars().all()
            )
            await retire_instances(conn, self._db, app_id, ids, now)
            await conn.execute(delete(use_case_kpis).where(use_case_kpis.c.definition_pk == row["id"]))
            await conn.execute(delete(use_case_definitions).where(use_case_definitions.c.id == row["id"]))
        return definition_view(row)

    # --- KPI definitions -----------------------------------------------------------------------------------
    async def _kpi(self, conn: Any, definition_pk: int, kpi_name: str) -> dict[str, Any]:
        found = (
            await conn.execute(
                select(use_case_kpis).where(use_case_kpis.c.definition_pk == definition_pk, use_case_kpis.c.name == kpi_name)
            )
        ).first()
        if found is None:
            raise api_error("kpi_not_found", kpi_name=shown(kpi_name))
        return _row(found)

    async def create_kpi(
        self, app_id: int, name: str, *, kpi_name: str, description: str | None, goal: float | None, kpi_type: str
    ) -> dict[str, Any]:
        """Define a KPI on a use case (``kpi_already_exists`` 409 if its name is taken)."""
        name = check_use_case_name(name)
        kpi_name = check_kpi_name(kpi_name)
        kind = kpi_type.strip().lower() if isinstance(kpi_type, str) else ""
        if kind not in KPI_TYPES:
            raise api_error("invalid_kpi_type", kpi_types=', '.join(KPI_TYPES))
        now = self._clock()
        values = {
            "name": kpi_name,
            "description": check_description(description),
            "goal": _goal(goal),
            "kpi_type": kind,
            "created_at": now,
            "updated_at": now,
        }
        conflict = api_error("kpi_already_exists", kpi_name=kpi_name, headers=NO_RETRY)
        try:
            async with self._db.write() as conn:
                definition = await find_definition(conn, app_id, name, lock=True)
                taken = (
                    await conn.execute(
                        select(use_case_kpis.c.id).where(
                            use_case_kpis.c.definition_pk == definition["id"], use_case_kpis.c.name == kpi_name
                        )
                    )
                ).first()
                if taken is not None:
                    raise conflict
                await conn.execute(insert(use_case_kpis).values(definition_pk=definition["id"], **values))
        except IntegrityError:
            raise conflict from None
        return kpi_view(values)

    async def get_kpi(self, app_id: int, name: str, kpi_name: str) -> dict[str, Any]:
        """One KPI definition (``use_case_not_found`` / ``kpi_not_found``)."""
        async with self._db.read() as conn:
            definition = await find_definition(conn, app_id, check_use_case_name(name))
            return kpi_view(await self._kpi(conn, definition["id"], check_kpi_name(kpi_name)))

    async def update_kpi(
        self, app_id: int, name: str, kpi_name: str, *, description: str | None = UNSET, goal: float | None = UNSET
    ) -> dict[str, Any]:
        """Change a KPI's description (``None``: unchanged) and/or goal (``None`` clears it)."""
        values: dict[str, Any] = {"updated_at": self._clock()}
        if description is not UNSET and description is not None:
            values["description"] = check_description(description)
        if goal is not UNSET:
            values["goal"] = _goal(goal)
        async with self._db.write() as conn:
            definition = await find_definition(conn, app_id, check_use_case_name(name), lock=True)
            row = await self._kpi(conn, definition["id"], check_kpi_name(kpi_name))
            await conn.execute(update(use_case_kpis).where(use_case_kpis.c.id == row["id"]).values(**values))
        return kpi_view({**row, **values})

    async def delete_kpi(self, app_id: int, name: str, kpi_name: str) -> dict[str, Any]:
        """Delete a KPI definition and the scores instances of this use case had for it."""
        async with self._db.write() as conn:
            definition = await find_definition(conn, app_id, check_use_case_name(name), lock=True)
            row = await self._kpi(conn, definition["id"], check_kpi_name(kpi_name))
            instances = select(use_case_instances.c.use_case_id).where(
                use_case_instances.c.app_id == app_id, use_case_instances.c.name == definition["name"]
            )
            await conn.execute(
                delete(use_case_kpi_scores).where(
                    use_case_kpi_scores.c.app_id == app_id,
                    use_case_kpi_scores.c.kpi_name == row["name"],
                    use_case_kpi_scores.c.use_case_id.in_(instances),
                )
            )
            await conn.execute(delete(use_case_kpis).where(use_case_kpis.c.id == row["id"]))
        return kpi_view(row)

    async def list_kpis(
        self, app_id: int, name: str, *, kpi_name: str | None = None, after: int | None = None, size: int = 100,
        ascending: bool = True,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """A page of a use case's KPI definitions in creation order."""
        async with self._db.read() as conn:
            definition = await find_definition(conn, app_id, check_use_case_name(name))
            if kpi_name is not None and not KPI_NAME.match(kpi_name):
                return [], None
            query = select(use_case_kpis).where(use_case_kpis.c.definition_pk == definition["id"])
            if kpi_name is not None:
                query = query.where(use_case_kpis.c.name == kpi_name)
            if after is not None:
                query = query.where(use_case_kpis.c.id > after if ascending else use_case_kpis.c.id < after)
            order = use_case_kpis.c.id.asc() if ascending else use_case_kpis.c.id.desc()
            rows = [_row(r) for r in (await conn.execute(query.order_by(order).limit(size + 1))).all()]
        more = len(rows) > size
        rows = rows[:size]
        return [kpi_view(r) for r in rows], (int(rows[-1]["id"]) if more else None)
