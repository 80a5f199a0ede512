"""daily rollup: the hourly rollup's sums by UTC day, for reports over long ranges

``rollup_daily`` has the hourly rollup's key with ``bucket`` the start of a UTC day, and its measures (the
latency histogram included). The recorder adds to both in the same transaction (``metering/batch.py``) and
erasure merges both (``store/erasure.py``), so a day's row always equals the sum of its hours. Reports read a
day's row where the day lies wholly inside one of the report's buckets (``reports/service.py``): a report of a
year then reads a day's row instead of up to 24 hourly ones.

The existing hourly rows are summed into it here, in one statement (a read of the hourly rollup that blocks no
writer). A server of the previous version does not add to the daily rollup: upgrade every server together with the
migration, as for 0010.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import payi_server.store.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Frozen here (a later change to tables.py must not change what this revision did).
_KEYS = (
    "bucket", "app_id", "category", "resource", "use_case_name", "use_case_version", "use_case_step", "user_id",
    "account_name",
)
_LATENCY = (
    *(
        f"latency_lt_{bound}ms"
        for bound in (10, 25, 50, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000, 15000,
                      20000, 30000, 45000, 60000, 120000, 300000)
    ),
    "latency_ge_300000ms",
)
_MONEY = ("cost_input", "cost_output", "cost_total")
_MEASURES = ("requests", "failed", "blocked", "unpriced", *_MONEY, "units_input", "units_output", *_LATENCY)


def upgrade() -> None:
    op.create_table(
        "rollup_daily",
        sa.Column("bucket", payi_server.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("app_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("category", sa.String(length=200), nullable=False),
        sa.Column("resource", sa.String(length=300), nullable=False),
        sa.Column("use_case_name", sa.String(length=64), nullable=False),
        sa.Column("use_case_version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("use_case_step", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("account_name", sa.String(length=200), nullable=False),
        *(
            sa.Column(name, payi_server.store.types.Money(precision=38, scale=10), nullable=False)
            if name in _MONEY
            else sa.Column(name, sa.BigInteger(), server_default=sa.text("0") if name in _LATENCY else None,
                           nullable=False)
            for name in _MEASURES
        ),
        sa.PrimaryKeyConstraint(*_KEYS, name=op.f("pk_rollup_daily")),
    )
    op.execute(backfill(op.get_bind().dialect.name))


def backfill(dialect: str) -> str:
    """``INSERT INTO rollup_daily`` the sums of ``rollup_hourly`` by UTC day (into an empty table)."""
    if dialect == "postgresql":
        day = "date_trunc('day', bucket, 'UTC')"
    else:  # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC)
        day = "substr(bucket, 1, 10) || ' 00:00:00.000000'"
    keys = ", ".join(_KEYS)
    rest = ", ".join(_KEYS[1:])
    sums = ", ".join(f"sum({m})" for m in _MEASURES)
    return (
        f"INSERT INTO rollup_daily ({keys}, {', '.join(_MEASURES)}) "
        f"SELECT {day}, {rest}, {sums} FROM rollup_hourly GROUP BY {day}, {rest}"
    )


def downgrade() -> None:
    op.drop_table("rollup_daily")
