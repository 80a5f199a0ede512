"""PostgreSQL time partitions of the request log: one partition per day of snowflake time.

``requests`` (by ``id``), ``request_limits``, ``request_payloads`` and ``request_keys`` (by ``request_id``) are
partitioned by RANGE of the request's snowflake id (``ids.py``: milliseconds since 2024-01-01, shifted left 22
bits), so a day's partition is ``[ms(midnight) << 22, ms(next midnight) << 22)`` and its name ends in
``_pYYYYMMDD``. Every table also has a ``_default`` partition (which should stay empty: a row lands there only when
no partition covers its id, that is when nobody created partitions for a week) and, on a database migrated from
an unpartitioned one, a ``_legacy`` partition holding every id below the cut-over (migration 0010).

Partitions are created ahead by the server, never by hand: at migration (``migrate``) and by the retention task
(``store/retention.py``), ``DAYS_AHEAD`` days past today. A whole day leaves by ``drop_day`` once every
application's retention has expired it. Functions take a synchronous connection (``AsyncConnection.run_sync``);
on SQLite, or a PostgreSQL database not yet migrated, they do nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ..ids import EPOCH_MS, NODE_BITS, SEQ_BITS

log = logging.getLogger("payi_server.partitions")

DAYS_AHEAD = 7
# An event is at most this much later than its id's time (``metering/meter.py`` ``MAX_FUTURE``; a test holds them
# equal): a day of ids holds events until this long after its end.
EVENT_LEAD = timedelta(minutes=5)
# The partitioned tables and their partition key: a request's rows of every table share its id's day.
TABLES = {
    "requests": "id",
    "request_limits": "request_id",
    "request_payloads": "request_id",
    "request_keys": "request_id",
}
_SHIFT = NODE_BITS + SEQ_BITS
_LOCK_ID = 7_270_002  # the advisory lock of partition creation (``migrate`` holds 7_270_001)
_NAME = re.compile(r"_(p\d{8}|default|legacy)$")
_BOUND = re.compile(r"FROM \((.+?)\) TO \((.+?)\)")


def id_at(at: datetime) -> int:
    """The first snowflake id of the millisecond ``at``: ids made at ``at`` or later are at least this."""
    return (int(at.timestamp() * 1000) - EPOCH_MS) << _SHIFT


def time_of(request_id: int) -> datetime:
    """When the snowflake id was made (to the millisecond)."""
    return datetime.fromtimestamp(((request_id >> _SHIFT) + EPOCH_MS) / 1000, UTC)


def day_range(day: date) -> tuple[int, int]:
    start = datetime.combine(day, time(), UTC)
    return id_at(start), id_at(start + timedelta(days=1))


def is_partition(name: str) -> bool:
    """A partition's table name (``requests_p20270115``, ``request_keys_default`` ...), not one of ``tables.py``."""
    match = _NAME.search(name)
    return match is not None and name[: match.start()] in TABLES


@dataclass(frozen=True)
class Partition:
    name: str
    low: int | None  # None: MINVALUE (the legacy partition)
    high: int | None  # None: MAXVALUE
    default: bool = False

    def overlaps(self, low: int, high: int) -> bool:
        return not self.default and (self.low is None or self.low < high) and (self.high is None or low < self.high)


def _bound(value: str) -> int | None:
    value = value.strip("'")
    return None if value in ("MINVALUE", "MAXVALUE") else int(value)


def partitioned(conn: Any) -> bool:
    """Whether the request log is partitioned here (PostgreSQL, migrated to 0010)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.execute(text("SELECT relkind::text FROM pg_class WHERE oid = to_regclass('requests')")).scalar()
    return bool(kind == "p")


def partitions(conn: Any, table: str) -> list[Partition]:
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:table) ORDER BY c.relname"
        ),
        {"table": table},
    ).all()
    out = []
    for name, bound in rows:
        if bound == "DEFAULT":
            out.append(Partition(name, None, None, default=True))
        elif (match := _BOUND.search(bound)) is not None:
            out.append(Partition(name, _bound(match.group(1)), _bound(match.group(2))))
    return out


def create_statements(table: str, name: str, bounds: str) -> list[str]:
    """``CREATE TABLE`` of one partition (``bounds``: ``FOR VALUES ...`` or ``DEFAULT``), with the key table's
    unique index, which a table partitioned by id cannot have on the parent."""
    statements = [f"CREATE TABLE {name} PARTITION OF {table} {bounds}"]
    if table == "request_keys":
        statements.append(f"CREATE UNIQUE INDEX uq_{name}_key ON {name} (app_id, category, provider_response_id)")
    return statements


def ensure_days(conn: Any, today: date, days_ahead: int = DAYS_AHEAD, lock_timeout_ms: int = 2000) -> list[str]:
    """Create each table's partitions for ``today`` and the ``days_ahead`` next days (those not covered yet) and
    its DEFAULT partition, in the caller's transaction; the names created. Rows of those days found in DEFAULT
    move to their new partition.

    Creating a partition takes its parent's exclusive lock (for milliseconds, but it queues behind a long read of
    the log, and the recorder's inserts would queue behind it): a partition whose lock is not had within
    ``lock_timeout_ms`` is left, with that table's later days, for the next call (they are made days ahead).
    Concurrent callers (the migration of a starting server, another's retention sweep) take turns on an advisory
    lock."""
    if not partitioned(conn):
        return []
    conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
    created = []
    for table, key in TABLES.items():
        existing = partitions(conn, table)
        wanted: list[tuple[str, tuple[int, int] | None]] = []  # (name, its id range; None: DEFAULT)
        if not any(p.default for p in existing):
            wanted.append((f"{table}_default", None))
        for n in range(days_ahead + 1):
            day = today + timedelta(days=n)
            span = day_range(day)
            if not any(p.overlaps(*span) for p in existing):
                wanted.append((f"{table}_p{day:%Y%m%d}", span))
        for name, span_or_default in wanted:
            savepoint = conn.begin_nested()
            try:
                conn.execute(text(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}"))
                if span_or_default is None:
                    for statement in create_statements(table, name, "DEFAULT"):
                        conn.execute(text(statement))
                else:
                    _create_day(conn, table, key, name, *span_or_default)
                savepoint.commit()
            except DBAPIError as exc:
                savepoint.rollback()
                if not _lock_timeout(exc):
                    raise
                log.warning("request log: partition %s and the next not created this time (its table is busy)", name)
                break  # the table's other days would wait as long: next time
            created.append(name)
    conn.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
    if created:
        log.info("request log: created partitions %s", ", ".join(created))
    return created


def _create_day(conn: Any, table: str, key: str, name: str, low: int, high: int) -> None:
    """Rows of the day already in DEFAULT (the task fell behind) are moved out first: PostgreSQL refuses to create
    a partition for rows the DEFAULT partition holds."""
    in_range = f"{key} >= {low} AND {key} < {high}"
    stray = conn.execute(text(f"SELECT 1 FROM {table}_default WHERE {in_range} LIMIT 1")).first() is not None
    if stray:
        conn.execute(text(f"CREATE TEMPORARY TABLE moving_rows (LIKE {table}) ON COMMIT DROP"))
        conn.execute(text(
            f"WITH d AS (DELETE FROM {table}_default WHERE {in_range} RETURNING *) "
            "INSERT INTO moving_rows SELECT * FROM d"
        ))
    for statement in create_statements(table, name, f"FOR VALUES FROM ({low}) TO ({high})"):
        conn.execute(text(statement))
    if stray:
        moved = conn.execute(text(f"INSERT INTO {table} SELECT * FROM moving_rows")).rowcount
        conn.execute(text("DROP TABLE moving_rows"))
        log.warning("request log: moved %s rows of %s out of %s_default", moved, name, table)


# Indexes added to a partitioned table after it held rows (a migration makes the partitioned index only, ``ON
# ONLY``; ``complete_indexes`` builds each partition's): name -> (table, columns).
LATE_INDEXES = {"ix_requests_app_id_cost_total": ("requests", "app_id, cost_total")}
_BUILD_LOCK_ID = 7_270_003


def complete_indexes(conn: Any) -> list[str]:
    """Build what the partitioned indexes of ``LATE_INDEXES`` still lack, on an ``AUTOCOMMIT`` connection, while
    the recorder writes: each partition without its index gets it ``CREATE INDEX CONCURRENTLY`` (an invalid one
    left by an interrupted build is dropped first) and attached; once every partition's is attached, PostgreSQL
    marks the partitioned index valid. Partitions created meanwhile get theirs with their table. One process at a
    time (an advisory lock; another finds it taken and leaves the work to it). Returns the partitions built."""
    if not partitioned(conn):
        return []
    wanted = {
        name: LATE_INDEXES[name]
        for (name,) in conn.execute(
            text(
                "SELECT c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
                "WHERE NOT x.indisvalid AND c.relkind = 'I' AND c.relname = ANY(:names)"
            ),
            {"names": list(LATE_INDEXES)},
        ).all()
    }
    if not wanted or not conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": _BUILD_LOCK_ID}).scalar():
        return []
    built = []
    try:
        for index, (table, columns) in wanted.items():
            for (partition,) in conn.execute(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = to_regclass(:table) ORDER BY c.relname"
                ),
                {"table": table},
            ).all():
                if _has_attached(conn, index, partition):
                    continue
                name = f"{partition}_{index.removeprefix(f'ix_{table}_')}"
                valid = conn.execute(
                    text("SELECT x.indisvalid FROM pg_index x WHERE x.indexrelid = to_regclass(:name)"),
                    {"name": name},
                ).scalar()
                if valid is False:  # an interrupted build
                    conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))
                conn.execute(text(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {partition} ({columns})"))
                conn.execute(text(f"ALTER INDEX {index} ATTACH PARTITION {name}"))
                built.append(partition)
            log.info("request log: index %s built on %s partitions", index, len(built))
    finally:
        conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _BUILD_LOCK_ID})
    return built


def _has_attached(conn: Any, index: str, partition: str) -> bool:
    return bool(
        conn.execute(
            text(
                "SELECT count(*) FROM pg_inherits i JOIN pg_index x ON x.indexrelid = i.inhrelid "
                "WHERE i.inhparent = to_regclass(:index) AND x.indrelid = to_regclass(:partition)"
            ),
            {"index": index, "partition": partition},
        ).scalar_one()
    )


def default_rows(conn: Any) -> int:
    """Rows in the DEFAULT partition of ``requests`` (0 when all is well; -1 where the log is not partitioned)."""
    if not partitioned(conn):
        return -1
    return int(conn.execute(text("SELECT count(*) FROM requests_default")).scalar_one())


def expired_days(conn: Any, before: int) -> list[Partition]:
    """The partitions of ``requests`` (legacy included) that hold only ids below ``before``, oldest first."""
    if not partitioned(conn):
        return []
    found = [p for p in partitions(conn, "requests") if not p.default and p.high is not None and p.high <= before]
    return sorted(found, key=lambda p: p.high or 0)


DROP_DAYS_AT_ONCE = 31
"""Days ``drop_days`` drops in one statement at most (four tables each: 124 table locks, well within PostgreSQL's
shared lock table)."""


def drop_day(conn: Any, day: Partition, lock_timeout_ms: int = 2000) -> dict[str, int] | None:
    """``drop_days`` of one day: the rows it held, or None when it was not dropped this time."""
    dropped = drop_days(conn, [day], lock_timeout_ms)
    return dropped[0][1] if dropped else None


def drop_days(
    conn: Any, days: list[Partition], lock_timeout_ms: int = 2000
) -> list[tuple[Partition, dict[str, int]]]:
    """Drop these days (or the legacy part) of every table in one statement, in the caller's transaction; each day
    with the rows it held (``requests``, ``payloads``). None is dropped when a lock was not had within
    ``lock_timeout_ms`` (a long read of the log holds its tables: the next sweep tries again, and meanwhile the
    batch deletes take the rows): then the answer is empty.

    Dropping a partition locks its parent for a moment (``DETACH ... CONCURRENTLY`` is refused on a table with a
    DEFAULT partition); the lock timeout keeps the recorder from queueing behind a drop that waits. One statement
    for a month's days: the tables' partitions are listed once, the parents locked once, and one commit (a month
    was 31 transactions of about 65 ms each, mostly listing every partition again)."""
    if not days:
        return []
    listed = {table: [p for p in partitions(conn, table) if not p.default] for table in TABLES}
    names: list[str] = []
    counted: list[tuple[Partition, dict[str, int]]] = []
    for day in days:
        mine = {table: [p.name for p in found if (p.low, p.high) == (day.low, day.high)] for table, found in listed.items()}
        names += [name for found in mine.values() for name in found]
        rows = {}
        for kind, table in (("requests", "requests"), ("payloads", "request_payloads")):
            rows[kind] = sum(_rows(conn, name) for name in mine[table])
        counted.append((day, rows))
    if not names:
        return []
    savepoint = conn.begin_nested()
    try:
        conn.execute(text(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}"))
        conn.execute(text(f"DROP TABLE {', '.join(names)}"))
        savepoint.commit()
    except DBAPIError as exc:
        savepoint.rollback()
        if not _lock_timeout(exc):
            raise
        log.warning(
            "request log: partitions %s to %s not dropped this time (their tables are busy)",
            days[0].name, days[-1].name,
        )
        return []
    return counted


def _lock_timeout(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "55P03"  # lock_not_available


def _rows(conn: Any, name: str) -> int:
    """The partition's row count: PostgreSQL's statistics where ANALYZE (autovacuum) has counted it, which an old
    day's append-only partition has; an exact count otherwise. Counting a large day exactly would cost the sweep
    more than the drop itself."""
    estimate = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:n)"), {"n": name}).scalar()
    if estimate is not None and estimate >= 0:
        return int(estimate)
    return int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
