"""alerts: webhook endpoints, the limit states alerts last saw, events and their deliveries

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 11:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import payi_server.store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Time = payi_server.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alert_endpoints",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("org_id", _BigId, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("created_at", _Time, nullable=False),
        sa.Column("deleted_at", _Time, nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], name=op.f("fk_alert_endpoints_org_id_organizations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_endpoints")),
    )
    with op.batch_alter_table("alert_endpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_endpoints_org_id"), ["org_id"], unique=False)
    op.create_table(
        "alert_limit_states",
        sa.Column("limit_pk", _BigId, autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("epoch", sa.String(length=80), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _Time, nullable=False),
        sa.ForeignKeyConstraint(["limit_pk"], ["limits.id"], name=op.f("fk_alert_limit_states_limit_pk_limits"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("limit_pk", name=op.f("pk_alert_limit_states")),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("org_id", _BigId, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", _Time, nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], name=op.f("fk_alert_events_org_id_organizations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_events_org_id"), ["org_id"], unique=False)
    op.create_table(
        "alert_deliveries",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("event_id", _BigId, nullable=False),
        sa.Column("endpoint_id", _BigId, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _Time, nullable=False),
        sa.Column("lease_until", _Time, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", _Time, nullable=False),
        sa.Column("sent_at", _Time, nullable=True),
        sa.ForeignKeyConstraint(["endpoint_id"], ["alert_endpoints.id"],
                                name=op.f("fk_alert_deliveries_endpoint_id_alert_endpoints"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["alert_events.id"],
                                name=op.f("fk_alert_deliveries_event_id_alert_events"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_deliveries")),
        sa.UniqueConstraint("event_id", "endpoint_id", name=op.f("uq_alert_deliveries_event_id_endpoint_id")),
    )
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_deliveries_endpoint_id"), ["endpoint_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_deliveries_next_attempt_at"), ["next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_table("alert_deliveries")
    op.drop_table("alert_events")
    op.drop_table("alert_limit_states")
    op.drop_table("alert_endpoints")
