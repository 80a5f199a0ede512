"""The one database layer: every query in the service goes through a ``Database``.

SQLite (the embedded default) gets one writer connection, like datasette: writes are serialised in process and
begin with ``BEGIN IMMEDIATE``, so a read-then-write transaction never fails with "database is locked";
reads use a separate pool and, in WAL mode, never wait for the writer. PostgreSQL uses one pool for both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .sqlite_driver import one_trip_dbapi

if TYPE_CHECKING:
    from .requestlog import RequestLog


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_engine(url: str, *, writer: bool) -> AsyncEngine:
    engine = create_async_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        pool_size=1 if writer else 8,
        max_overflow=0 if writer else 8,
        connect_args={"timeout": 30},
        module=one_trip_dbapi(),
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit transactions get in the way).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged ingest survives a power cut
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Straight to the driver: through ``exec_driver_sql`` the BEGIN cost the worker about 0.25 ms of CPU (an
        # execution context and its result), on every transaction. Its error is raised as SQLAlchemy's, as there.
        try:
            conn.connection.dbapi_connection.cursor().execute(begin)
        except Exception as error:
            raise sa_exc.DBAPIError.instance(begin, None, error, conn.dialect.loaded_dbapi.Error) from error

    return engine


MAX_CACHED_STATEMENT = 256 * 1024  # bytes of SQL text


class Database:
    """Async access to the store: ``async with db.read() as conn`` and ``async with db.write() as conn``."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite":
            self._writer = _sqlite_engine(url, writer=True)
            self._reader = _sqlite_engine(url, writer=False)
        else:
            # A bounded cache of prepared statements per connection (the driver's default of 100 kept up to 100
            # multi-kilobyte statements on each of up to 2 x pool_size connections). 64: a group commit that
            # charges limits and settles leases uses about 30 texts, and 32 made it prepare its insert every batch.
            if "prepared_statement_cache_size" not in url:
                url += ("&" if "?" in url else "?") + "prepared_statement_cache_size=64"
            self._writer = create_async_engine(
                url,
                json_serializer=_json_dumps,
                json_deserializer=orjson.loads,
                pool_size=pool_size,
                max_overflow=pool_size,
                # No pre-ping: with asyncpg it is BEGIN + ping + ROLLBACK, three round trips on every checkout
                # (5% of a worker's CPU in single ingests, and each group commit waited for them). A connection
                # that died (database restarted) fails its statement as a disconnect instead: SQLAlchemy then drops
                # the whole pool, the recorder holds or retries the batch and ingest answers 503 with retry
                # (tests/faults/test_database_restart.py).
                pool_pre_ping=False,
                # The driver prepares (and keeps) only statements up to 15 KiB by default; the group commit's rollup
                # upserts are 15-16 KiB each (a saturating sum per measure), 60-100 KiB joined (``store.bulk.joined``),
                # and one parsed and planned afresh each batch cost PostgreSQL 5 ms of CPU (half the batches a
                # second in single ingests). The statement cache above bounds how many are kept.
                connect_args={"max_cacheable_statement_size": MAX_CACHED_STATEMENT},
            )
            self._reader = self._writer

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def engine(self) -> AsyncEngine:
        return self._writer

    @cached_property
    def request_log(self) -> RequestLog:
        """The request log (``store.requestlog``): every read and write of its tables goes through it."""
        from .requestlog import SqlRequestLog  # noqa: PLC0415 - it imports .upsert, which imports this module

        return SqlRequestLog(self)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self._reader.connect() as conn:
            try:
                yield conn
            finally:
                await conn.rollback()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits when the block ends without an exception."""
        async with self._writer.begin() as conn:
            yield conn

    async def dispose(self) -> None:
        await self._writer.dispose()
        if self._reader is not self._writer:
            await self._reader.dispose()
