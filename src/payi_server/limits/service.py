"""Limit operations on the store, each scoped to the calling application (``app_id``).

The REST API (``api/limits.py``) calls ``LimitService``; code that already holds a write transaction (use-case
instance creation, the metering path) calls ``create_limit_row`` / ``make_instance_limit``.

Rules (spec §2.2, §5):

- ``limit_type`` is ``block`` or ``allow`` (case-insensitive: old clients send ``"Allow"``), default ``allow``;
  ``threshold`` is 0.75 to 0.99 (1.0 is accepted and means the default); ``max`` is above 0 and at most 1e8 USD.
- Beyond Pay-i: ``enforcement`` (``default`` | ``strict``, a body field or the property ``enforcement``) and
  ``period`` (``day`` | ``week`` | ``month``) with an IANA ``timezone`` for budgets that restart at calendar
  boundaries.
- Creating a limit whose name exists with the same configuration returns the existing limit; a different
  configuration is ``limit_name_already_exist``. A client-chosen ``limit_id`` that exists (or existed: ids of
  deleted limits are never reused, so old request records stay unambiguous) is ``duplicate_limit_id``.
- Every write locks the limit row (``FOR UPDATE`` on PostgreSQL; SQLite has one writer) and first settles a
  finished periodic window into ``limit_history`` (``roll_window``), so it never acts on totals read earlier.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import ApiError, api_error
from ..store.changes import utcnow
from ..store.engine import Database
from ..store.tables import limit_history, limits
from .config import (
    CREATE_FAILED,
    LIMIT_ID,
    UPDATE_FAILED,
    LimitConfig,
    check_max,
    check_name,
    check_properties,
    check_tags,
    enforcement_mode,
    parse_config,
    shown,
)
from .ledger import roll_window
from .model import STATES, ZERO, is_stale, limit_view, totals_view, window_start

_FUTURE_SKEW = timedelta(minutes=5)
_NO_RETRY = {"x-should-retry": "false"}  # a conflict will not go away on retry (the SDK retries 409 by default)

Clock = Callable[[], datetime]


def _row(raw: Any) -> dict[str, Any]:
    return dict(raw._mapping)


def _is_sqlite(conn: Any) -> bool:
    return bool(conn.dialect.name == "sqlite")


async def _select(conn: Any, app_id: int, *, limit_id: str | None = None, name: str | None = None,
                  live: bool = True, lock: bool = False) -> dict[str, Any] | None:
    query = select(limits).where(limits.c.app_id == app_id)
    if limit_id is not None:
        query = query.where(limits.c.limit_id == limit_id)
    if name is not None:
        query = query.where(limits.c.name == name)
    if live:
        query = query.where(limits.c.deleted_at.is_(None))
    if lock and not _is_sqlite(conn):
        query = query.with_for_update(key_share=True)  # FOR NO KEY UPDATE: foreign-key checks of other transactions do not wait for it
    found = (await conn.execute(query.limit(1))).first()
    return _row(found) if found is not None else None


def not_found(limit_id: str) -> ApiError:
    """``limit_not_found`` (404), in Pay-i's words."""
    return api_error("limit_not_found", limit_id=shown(limit_id))


async def create_or_get(
    conn: Any,
    app_id: int,
    *,
    name: str,
    config: LimitConfig,
    properties: Mapping[str, Any] | None = None,
    limit_tags: list[str] | None = None,
    limit_id: str | None = None,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """Insert a limit (inside the caller's transaction), or return the existing one of the same name and config.

    Returns ``(row, created)``. Raises ``duplicate_limit_id`` / ``limit_name_already_exist`` (409).
    """
    name = check_name(name, CREATE_FAILED)
    props = {k: v for k, v in check_properties(properties, CREATE_FAILED).items() if v is not None}
    tags = check_tags(limit_tags)
    if limit_id is not None and not LIMIT_ID.match(limit_id):
        raise api_error(CREATE_FAILED, "limit_id")
    same_name = await _select(conn, app_id, name=name)
    if limit_id is not None:
        same_id = await _select(conn, app_id, limit_id=limit_id, live=False)
        if same_id is not None:
            if same_name is not None and same_name["id"] == same_id["id"] and config.matches(same_id):
                return same_name, False
            raise api_error("duplicate_limit_id", limit_id=limit_id, headers=_NO_RETRY)
    if same_name is not None:
        if limit_id is None and config.matches(same_name):
            return same_name, False
        raise api_error("limit_name_already_exist", "config", name=name, headers=_NO_RETRY)
    values: dict[str, Any] = {
        "app_id": app_id,
        "limit_id": limit_id or str(uuid.uuid4()),
        "name": name,
        "limit_type": config.limit_type,
        "max": config.max,
        "threshold": config.threshold,
        "enforcement": config.enforcement,
        "period": config.period,
        "timezone": config.timezone,
        "properties": props,
        "limit_tags": tags,
        "window_start": window_start(config.period, config.timezone, now),
        "spent_input": ZERO,
        "spent_output": ZERO,
        "spent_total": ZERO,
        "reserved": ZERO,
        **{f"count_{state}": 0 for state in (*STATES, "total")},
        "created_at": now,
        "updated_at": now,
        "reset_at": None,
        "deleted_at": None,
    }
    pk = (await conn.execute(insert(limits).values(**values).returning(limits.c.id))).scalar_one()
    return {"id": pk, **values}, True


async def create_limit_row(
    conn: Any,
    app_id: int,
    *,
    name: str,
    max: float | int | str | Decimal,
    limit_type: str | None = None,
    threshold: float | int | str | Decimal | None = None,
    properties: Mapping[str, Any] | None = None,
    limit_tags: list[str] | None = None,
    enforcement: str | None = None,
    period: str | None = None,
    timezone: str | None = None,
    limit_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Create a limit inside an existing write transaction; returns its row (the ``limits`` columns).

    Same validation and the same idempotency as ``POST /api/v1/limits`` (``ApiError`` on bad input/conflicts).
    """
    config = parse_config(
        max=max, limit_type=limit_type, threshold=threshold, enforcement=enforcement, period=period,
        timezone=timezone, properties=properties,
    )
    row, _created = await create_or_get(
        conn, app_id, name=name, config=config, properties=properties, limit_tags=limit_tags, limit_id=limit_id,
        now=now or utcnow(),
    )
    return row


async def make_instance_limit(conn: Any, app_id: int, definition: Any, use_case_id: str | None = None) -> int | None:
    """The limit of a new use-case instance, from its definition's ``limit_config``; returns the limit's pk.

    Fits ``usecases.implicit.LimitFactory`` (``use_case_id`` is optional: without it the name gets a random
    suffix). The limit is named ``<use case name>.<instance id>`` and carries the properties
    ``system.use_case_name`` / ``system.use_case_id``; it is always a new limit, never an existing one.
    """
    data = definition._mapping if hasattr(definition, "_mapping") else definition
    config_json = data["limit_config"]
    if not config_json:
        return None
    instance = use_case_id or uuid.uuid4().hex
    properties = dict(config_json.get("properties") or {})
    properties["system.use_case_name"] = data["name"]
    properties["system.use_case_id"] = instance
    config = parse_config(
        max=config_json["max"], limit_type=config_json.get("limit_type"), threshold=config_json.get("threshold"),
        enforcement=config_json.get("enforcement"), period=config_json.get("period"),
        timezone=config_json.get("timezone"), properties=properties,
    )
    name = f"{data['name']}.{instance}"[:200]
    if await _select(conn, app_id, name=name) is not None:
        name = f"{name[:190]}.{uuid.uuid4().hex[:8]}"
    row, _created = await create_or_get(conn, app_id, name=name, config=config, properties=properties, now=utcnow())
    return int(row["id"])


def history_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ``limit_history`` row as the wire's ``LimitHistory`` object (plus ``window_start``)."""
    return {
        "limit_id": row["limit_id"],
        "limit_name": row["name"],
        "limit_type": row["limit_type"],
        "max": float(row["max"]),
        "limit_reset_timestamp": row["reset_timestamp"],
        "window_start": row["window_start"],
        "limit_tags": row["limit_tags"] or [],
        "totals": row["totals"],
    }


class LimitService:
    """The limits of one database; ``clock`` is injectable so tests can move through periodic windows."""

    def __init__(self, db: Database, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    async def _locked(self, conn: Any, app_id: int, limit_id: str, now: datetime) -> dict[str, Any]:
        row = await _select(conn, app_id, limit_id=limit_id, lock=True)
        if row is None:
            raise not_found(limit_id)
        return await roll_window(conn, row, now)

    async def create(
        self,
        app_id: int,
        *,
        name: str,
        max: float | int | str | Decimal,
        limit_id: str | None = None,
        limit_type: str | None = None,
        threshold: float | int | str | Decimal | None = None,
        properties: Mapping[str, Any] | None = None,
        limit_tags: list[str] | None = None,
        enforcement: str | None = None,
        period: str | None = None,
        timezone: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Create a limit; returns ``(Limit view, created)`` (``created`` is False for an idempotent repeat)."""
        config = parse_config(
            max=max, limit_type=limit_type, threshold=threshold, enforcement=enforcement, period=period,
            timezone=timezone, properties=properties,
        )
        for attempt in range(2):
            now = self._clock()
            try:
                async with self._db.write() as conn:
                    row, created = await create_or_get(
                        conn, app_id, name=name, config=config, properties=properties, limit_tags=limit_tags,
                        limit_id=limit_id, now=now,
                    )
                return limit_view(row, now), created
            except IntegrityError:
                # Another process created the same name or id between our check and insert: look again.
                if attempt:
                    raise api_error("limit_name_already_exist", "concurrent", headers=_NO_RETRY) from None
        raise AssertionError("unreachable")

    async def get(self, app_id: int, limit_id: str) -> dict[str, Any]:
        """One live limit of the application (``limit_not_found`` otherwise)."""
        async with self._db.read() as conn:
            row = await _select(conn, app_id, limit_id=limit_id)
        if row is None:
            raise not_found(limit_id)
        return limit_view(row, self._clock())

    async def update(
        self, app_id: int, limit_id: str, *, name: str | None = None, max: float | int | str | Decimal | None = None
    ) -> dict[str, Any]:
        """Rename a limit and/or change its ``max`` (never below what the current window has spent)."""
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = check_name(name, UPDATE_FAILED)
        amount = check_max(max) if max is not None else None
        now = self._clock()
        try:
            async with self._db.write() as conn:
                row = await self._locked(conn, app_id, limit_id, now)
                if amount is not None:
                    if amount < row["spent_total"]:
                        raise api_error("invalid_max_limit_update", spent_total=row['spent_total'])
                    values["max"] = amount
                if "name" in values and values["name"] != row["name"]:
                    if await _select(conn, app_id, name=values["name"]) is not None:
                        raise api_error("limit_name_already_exist", name=values['name'], headers=_NO_RETRY)
                if values:
                    values["updated_at"] = now
                    await conn.execute(update(limits).where(limits.c.id == row["id"]).values(**values))
                    row = {**row, **values}
        except IntegrityError:
            raise api_error("limit_name_already_exist", "rename", headers=_NO_RETRY) from None
        return limit_view(row, now)

    async def list_limits(
        self, app_id: int, *, name: str | None = None, after: int | None = None, size: int = 100,
        ascending: bool = True,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """A page of live limits in creation order; returns the views and the sort key to continue after."""
        if name is not None and "\x00" in name:
            return [], None  # no name holds NUL (and PostgreSQL cannot even compare one)
        query = select(limits).where(limits.c.app_id == app_id, limits.c.deleted_at.is_(None))
        if name is not None:
            query = query.where(limits.c.name == name)
        if after is not None:
            query = query.where(limits.c.id > after if ascending else limits.c.id < after)
        query = query.order_by(limits.c.id.asc() if ascending else limits.c.id.desc()).limit(size + 1)
        async with self._db.read() as conn:
            rows = [_row(r) for r in (await conn.execute(query)).all()]
        now = self._clock()
        more = len(rows) > size
        rows = rows[:size]
        return [limit_view(r, now) for r in rows], (int(rows[-1]["id"]) if more else None)

    async def delete(self, app_id: int, limit_id: str) -> None:
        """Soft delete: the limit's id is unknown from now on (and never reused); its history stays."""
        now = self._clock()
        async with self._db.write() as conn:
            row = await self._locked(conn, app_id, limit_id, now)  # a finished window is archived first
            await conn.execute(update(limits).where(limits.c.id == row["id"]).values(deleted_at=now, updated_at=now))

    async def reset(self, app_id: int, limit_id: str, reset_date: datetime | None = None) -> dict[str, Any]:
        """Zero a limit's spend and counters (reservations in flight stay); return the totals before the reset."""
        now = self._clock()
        at = reset_date or now
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        if at > now + _FUTURE_SKEW:
            raise api_error("invalid_reset_date")
        async with self._db.write() as conn:
            row = await self._locked(conn, app_id, limit_id, now)
            since = max(t for t in (row["created_at"], row["window_start"], row["reset_at"]) if t is not None)
            archived = {
                "limit_pk": row["id"],
                "limit_id": row["limit_id"],
                "name": row["name"],
                "limit_type": row["limit_type"],
                "max": row["max"],
                "window_start": since,
                "reset_timestamp": at,
                "totals": totals_view(row),
                "limit_tags": row["limit_tags"],
            }
            await conn.execute(insert(limit_history).values(**archived))
            zeroed: dict[str, Any] = {"spent_input": ZERO, "spent_output": ZERO, "spent_total": ZERO}
            zeroed.update({f"count_{state}": 0 for state in (*STATES, "total")})
            await conn.execute(
                update(limits).where(limits.c.id == row["id"]).values(**zeroed, reset_at=at, updated_at=now)
            )
        return history_view(archived)

    async def update_properties(
        self, app_id: int, limit_id: str, properties: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Merge properties (a ``None`` value deletes the key); the ``enforcement`` property sets the mode."""
        changes = check_properties(properties, UPDATE_FAILED)
        mode = enforcement_mode(changes.get("enforcement"), UPDATE_FAILED)
        now = self._clock()
        async with self._db.write() as conn:
            row = await self._locked(conn, app_id, limit_id, now)
            merged = dict(row["properties"] or {})
            for key, value in changes.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            check_properties(merged, UPDATE_FAILED)
            values: dict[str, Any] = {"properties": merged, "updated_at": now}
            if mode is not None:
                values["enforcement"] = mode
            await conn.execute(update(limits).where(limits.c.id == row["id"]).values(**values))
        return limit_view({**row, **values}, now)

    async def history(
        self, app_id: int, limit_id: str, *, after: int | None = None, size: int = 100, ascending: bool = False
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Finished windows and resets of a limit, newest first by default (a window that has just ended is
        archived first, so it is listed without waiting for the next request)."""
        now = self._clock()
        async with self._db.read() as conn:
            row = await _select(conn, app_id, limit_id=limit_id)
        if row is None:
            raise not_found(limit_id)
        if is_stale(row, now):
            async with self._db.write() as conn:
                await self._locked(conn, app_id, limit_id, now)
        query = select(limit_history).where(limit_history.c.limit_pk == row["id"])
        if after is not None:
            query = query.where(limit_history.c.id > after if ascending else limit_history.c.id < after)
        order = limit_history.c.id.asc() if ascending else limit_history.c.id.desc()
        async with self._db.read() as conn:
            rows = [_row(r) for r in (await conn.execute(query.order_by(order).limit(size + 1))).all()]
        more = len(rows) > size
        rows = rows[:size]
        return [history_view(r) for r in rows], (int(rows[-1]["id"]) if more else None)
