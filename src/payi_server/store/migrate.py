"""Apply the Alembic migrations (``payi-server migrate`` and ``serve`` start-up).

On PostgreSQL an advisory lock makes concurrent start-ups of several servers migrate once, and the request log's
partitions for today and the next days are created (``store/partitions.py``), so that a server works at once. An
index added to the partitioned request log is built partition by partition after the migration's transaction
(``partitions.complete_indexes``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from .changes import utcnow
from .partitions import complete_indexes, ensure_days

_LOCK_ID = 7_270_001
MIGRATIONS = Path(__file__).parent / "migrations"


def _config(connection: Any = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(sync_conn: Any) -> str | None:
    return MigrationContext.configure(sync_conn).get_current_revision()


async def migrate(url: str, revision: str = "head", *, complete: bool = False) -> str | None:
    """Upgrade the database at ``url`` (an async SQLAlchemy URL) and return the revision it is at. ``complete``
    (``payi-server migrate``): on PostgreSQL, then build the partitions' indexes a migration left to build while
    the log stays writable (``partitions.complete_indexes``); a running server's retention sweep does it too."""
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
            await conn.run_sync(lambda c: command.upgrade(_config(c), revision))
            await conn.run_sync(ensure_days, utcnow().date())
            done = await conn.run_sync(current_revision)
        if complete and engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.run_sync(complete_indexes)
        return done
    finally:
        await engine.dispose()


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
