"""latency histograms: end-to-end latency bucket counts in the hourly rollup

The columns default to 0 on the database side, so a server of the previous version keeps recording during a
rolling upgrade (its rows count no latency). Rows recorded before this migration are not backfilled from the
request log: a report over those hours has no latency percentiles (the dashboard's chart leaves them empty). A
backfill would read the whole request log in one statement while the recorder writes the same rows, and the log
may no longer hold what the rollups count (retention, erasure).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Frozen here (a later change to tables.py must not change what this revision did).
_COLUMNS = (
    *(
        f"latency_lt_{bound}ms"
        for bound in (10, 25, 50, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000, 15000,
                      20000, 30000, 45000, 60000, 120000, 300000)
    ),
    "latency_ge_300000ms",
)


def upgrade() -> None:
    with op.batch_alter_table("rollup_hourly") as batch:
        for name in _COLUMNS:
            batch.add_column(sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("rollup_hourly") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
