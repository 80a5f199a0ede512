"""request log partitions: PostgreSQL partitions the request log by day of snowflake id; duplicate keys in request_keys

PostgreSQL: ``requests`` (by ``id``), ``request_limits`` and ``request_payloads`` (by ``request_id``) become tables
partitioned by RANGE of the snowflake id, one day per partition (``store/partitions.py``). The existing tables stay
as they are, renamed ``*_legacy`` and attached as the partition of every id below the cut-over: the first midnight
(UTC) at least ``CUTOVER_MARGIN`` ahead, so that servers still writing while this runs write ids below it (on a
new database, created by this same run, today's midnight: its legacy partitions are empty). Their
``CHECK (id < cut-over)`` is added ``NOT VALID`` and validated on a separate connection first, while the recorder
keeps writing (validation takes no lock that blocks writes); the rename and the attach then take each table's
exclusive lock for milliseconds, since the validated constraint spares the attach its scan.

The duplicate check moves to ``request_keys`` (a partitioned table cannot have the unique index on
``(app_id, category, provider_response_id)``): on the separate connection a trigger starts adding the keys of new
rows, then the existing rows' keys are copied (a read of the log that blocks no writer); under the lock the
trigger and the old index are dropped. Today's and the next ``DAYS_AHEAD`` days' partitions and the DEFAULT partitions are created.

A server of the previous version cannot record once this has run (its ``ON CONFLICT`` names the unique index
that is gone): upgrade every server together with the migration (``payi-server migrate``, then the restart).

SQLite: the request log stays unpartitioned; only the (unused) ``request_keys`` table is created, so that the
schema is the same on both.

Downgrade (PostgreSQL) copies the log back into plain tables: it takes the tables' exclusive locks for the copy.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 17:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

from payi_server.store.partitions import day_range, ensure_days

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CUTOVER_MARGIN = timedelta(hours=12)

# Frozen here: (table, partition key, primary key columns, indexes kept (name suffix, columns)).
_TABLES = (
    ("requests", "id", "id", (("app_id_event_timestamp", "app_id, event_timestamp"),)),
    ("request_limits", "request_id", "request_id, limit_pk", ()),
    ("request_payloads", "request_id", "request_id", (("app_id_event_timestamp", "app_id, event_timestamp"),)),
)


def _keys_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("app_id", sa.BigInteger(), nullable=False),
        sa.Column("category", sa.String(length=200), nullable=False),
        sa.Column("provider_response_id", sa.String(length=300), nullable=False),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        op.create_table("request_keys", *_keys_columns())
        return
    now = datetime.now(UTC)
    cut_day = (now + CUTOVER_MARGIN).date() + timedelta(days=1)
    cutover = day_range(cut_day)[0]
    if _visible_outside(bind) is None:  # created by this same run (a new database): nobody else writes them
        cutover = day_range(now.date())[0]
        _prepare(bind, cutover)
    elif _holds_lock(bind):
        _prepare(bind, cutover)
    else:
        _prepare_outside(bind, cutover)
    # The rename and the attach: each table's exclusive lock, taken in the order the recorder writes them.
    bind.exec_driver_sql("LOCK TABLE requests, request_payloads, request_limits IN ACCESS EXCLUSIVE MODE")
    bind.exec_driver_sql("DROP TRIGGER request_keys_copy ON requests")
    bind.exec_driver_sql("DROP FUNCTION request_keys_copy()")
    bind.exec_driver_sql("DROP INDEX uq_requests_app_category_response_id")
    for table, key, pk, indexes in _TABLES:
        legacy = f"{table}_legacy"
        bind.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {legacy}")
        bind.exec_driver_sql(f"ALTER TABLE {legacy} RENAME CONSTRAINT pk_{table} TO pk_{legacy}")
        for suffix, _ in indexes:
            bind.exec_driver_sql(f"ALTER INDEX ix_{table}_{suffix} RENAME TO ix_{legacy}_{suffix}")
        bind.exec_driver_sql(f"CREATE TABLE {table} (LIKE {legacy} INCLUDING DEFAULTS) PARTITION BY RANGE ({key})")
        bind.exec_driver_sql(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({pk})")
        for suffix, columns in indexes:
            bind.exec_driver_sql(f"CREATE INDEX ix_{table}_{suffix} ON {table} ({columns})")
        # The legacy table's indexes match the parent's: they are attached, not built.
        bind.exec_driver_sql(f"ALTER TABLE {table} ATTACH PARTITION {legacy} FOR VALUES FROM (MINVALUE) TO ({cutover})")
        bind.exec_driver_sql(f"ALTER TABLE {legacy} DROP CONSTRAINT ck_{table}_legacy")
    ensure_days(bind, now.date())


def _prepare(conn: Any, cutover: int) -> None:
    """The checks of the cut-over, and the key table with every row's key: a trigger adds the keys of rows
    inserted from its creation on (which waits for the inserts under way), then the rows before are copied.
    Idempotent: a run that failed after this step is run again with another cut-over."""
    conn.exec_driver_sql("DROP TRIGGER IF EXISTS request_keys_copy ON requests")
    conn.exec_driver_sql("DROP TABLE IF EXISTS request_keys")
    for table, key, _pk, _indexes in _TABLES:
        conn.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS ck_{table}_legacy")
        conn.exec_driver_sql(
            f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_legacy CHECK ({key} < {cutover}) NOT VALID"
        )
        conn.exec_driver_sql(f"ALTER TABLE {table} VALIDATE CONSTRAINT ck_{table}_legacy")
    conn.exec_driver_sql(
        "CREATE TABLE request_keys (request_id BIGINT NOT NULL, app_id BIGINT NOT NULL, "
        "category VARCHAR(200) NOT NULL, provider_response_id VARCHAR(300) NOT NULL) PARTITION BY RANGE (request_id)"
    )
    conn.exec_driver_sql(
        f"CREATE TABLE request_keys_legacy PARTITION OF request_keys FOR VALUES FROM (MINVALUE) TO ({cutover})"
    )
    conn.exec_driver_sql(
        "CREATE UNIQUE INDEX uq_request_keys_legacy_key ON request_keys_legacy (app_id, category, provider_response_id)"
    )
    conn.exec_driver_sql(
        "CREATE OR REPLACE FUNCTION request_keys_copy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.provider_response_id IS NOT NULL THEN "
        "INSERT INTO request_keys (request_id, app_id, category, provider_response_id) "
        "VALUES (NEW.id, NEW.app_id, NEW.category, NEW.provider_response_id) ON CONFLICT DO NOTHING; "
        "END IF; RETURN NULL; END $$"
    )
    conn.exec_driver_sql(
        "CREATE TRIGGER request_keys_copy AFTER INSERT ON requests FOR EACH ROW EXECUTE FUNCTION request_keys_copy()"
    )
    conn.exec_driver_sql(
        "INSERT INTO request_keys (request_id, app_id, category, provider_response_id) "
        "SELECT id, app_id, category, provider_response_id FROM requests "
        "WHERE provider_response_id IS NOT NULL ON CONFLICT DO NOTHING"
    )


def _prepare_outside(bind: Any, cutover: int) -> None:
    """``_prepare`` on a connection of its own, each statement committed: the validation and the copy run while the
    recorder writes."""
    with bind.engine.connect() as outside:
        outside.execution_options(isolation_level="AUTOCOMMIT")
        _prepare(outside, cutover)


def _holds_lock(bind: Any) -> bool:
    """An earlier revision of this same run has locked one of the tables (0006 does): another connection would
    wait for this one forever."""
    held = bind.exec_driver_sql(
        "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND relation IN "
        "(to_regclass('requests'), to_regclass('request_limits'), to_regclass('request_payloads'))"
    ).scalar_one()
    return bool(held)


def _visible_outside(bind: Any) -> str | None:
    """The kind of ``requests`` as another connection sees it (None: not there, created by this uncommitted run)."""
    with bind.engine.connect() as outside:
        kind = outside.exec_driver_sql(
            "SELECT relkind::text FROM pg_class WHERE oid = to_regclass('requests')"
        ).scalar()
        outside.rollback()
    return None if kind is None else str(kind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        op.drop_table("request_keys")
        return
    for table, _key, pk, indexes in _TABLES:
        flat = f"{table}_flat"
        bind.exec_driver_sql(f"CREATE TABLE {flat} (LIKE {table} INCLUDING DEFAULTS)")
        bind.exec_driver_sql(f"INSERT INTO {flat} SELECT * FROM {table}")
        bind.exec_driver_sql(f"DROP TABLE {table}")
        bind.exec_driver_sql(f"ALTER TABLE {flat} RENAME TO {table}")
        bind.exec_driver_sql(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({pk})")
        for suffix, columns in indexes:
            bind.exec_driver_sql(f"CREATE INDEX ix_{table}_{suffix} ON {table} ({columns})")
    bind.exec_driver_sql(
        "CREATE UNIQUE INDEX uq_requests_app_category_response_id ON requests (app_id, category, provider_response_id) "
        "WHERE provider_response_id IS NOT NULL"
    )
    bind.exec_driver_sql("DROP TABLE request_keys")
