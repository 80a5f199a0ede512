"""requests by cost: an index on (app_id, cost_total) for the request list's most expensive first

Without it, the most expensive requests of a range are found by reading and sorting every request of the range
(at 100 million rows, 3.8 s for 30 days); with it each day's partition gives its costliest rows first.

SQLite: the index is built in the migration's transaction (the writer waits for it).

PostgreSQL, where ``requests`` is partitioned by day (0010): on a database this run created, the index is created
on the partitioned table in the transaction (its partitions are empty). Otherwise this
creates the partitioned table's index alone (``ON ONLY``: a catalog change, invalid until each partition has its
own), and the partitions' indexes are built after the migration's transaction, concurrently, while the recorder
keeps writing (``store.partitions.complete_indexes``): by ``payi-server migrate`` before it exits, and by the
retention sweep of a running server (its first runs 30 s after start-up). Until then the request list by cost
reads each day's partition that has its index through it and sorts the others, as before.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 21:15:00
"""

from __future__ import annotations

from typing import Any

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

INDEX = "ix_requests_app_id_cost_total"
COLUMNS = "app_id, cost_total"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or _created_here(bind):
        op.create_index(INDEX, "requests", ["app_id", "cost_total"])
        return
    # The partitioned index alone (a catalog change); each partition's is built after this run, concurrently
    # (``store.partitions.complete_indexes``).
    bind.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {INDEX} ON ONLY requests ({COLUMNS})")


def _created_here(bind: Any) -> bool:
    """``requests`` is not visible to another connection: this uncommitted run created it."""
    with bind.engine.connect() as outside:
        visible = outside.exec_driver_sql("SELECT to_regclass('requests') IS NOT NULL").scalar()
        outside.rollback()
    return not visible


def downgrade() -> None:
    op.drop_index(INDEX, table_name="requests")
