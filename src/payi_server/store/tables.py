"""The schema, in SQLAlchemy Core. Alembic migrations create exactly this (a test compares them).

Tenancy: an organisation holds applications; an application owns two key slots, its limits, use cases and
requests. Organisation keys manage the organisation and cannot ingest or proxy.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

from .types import UTCDateTime

# Autoincrement primary keys: BIGINT identity on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

server_meta = Table(
    "server_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# One row per started server process: its id is the node part of snowflake request ids.
nodes = Table(
    "nodes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
)

organizations = Table(
    "organizations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

applications = Table(
    "applications",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", BigId, ForeignKey("organizations.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("store_prompts", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime, nullable=True),
)
Index(
    "uq_applications_org_id_name_live",
    applications.c.org_id,
    applications.c.name,
    unique=True,
    sqlite_where=applications.c.deleted_at.is_(None),
    postgresql_where=applications.c.deleted_at.is_(None),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", BigId, ForeignKey("organizations.id"), nullable=False),
    Column("app_id", BigId, ForeignKey("applications.id"), nullable=True),
    Column("kind", String(16), nullable=False),  # "application" | "organization"
    Column("slot", SmallInteger, nullable=True),  # 1 or 2 for application keys
    Column("lookup_id", String(32), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False),  # hex HMAC-SHA256(secret, key)
    Column("label", String(200), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("last_used_at", UTCDateTime, nullable=True),
    Index("ix_api_keys_app_id_slot", "app_id", "slot"),
)

# Every change that can invalidate what a server process caches (a key, an application, the price catalog), so
# that every process drops its cached copy within a second (polled; rows older than an hour are pruned).
change_log = Table(
    "change_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("entity", String(16), nullable=False),  # "key" | "app" | "catalog"
    Column("entity_id", String(64), nullable=False),  # key lookup id, application id, organization id
    Column("changed_at", UTCDateTime, nullable=False, index=True),
)

