"""The migrations build exactly the schema of ``tables.py``, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from payi_server.settings import Settings
from payi_server.store.migrate import head_revision, migrate
from payi_server.store.partitions import is_partition
from payi_server.store.tables import metadata


def _compared(postgresql: bool) -> Any:
    """What the comparison leaves out on PostgreSQL: the request log's partitions (made by the server, not
    ``tables.py``) and the unique index of ``requests`` that its partitioned table cannot have (``request_keys``
    does its work there)."""

    def include(obj: Any, name: str | None, kind: str, reflected: bool, _compare_to: Any) -> bool:
        if kind == "table" and name is not None and is_partition(name):
            return False
        return not (postgresql and kind == "index" and name == "uq_requests_app_category_response_id")

    return include


async def test_migrated_schema_matches_tables(settings: Settings) -> None:
    assert await migrate(settings.sqlalchemy_url) == head_revision()
    engine = create_async_engine(settings.sqlalchemy_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(
                        c,
                        opts={"compare_type": True, "include_object": _compared(c.dialect.name == "postgresql")},
                    ),
                    metadata,
                )
            )
    finally:
        await engine.dispose()
    assert diff == []


async def test_migrate_twice_is_a_no_op(settings: Settings) -> None:
    first = await migrate(settings.sqlalchemy_url)
    assert await migrate(settings.sqlalchemy_url) == first
