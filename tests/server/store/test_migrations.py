"""The migrations build exactly the schema of ``tables.py``, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from payi_server.settings import Settings
from payi_server.store.migrate import _config, head_revision, migrate
from payi_server.store.changes import utcnow
from payi_server.store.engine import Database
from payi_server.store.partitions import ensure_days, is_partition
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


@pytest.mark.parametrize("by", ["migrate", "sweep"])
async def test_the_cost_index_is_built_on_a_request_log_that_exists(settings: Settings, by: str) -> None:
    """0012 on a database that already has its request log: on PostgreSQL (``payi-server migrate``) each day's
    partition gets its index built concurrently and attached (an interrupted build, an invalid index, is dropped
    and built again), or by a running server's retention sweep (``RequestLog.prepare``), after a migration that left
    the partitioned index invalid; it ends valid, and partitions made later have it from the start. SQLite: the
    index is there."""
    url = settings.sqlalchemy_url
    await migrate(url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:  # a database from before 0012
            await conn.run_sync(lambda c: command.downgrade(_config(c), "0011"))
        postgresql = engine.dialect.name == "postgresql"
        if postgresql:
            async with engine.begin() as conn:  # an interrupted build on one partition: its index is invalid
                first = (await conn.exec_driver_sql(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'requests'::regclass ORDER BY c.relname LIMIT 1"
                )).scalar_one()
                await conn.exec_driver_sql(f"CREATE INDEX {first}_app_id_cost_total ON {first} (app_id)")
                await conn.exec_driver_sql(
                    f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = '{first}_app_id_cost_total'::regclass"
                )
        assert await migrate(url, complete=by == "migrate") == head_revision()
        if by == "sweep":
            if postgresql:
                async with engine.connect() as conn:
                    left = (await conn.exec_driver_sql(
                        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_requests_app_id_cost_total'::regclass"
                    )).scalar_one()
                    await conn.rollback()
                assert left is False  # the migration built the partitioned index alone
            db = Database(url)
            try:
                await db.request_log.prepare(utcnow().date())
            finally:
                await db.dispose()
        async with engine.connect() as conn:
            if not postgresql:
                names = (await conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars()
                assert "ix_requests_app_id_cost_total" in set(names)
                return
            await conn.run_sync(lambda c: ensure_days(c, utcnow().date() + timedelta(days=30), days_ahead=0))
            parts = set((await conn.exec_driver_sql(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'requests'::regclass"
            )).scalars())
            indexed = dict((await conn.exec_driver_sql(
                "SELECT t.relname, x.indkey::text FROM pg_inherits i JOIN pg_index x ON x.indexrelid = i.inhrelid "
                "JOIN pg_class t ON t.oid = x.indrelid "
                "WHERE i.inhparent = 'ix_requests_app_id_cost_total'::regclass AND x.indisvalid"
            )).all())
            valid = (await conn.exec_driver_sql(
                "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_requests_app_id_cost_total'::regclass"
            )).scalar_one()
            await conn.rollback()
        assert len(parts) > 3 and any(p.endswith(f"{utcnow().date() + timedelta(days=30):%Y%m%d}") for p in parts)
        assert set(indexed) == parts and len(set(indexed.values())) == 1  # each partition, on the same columns
        assert valid is True
    finally:
        await engine.dispose()
