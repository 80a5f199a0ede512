"""narrow rollups: the sums by application alone and by user, for reports that break down by no more

``rollup_app_hourly`` / ``rollup_app_daily`` (key: ``bucket``, ``app_id``) and ``rollup_user_hourly`` /
``rollup_user_daily`` (key: ``bucket``, ``app_id``, ``user_id``) hold the full rollups' measures (the latency
histogram included) summed over the dimensions they leave out. The full rollups hold about one row per request
once the requests are spread over users, accounts, use cases and models; a report by user alone, or by no
dimension, reads these instead: at most one row per hour (or day) and user. The recorder adds to every rollup in one
transaction (``metering/batch.py``) and erasure merges a user's rows (``store/erasure.py``), so each narrow row is
always the sum of the full rollup's rows of its key (``store.tables.NarrowRollup``).

They are filled here from the full rollups, in one statement each (reads that block no writer). A server of the
previous version does not add to them: upgrade every server together with the migration, as for 0010 and 0011.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import payi_server.store.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Frozen here (a later change to tables.py must not change what this revision did).
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
# table -> (the full rollup it sums, its dimension columns)
TABLES = {
    "rollup_app_hourly": ("rollup_hourly", ()),
    "rollup_app_daily": ("rollup_daily", ()),
    "rollup_user_hourly": ("rollup_hourly", ("user_id",)),
    "rollup_user_daily": ("rollup_daily", ("user_id",)),
}


def upgrade() -> None:
    for name, (_source, columns) in TABLES.items():
        op.create_table(
            name,
            sa.Column("bucket", payi_server.store.types.UTCDateTime(timezone=True), nullable=False),
            sa.Column("app_id", sa.BigInteger(), autoincrement=False, nullable=False),
            *(sa.Column(column, sa.String(length=200), nullable=False) for column in columns),
            *(
                sa.Column(measure, payi_server.store.types.Money(precision=38, scale=10), nullable=False)
                if measure in _MONEY
                else sa.Column(measure, sa.BigInteger(), server_default=sa.text("0") if measure in _LATENCY else None,
                               nullable=False)
                for measure in _MEASURES
            ),
            sa.PrimaryKeyConstraint("bucket", "app_id", *columns, name=op.f(f"pk_{name}")),
        )
    for statement in backfill():
        op.execute(statement)


def backfill() -> list[str]:
    """``INSERT INTO`` each narrow rollup the sums of its full rollup (into empty tables), in time order: as the
    recorder writes them, so that a report's range of hours is a run of the table's pages (on PostgreSQL, a month by
    hour by user read 48,000 of its pages in the order a hash aggregate gave, 0.3 s; about 5,600 in time order)."""
    out = []
    sums = ", ".join(f"sum({m})" for m in _MEASURES)
    for name, (source, columns) in TABLES.items():
        keys = ", ".join(("bucket", "app_id", *columns))
        out.append(
            f"INSERT INTO {name} ({keys}, {', '.join(_MEASURES)}) SELECT {keys}, {sums} FROM {source} GROUP BY {keys}"
            " ORDER BY bucket"
        )
    return out


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
