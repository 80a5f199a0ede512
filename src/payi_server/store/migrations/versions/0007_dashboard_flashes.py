"""dashboard_flashes: one-time messages of a dashboard session (POST-redirect-GET)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import payi_server.store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "dashboard_flashes",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("session_id", _BigId, nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("created_at", payi_server.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["dashboard_sessions.id"],
            name=op.f("fk_dashboard_flashes_session_id_dashboard_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_flashes")),
    )
    with op.batch_alter_table("dashboard_flashes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dashboard_flashes_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dashboard_flashes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_flashes_session_id"))
    op.drop_table("dashboard_flashes")
