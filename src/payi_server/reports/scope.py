"""Which applications a caller may report on.

An application key sees its own application. An organisation key, and a dashboard user, see every application
of their organisation, deleted ones included (their recorded requests stay for reports), and may narrow that
with the ``application`` filter. Nothing outside the scope is ever read: every report query is bounded by
``app_id IN scope``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select

from ..errors import ApiError, api_error
from ..store.engine import Database
from ..store.tables import applications


@dataclass(frozen=True)
class Scope:
    org_id: int
    app_ids: tuple[int, ...]
    names: Mapping[int, str] = field(default_factory=dict)
    deleted: frozenset[int] = frozenset()

    def name(self, app_id: int) -> str:
        return self.names.get(app_id, str(app_id))


def _unknown() -> ApiError:
    # The same answer for an id of another organisation and one that does not exist.
    return api_error("application_not_found", "scope")


async def load_scope(db: Database, org_id: int, app_id: int | None = None) -> Scope:
    """The organisation's applications, or only ``app_id`` (an application key's own)."""
    query = select(applications.c.id, applications.c.name, applications.c.deleted_at).where(
        applications.c.org_id == org_id
    )
    if app_id is not None:
        query = query.where(applications.c.id == app_id)
    async with db.read() as conn:
        rows = (await conn.execute(query.order_by(applications.c.id))).all()
    if app_id is not None and not rows:
        raise _unknown()
    return Scope(
        org_id=org_id,
        app_ids=tuple(r.id for r in rows),
        names={r.id: r.name for r in rows},
        deleted=frozenset(r.id for r in rows if r.deleted_at is not None),
    )


def narrow(scope: Scope, wanted: Iterable[str]) -> Scope:
    """Keep the applications named by id or by name; one outside the scope is 404 (never a hint it exists)."""
    values = [w for w in wanted if w]
    if not values:
        return scope
    by_name: dict[str, list[int]] = {}
    for app_id, name in scope.names.items():
        if app_id not in scope.deleted:
            by_name.setdefault(name, []).append(app_id)
    chosen: set[int] = set()
    for value in values:
        if value.isascii() and value.isdigit() and int(value) in scope.app_ids:
            chosen.add(int(value))
        elif value in by_name:
            chosen.update(by_name[value])
        else:
            raise _unknown()
    return Scope(
        org_id=scope.org_id,
        app_ids=tuple(a for a in scope.app_ids if a in chosen),
        names=scope.names,
        deleted=scope.deleted,
    )
