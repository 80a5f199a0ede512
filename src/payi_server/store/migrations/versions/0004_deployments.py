"""deployments: an application's deployment -> model mapping

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import payi_server.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("app_id", _BigId, nullable=False),
        sa.Column("category", sa.String(length=200), nullable=False),
        sa.Column("deployment", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=300), nullable=False),
        sa.Column("created_at", payi_server.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", payi_server.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["applications.id"], name=op.f("fk_deployments_app_id_applications")),
        sa.PrimaryKeyConstraint("app_id", "category", "deployment", name=op.f("pk_deployments")),
    )


def downgrade() -> None:
    op.drop_table("deployments")
