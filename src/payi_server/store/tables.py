"""The schema, in SQLAlchemy Core. Alembic migrations create exactly this (a test compares them).

Tenancy: an organisation holds applications; an application owns two key slots, its limits, use cases and
requests. Organisation keys manage the organisation and cannot ingest or proxy.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from .types import Money, Price, UTCDateTime

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



# --- price catalog ------------------------------------------------------------------------------------
# One row per resource *version*; ``id`` is the ``resource_id`` Pay-i returns. ``org_id`` NULL: the managed
# ``system.*`` catalog (seeded from genai-prices); otherwise an organisation's custom category.
resources = Table(
    "resources",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", BigId, ForeignKey("organizations.id"), nullable=True),
    Column("category", String(200), nullable=False),
    Column("resource", String(300), nullable=False),
    Column("start_timestamp", UTCDateTime, nullable=False),
    Column("units", JSON, nullable=False),  # {unit: {"input_price": "<decimal>", "output_price": "<decimal>"}}
    Column("match", JSON, nullable=True),  # managed rows: aliases, prefixes ... (see pricing.seed)
    Column("max_input_units", BigInteger, nullable=True),
    Column("max_output_units", BigInteger, nullable=True),
    Column("max_total_units", BigInteger, nullable=True),
    Column("large_context_threshold", BigInteger, nullable=True),
    Column("character_billing", Boolean, nullable=False, default=False),
    Column("proxy_allowed", Boolean, nullable=False, default=True),
    Column("description", Text, nullable=True),
    Column("extra", JSON, nullable=True),  # mapped_resource, azure_resource, cost_per_hour ... echoed back
    Column("created_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime, nullable=True),
    Index("ix_resources_org_category_resource", "org_id", "category", "resource", "start_timestamp"),
)

# --- request log (append-only) ------------------------------------------------------------------------
requests = Table(
    "requests",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),  # snowflake; the request_id
    Column("app_id", BigId, nullable=False),
    Column("source", String(8), nullable=False),  # "ingest" | "proxy"
    Column("category", String(200), nullable=False),
    Column("resource", String(300), nullable=False),
    Column("resource_id", BigInteger, nullable=True),
    Column("event_timestamp", UTCDateTime, nullable=False),
    Column("ingest_timestamp", UTCDateTime, nullable=False),
    Column("units", JSON, nullable=False),
    Column("cost_input", Money, nullable=False),
    Column("cost_output", Money, nullable=False),
    Column("cost_total", Money, nullable=False),
    Column("unpriced", Boolean, nullable=False),
    Column("unknown_units", JSON, nullable=True),
    Column("use_case_id", String(64), nullable=True),
    Column("use_case_name", String(64), nullable=True),
    Column("use_case_version", Integer, nullable=True),
    Column("use_case_step", String(200), nullable=True),
    Column("user_id", String(200), nullable=True),
    Column("account_name", String(200), nullable=True),
    Column("limit_ids", JSON, nullable=True),
    Column("properties", JSON, nullable=True),
    Column("request_tags", JSON, nullable=True),
    Column("http_status_code", Integer, nullable=True),
    Column("failed", Boolean, nullable=False),
    Column("blocked", Boolean, nullable=False, default=False),
    Column("end_to_end_latency_ms", Integer, nullable=True),
    Column("time_to_first_token_ms", Integer, nullable=True),
    Column("time_to_first_completion_token_ms", Integer, nullable=True),
    Column("provider_response_id", String(300), nullable=True),
    Column("provider_uri", String(500), nullable=True),
    Column("resource_scope", String(100), nullable=True),
    Column("price_as_category", String(200), nullable=True),
    Column("price_as_resource", String(300), nullable=True),
    Column("result", JSON, nullable=True),  # extra xproxy_result fields (warnings, actions) as answered
    Index("ix_requests_app_id_event_timestamp", "app_id", "event_timestamp"),
    # The request list's most expensive first (``RequestLog.top``): read backwards, each day's partition gives its
    # costliest rows first, so a month's top page reads a few rows of each day, not the month (migration 0012).
    Index("ix_requests_app_id_cost_total", "app_id", "cost_total"),
)
# The same event twice (the SDK's retry queue) is recorded once: on SQLite by this index; on PostgreSQL, where the
# request log is partitioned by id (``store/partitions.py``) and so cannot have it, by ``request_keys``.
Index(
    "uq_requests_app_category_response_id",
    requests.c.app_id,
    requests.c.category,
    requests.c.provider_response_id,
    unique=True,
    sqlite_where=requests.c.provider_response_id.is_not(None),
    postgresql_where=requests.c.provider_response_id.is_not(None),
)

# Prompts and responses, only for applications that store them and requests that did not disable logging.
# ``app_id`` and ``event_timestamp`` repeat the request's, so that retention finds expired payloads on their own
# index (they are usually kept for less time than the request rows). NULL only in rows a server older than
# migration 0006 wrote during a rolling upgrade: the retention sweep fills them in.
request_payloads = Table(
    "request_payloads",
    metadata,
    Column("request_id", BigInteger, primary_key=True, autoincrement=False),
    Column("app_id", BigInteger, nullable=True),
    Column("event_timestamp", UTCDateTime, nullable=True),
    Column("provider_request_json", Text, nullable=True),
    Column("provider_request_reasoning_json", Text, nullable=True),
    Column("provider_response_json", JSON, nullable=True),  # a string or a list of strings
    Column("provider_request_headers", JSON, nullable=True),
    Column("provider_response_headers", JSON, nullable=True),
    Column("provider_response_function_calls", JSON, nullable=True),
    Index("ix_request_payloads_app_id_event_timestamp", "app_id", "event_timestamp"),
)

# PostgreSQL: the duplicate keys of the request log, partitioned by the same days of ``request_id`` as
# ``requests``, each partition with its own unique index on (app_id, category, provider_response_id) (a partitioned
# table cannot have one on its parent). The recorder checks the keys of recent days and inserts a batch's own in
# the same statement as its rows (``store/requestkeys.py``). Unused on SQLite, where ``requests`` keeps the index.
# No other index, not even a primary key on request_id: the planner, misled by a young partition's statistics,
# would scan the window's ids on it instead of probing the key (measured: 13 ms instead of 1.5 for 20 keys).
request_keys = Table(
    "request_keys",
    metadata,
    Column("request_id", BigInteger, nullable=False),
    Column("app_id", BigInteger, nullable=False),
    Column("category", String(200), nullable=False),
    Column("provider_response_id", String(300), nullable=False),
)

# Which limits a request counted against, and the state it left each one in.
request_limits = Table(
    "request_limits",
    metadata,
    Column("request_id", BigInteger, primary_key=True, autoincrement=False),
    Column("limit_pk", BigId, primary_key=True, autoincrement=False),
    Column("state", String(20), nullable=False),
)

# --- limits ---------------------------------------------------------------------------------------------
limits = Table(
    "limits",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("app_id", BigId, ForeignKey("applications.id"), nullable=False),
    Column("limit_id", String(100), nullable=False),  # the id clients use (chosen by them or generated)
    Column("name", String(200), nullable=False),
    Column("limit_type", String(8), nullable=False),  # "block" | "allow"
    Column("max", Money, nullable=False),
    Column("threshold", Price, nullable=True),
    Column("enforcement", String(8), nullable=False, default="default"),  # "default" | "strict"
    Column("period", String(8), nullable=True),  # None | "day" | "week" | "month"
    Column("timezone", String(64), nullable=True),
    Column("properties", JSON, nullable=True),
    Column("limit_tags", JSON, nullable=True),
    Column("window_start", UTCDateTime, nullable=True),  # periodic limits: the window the totals belong to
    Column("spent_input", Money, nullable=False, default=0),
    Column("spent_output", Money, nullable=False, default=0),
    Column("spent_total", Money, nullable=False, default=0),
    Column("reserved", Money, nullable=False, default=0),
    Column("count_ok", BigInteger, nullable=False, default=0),
    Column("count_exceeded", BigInteger, nullable=False, default=0),
    Column("count_overrun", BigInteger, nullable=False, default=0),
    Column("count_blocked", BigInteger, nullable=False, default=0),
    Column("count_blocked_external", BigInteger, nullable=False, default=0),
    Column("count_failed", BigInteger, nullable=False, default=0),
    Column("count_total", BigInteger, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("reset_at", UTCDateTime, nullable=True),
    Column("deleted_at", UTCDateTime, nullable=True),
)
Index("uq_limits_app_limit_id", limits.c.app_id, limits.c.limit_id, unique=True)
Index(
    "uq_limits_app_name_live",
    limits.c.app_id,
    limits.c.name,
    unique=True,
    sqlite_where=limits.c.deleted_at.is_(None),
    postgresql_where=limits.c.deleted_at.is_(None),
)

# Totals of a limit before each reset (manual, or the end of a periodic window).
limit_history = Table(
    "limit_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("limit_pk", BigId, ForeignKey("limits.id"), nullable=False, index=True),
    Column("limit_id", String(100), nullable=False),
    Column("name", String(200), nullable=False),
    Column("limit_type", String(8), nullable=False),
    Column("max", Money, nullable=False),
    Column("window_start", UTCDateTime, nullable=True),
    Column("reset_timestamp", UTCDateTime, nullable=False),
    Column("totals", JSON, nullable=False),
    Column("limit_tags", JSON, nullable=True),
)

# What model an application's named deployment runs (Azure OpenAI names deployments, not models): how a call to it
# is estimated before it is made (``pricing.deployments``).
deployments = Table(
    "deployments",
    metadata,
    Column("app_id", BigId, ForeignKey("applications.id"), primary_key=True),
    Column("category", String(200), primary_key=True),
    Column("deployment", String(200), primary_key=True),
    Column("model", String(300), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Estimated cost held against a limit while a proxied call is in flight. Each has an owner (the server process's
# node id) and an expiry, so a crashed process cannot hold budget forever.
limit_reservations = Table(
    "limit_reservations",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),  # snowflake, one per call
    Column("limit_pk", BigId, ForeignKey("limits.id"), primary_key=True, autoincrement=False, index=True),
    Column("amount", Money, nullable=False),
    Column("owner", BigInteger, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# --- use cases --------------------------------------------------------------------------------------------
use_case_definitions = Table(
    "use_case_definitions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("app_id", BigId, ForeignKey("applications.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("logging_enabled", Boolean, nullable=True),
    Column("type_version", Integer, nullable=False, default=1),
    Column("limit_config", JSON, nullable=True),
    Column("implicit", Boolean, nullable=False, default=False),  # created on the fly by an ingest or proxy call
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("uq_use_case_definitions_app_name", use_case_definitions.c.app_id, use_case_definitions.c.name, unique=True)

use_case_kpis = Table(
    "use_case_kpis",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("definition_pk", BigId, ForeignKey("use_case_definitions.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("goal", Float, nullable=True),
    Column("kpi_type", String(16), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("uq_use_case_kpis_definition_name", use_case_kpis.c.definition_pk, use_case_kpis.c.name, unique=True)

use_case_instances = Table(
    "use_case_instances",
    metadata,
    Column("app_id", BigId, ForeignKey("applications.id"), primary_key=True, autoincrement=False),
    Column("use_case_id", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("type_version", Integer, nullable=True),
    Column("limit_pk", BigInteger, nullable=True),
    Column("properties", JSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

use_case_kpi_scores = Table(
    "use_case_kpi_scores",
    metadata,
    Column("app_id", BigId, primary_key=True, autoincrement=False),
    Column("use_case_id", String(64), primary_key=True),
    Column("kpi_name", String(64), primary_key=True),
    Column("kpi_type", String(16), nullable=True),
    Column("score", Float, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# --- rollups (reports read these, never the request log) ---------------------------------------------------
# End-to-end latency histogram of the hourly rollup: bucket i counts the events with
# LATENCY_BOUNDS_MS[i-1] <= latency < LATENCY_BOUNDS_MS[i] (``bisect_right``), the first from 0 ms, the last
# from 300 s up. Log-spaced: from 100 ms to 60 s neighbouring bounds are at most 1.67x apart (2x to 2.5x below and
# above). p50/p95 of any set of rollup rows come from the sum of their histograms (``reports.latency``). An
# event without a latency is in no bucket. Server default 0: rows from before migration 0009 hold no histogram.
LATENCY_BOUNDS_MS = (
    10, 25, 50, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000,
    3000, 5000, 7500, 10000, 15000, 20000, 30000, 45000, 60000, 120000, 300000,
)
ROLLUP_LATENCY_COLUMNS = (
    *(f"latency_lt_{bound}ms" for bound in LATENCY_BOUNDS_MS), f"latency_ge_{LATENCY_BOUNDS_MS[-1]}ms"
)

# A report's dimensions (but the application) -> their column, the same in the request log and the hourly rollups.
DIMENSION_COLUMNS: dict[str, str] = {
    "category": "category",
    "resource": "resource",
    "use_case": "use_case_name",
    "use_case_version": "use_case_version",
    "use_case_step": "use_case_step",
    "user": "user_id",
    "account": "account_name",
}



# The dimension columns' types (a rollup's key; the request log's columns of the same names may be NULL).
_DIMENSION_TYPES = {
    "category": 200, "resource": 300, "use_case_name": 64, "use_case_version": None, "use_case_step": 200,
    "user_id": 200, "account_name": 200,
}


def _key_column(name: str) -> Column:  # type: ignore[type-arg]
    length = _DIMENSION_TYPES[name]
    return Column(name, String(length) if length else Integer, primary_key=True, autoincrement=False)


def _dimension_rollup(name: str, dimensions: tuple[str, ...] = tuple(DIMENSION_COLUMNS.values())) -> Table:
    """A rollup by the dimension columns ``dimensions`` (every one of ``DIMENSION_COLUMNS`` by default), with the
    application and the ``bucket`` it starts at. Absent dimensions are stored as '' / 0 so that they can be part of
    the primary key."""
    return Table(
        name,
        metadata,
        Column("bucket", UTCDateTime, primary_key=True),
        Column("app_id", BigInteger, primary_key=True, autoincrement=False),
        *(_key_column(column) for column in dimensions),
        Column("requests", BigInteger, nullable=False),
        Column("failed", BigInteger, nullable=False),
        Column("blocked", BigInteger, nullable=False),
        Column("unpriced", BigInteger, nullable=False),
        Column("cost_input", Money, nullable=False),
        Column("cost_output", Money, nullable=False),
        Column("cost_total", Money, nullable=False),
        Column("units_input", BigInteger, nullable=False),
        Column("units_output", BigInteger, nullable=False),
        *(Column(column, BigInteger, nullable=False, server_default=text("0")) for column in ROLLUP_LATENCY_COLUMNS),
    )


rollup_hourly = _dimension_rollup("rollup_hourly")
"""By UTC hour: what the recorder adds each request to, and what reports read by hour and at a range's edges."""
rollup_daily = _dimension_rollup("rollup_daily")
"""The same sums by UTC day (``bucket`` at midnight, UTC): the recorder adds to both in one transaction and erasure
merges both, so a day's row is always the sum of its hours. Reports read it for the days that lie wholly inside
one of their buckets (``reports.service``), up to 24 times fewer rows than the hours (migration 0011)."""
# The hourly rollup's key (in column order) and its measures: what the recorder adds to, erasure merges and
# reports read. The latency histogram is the measures' tail (the recorder counts into it by position).
ROLLUP_HOURLY_KEYS = tuple(str(c.name) for c in rollup_hourly.columns if c.primary_key)  # plain str (orjson keys)
ROLLUP_HOURLY_MEASURES = tuple(str(c.name) for c in rollup_hourly.columns if not c.primary_key)
assert ROLLUP_HOURLY_MEASURES[-len(ROLLUP_LATENCY_COLUMNS) :] == ROLLUP_LATENCY_COLUMNS

@dataclass(frozen=True)
class NarrowRollup:
    """The same sums as ``rollup_hourly`` / ``rollup_daily`` by fewer dimensions: ``columns`` (in key order, after
    ``bucket`` and ``app_id``). A report whose dimensions (and filters) are among them reads the narrow pair
    instead (``reports.service``): far fewer rows, where the full rollups hold about one row per request (every
    combination of user, account, use case and model is a group of its own). The recorder adds to every pair in one
    transaction; erasure merges them; migration 0013 made them from the full rollups."""

    columns: tuple[str, ...]
    hourly: Table
    daily: Table

    @property
    def keys(self) -> tuple[str, ...]:
        return ("bucket", "app_id", *self.columns)


rollup_app_hourly = _dimension_rollup("rollup_app_hourly", ())
rollup_app_daily = _dimension_rollup("rollup_app_daily", ())
rollup_user_hourly = _dimension_rollup("rollup_user_hourly", ("user_id",))
rollup_user_daily = _dimension_rollup("rollup_user_daily", ("user_id",))
NARROW_ROLLUPS = (
    # by application alone: the totals over time (a dashboard's charts)
    NarrowRollup((), rollup_app_hourly, rollup_app_daily),
    # by user: the largest breakdowns (a month by hour by user is every active user's every hour)
    NarrowRollup(("user_id",), rollup_user_hourly, rollup_user_daily),
)


def rollups_for(columns: set[str]) -> tuple[Table, Table]:
    """The (hourly, daily) rollups with the fewest rows that have every dimension column of ``columns``."""
    for narrow in NARROW_ROLLUPS:
        if columns <= set(narrow.columns):
            return narrow.hourly, narrow.daily
    return rollup_hourly, rollup_daily


rollup_limit_hourly = Table(
    "rollup_limit_hourly",
    metadata,
    Column("bucket", UTCDateTime, primary_key=True),
    Column("app_id", BigInteger, primary_key=True, autoincrement=False),
    Column("limit_pk", BigInteger, primary_key=True, autoincrement=False),
    Column("requests", BigInteger, nullable=False),
    Column("cost_total", Money, nullable=False),
)

rollup_property_hourly = Table(
    "rollup_property_hourly",
    metadata,
    Column("bucket", UTCDateTime, primary_key=True),
    Column("app_id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(200), primary_key=True),
    Column("value", String(500), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("cost_total", Money, nullable=False),
)

# --- retention (store/retention.py) -------------------------------------------------------------------------
# An application's own retention, in days (NULL: the server's default; 0: kept forever).
app_retention = Table(
    "app_retention",
    metadata,
    Column("app_id", BigId, ForeignKey("applications.id"), primary_key=True, autoincrement=False),
    Column("request_days", Integer, nullable=True),
    Column("payload_days", Integer, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Background work that one server process at a time does (the retention sweep): who holds it until when, and
# what its last run did.
maintenance_leases = Table(
    "maintenance_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", BigInteger, nullable=False),  # the holder's node id
    Column("expires_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("result", JSON, nullable=True),
)

# --- dashboard (web/) -------------------------------------------------------------------------------------
# People who sign in to the dashboard at ``/``: an email, an argon2 password hash and a role. Created with
# ``payi-server users create`` (the first admin at first start). They belong to one organisation.
dashboard_users = Table(
    "dashboard_users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", BigId, ForeignKey("organizations.id"), nullable=False),
    Column("email", String(254), nullable=False, unique=True),  # stored lower-case
    Column("password_hash", String(255), nullable=False),  # argon2id, PHC string
    Column("role", String(16), nullable=False),  # "admin" | "viewer"
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime, nullable=True),
    Column("disabled_at", UTCDateTime, nullable=True),
)

# Server-side sessions: the cookie holds a random token, the table only its SHA-256 (a copy of the table
# opens no session). Each session has its own CSRF synchronizer token and a hard expiry.
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", BigId, ForeignKey("dashboard_users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
    Column("last_seen_at", UTCDateTime, nullable=False),
)

# One-time messages of a session across a POST-redirect-GET (web/flash.py): shown by the next page that reads
# them, then deleted. A new key travels here sealed with the session's cookie token, which the server does not
# keep: a copy of the table reveals no key.
dashboard_flashes = Table(
    "dashboard_flashes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("session_id", BigId, ForeignKey("dashboard_sessions.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("sealed", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# --- brute-force throttle (auth/throttle.py) -------------------------------------------------------------------
# Failed attempts per source (a client address for API keys; an account and an address for dashboard sign-in)
# in a fixed window, shared by every server process. Rows are deleted once their window has ended.
auth_failures = Table(
    "auth_failures",
    metadata,
    Column("source", String(400), primary_key=True),
    Column("window_start", Float, nullable=False),  # seconds since 1970
    Column("failures", Integer, nullable=False),
)

# --- alerts (alerts/) ---------------------------------------------------------------------------------------------
# Webhook endpoints of an organisation: where limit state changes are sent, as generic JSON or a Slack message,
# signed with the endpoint's secret (HMAC-SHA256; the receiver holds the same secret, so it is stored as is).
alert_endpoints = Table(
    "alert_endpoints",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", BigId, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("format", String(16), nullable=False),  # "json" | "slack"
    Column("secret", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime, nullable=True),
)

# The state of each limit as alerts last saw it. A change is claimed by one process only: the update that moves
# ``version`` on carries the events, in the same transaction (exactly one event per transition).
alert_limit_states = Table(
    "alert_limit_states",
    metadata,
    Column("limit_pk", BigId, ForeignKey("limits.id", ondelete="CASCADE"), primary_key=True, autoincrement=False),
    Column("state", String(16), nullable=False),  # "ok" | "exceeded" | "overrun"
    Column("blocked", Boolean, nullable=False),  # the window has blocked a request
    Column("epoch", String(80), nullable=False),  # the window and the last reset the state belongs to
    Column("version", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One row per transition (and per "send test"), and one delivery per (event, endpoint), retried with backoff.
alert_events = Table(
    "alert_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org_id", BigId, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),  # "exceeded" | "overrun" | "blocked" | "reset" | "test"
    Column("payload", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", BigId, ForeignKey("alert_events.id", ondelete="CASCADE"), nullable=False),
    Column("endpoint_id", BigId, ForeignKey("alert_endpoints.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # "pending" | "sent" | "failed"
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False, index=True),
    Column("lease_until", UTCDateTime, nullable=True),  # the process sending it now, until then
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    UniqueConstraint("event_id", "endpoint_id"),
)
