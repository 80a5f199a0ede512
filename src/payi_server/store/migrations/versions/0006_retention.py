"""retention: per-application retention, the maintenance lease, payloads carry their request's app and time

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 11:30:00

Existing stored prompts get their request's ``app_id`` and ``event_timestamp`` (one UPDATE; a payload whose request
is gone is deleted), so that retention finds expired payloads on their own index. The columns stay nullable: a
server of the previous version, still running during a rolling upgrade, writes payloads without them (the
retention sweep fills those in), and adding nullable columns takes no table rewrite on PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import payi_server.store.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "app_retention",
        sa.Column("app_id", _BigId, nullable=False),
        sa.Column("request_days", sa.Integer(), nullable=True),
        sa.Column("payload_days", sa.Integer(), nullable=True),
        sa.Column("updated_at", payi_server.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["applications.id"], name=op.f("fk_app_retention_app_id_applications")),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_app_retention")),
    )
    op.create_table(
        "maintenance_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", payi_server.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", payi_server.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_maintenance_leases")),
    )
    with op.batch_alter_table("request_payloads") as batch:
        batch.add_column(sa.Column("app_id", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("event_timestamp", payi_server.store.types.UTCDateTime(timezone=True), nullable=True)
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE request_payloads p SET app_id = r.app_id, event_timestamp = r.event_timestamp "
            "FROM requests r WHERE r.id = p.request_id"
        )
    else:
        op.execute(
            "UPDATE request_payloads SET "
            "app_id = (SELECT r.app_id FROM requests r WHERE r.id = request_payloads.request_id), "
            "event_timestamp = (SELECT r.event_timestamp FROM requests r WHERE r.id = request_payloads.request_id)"
        )
    op.execute("DELETE FROM request_payloads WHERE app_id IS NULL")
    with op.batch_alter_table("request_payloads") as batch:
        batch.create_index(
            batch.f("ix_request_payloads_app_id_event_timestamp"), ["app_id", "event_timestamp"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("request_payloads") as batch:
        batch.drop_index(batch.f("ix_request_payloads_app_id_event_timestamp"))
        batch.drop_column("event_timestamp")
        batch.drop_column("app_id")
    op.drop_table("maintenance_leases")
    op.drop_table("app_retention")
