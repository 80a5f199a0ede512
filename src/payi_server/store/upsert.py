"""Dialect-specific INSERT ... ON CONFLICT, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

from .engine import Database
from .sums import saturating_add


def _insert(db: Database, table: Table) -> Any:
    return sqlite.insert(table) if db.is_sqlite else postgresql.insert(table)


def insert_ignore(db: Database, table: Table, index_elements: Sequence[Any], index_where: Any = None) -> Any:
    """INSERT that skips rows whose key already exists."""
    return _insert(db, table).on_conflict_do_nothing(index_elements=list(index_elements), index_where=index_where)


def insert_add(db: Database, table: Table, index_elements: Sequence[str], add: Sequence[str]) -> Any:
    """INSERT that, for an existing key, adds the new row's values to the ``add`` columns (rollup counters),
    each saturating at what its column holds (``store.sums``)."""
    return add_on_conflict(_insert(db, table), table, index_elements, add, sqlite=db.is_sqlite)


def add_on_conflict(stmt: Any, table: Table, index_elements: Sequence[str], add: Sequence[str], *, sqlite: bool) -> Any:
    """``insert_add``'s ``ON CONFLICT`` clause on a dialect's ``stmt`` (``store.bulk`` compiles it for asyncpg)."""
    return stmt.on_conflict_do_update(
        index_elements=list(index_elements),
        set_={name: saturating_add(table.c[name], stmt.excluded[name], sqlite) for name in add},
    )


def insert_replace(db: Database, table: Table, index_elements: Sequence[str], replace: Sequence[str]) -> Any:
    """INSERT that, for an existing key, replaces the ``replace`` columns with the new row's values."""
    stmt = _insert(db, table)
    return stmt.on_conflict_do_update(
        index_elements=list(index_elements), set_={name: stmt.excluded[name] for name in replace}
    )
