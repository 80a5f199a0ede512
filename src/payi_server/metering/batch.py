"""The steps of one group-commit batch, in one transaction (``BatchWriter.write``), and the rows they write.

1. the limits each request names are read (an unknown id refuses that request only; a proxied call, already
   answered, is recorded without it); those behind the calls' budget leases are known by their pks, read in step
   3 (one removed meanwhile runs the whole batch again, looking every limit up);
2. use cases named on the fly are created; an instance's own limit joins the request's limits;
3. the request rows are inserted (a duplicate ``(app, category, provider_response_id)`` is not); the limits known
   by their pks are read with them (one round trip less), on PostgreSQL locked first, in the same statement
   (limits, then request keys, then rollups, in every batch);
4. the rollups are summed (by hour and by day: of every dimension, then of the narrow ones' fewer; by hour of limit
   and of property), and the limits charged in the window of each event's time, their states counted;
5. one write sends the stored prompts, the rollups, and what settles the budget leases, writes the limits back and
   links each request's limit states: on PostgreSQL one statement, on SQLite one trip to the writer thread;
6. a duplicate answers with the original request's result.

The queue, the retries and what happens when the database is away are the recorder's (``metering.recorder``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete

from ..errors import ApiError, api_error
from ..limits.leases import LeaseBook, Settling
from ..limits.ledger import Ledger, StaleLimits, WriteBack
from ..store.changes import utcnow
from ..store.engine import Database
from ..store.tables import (
    LATENCY_BOUNDS_MS,
    NARROW_ROLLUPS,
    ROLLUP_HOURLY_KEYS,
    ROLLUP_HOURLY_MEASURES,
    ROLLUP_LATENCY_COLUMNS,
    limits,
    rollup_daily,
    rollup_hourly,
    rollup_limit_hourly,
    rollup_property_hourly,
)
from ..store.bulk import BulkUpsert, Tail, driver, joined
from ..store.requestlog import PAYLOAD_TEXT_LIMITS, REQUEST_TEXT_LIMITS
from ..store.sqlite_bulk import SqliteInsert, conflict_clause
from ..store.sqlite_driver import trips
from ..store.upsert import insert_add
from ..usecases.implicit import KnownInstances, LimitFactory, UseCaseRef, ensure_use_cases
from .event import storable
from .pending import Pending
from .results import build_result


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _unit_totals(units: dict[str, dict[str, int]]) -> tuple[int, int]:
    tin = tout = 0
    for sides in units.values():
        tin += sides.get("input", 0) or 0
        tout += sides.get("output", 0) or 0
    return tin, tout


class BatchWriter:
    """Writes batches of priced events; built once per process (its statements too)."""

    def __init__(self, db: Database, *, leases: LeaseBook | None = None, make_limit: LimitFactory | None = None) -> None:
        self._db = db
        self.log = db.request_log
        self.statements = _Statements(db)
        self._leases = leases
        self._make_limit = make_limit
        self.known_instances = KnownInstances()

    async def write(self, batch: list[Pending]) -> list[dict[str, Any] | ApiError]:
        """Write ``batch`` in one transaction; one outcome per item (its ``xproxy_result``, or why it was refused).
        Raises when the transaction fails (the recorder then retries, or holds the batch for the database)."""
        # The limits behind the calls' budget leases are known by their pks: PostgreSQL need not look them up
        known = {
            (hold.lease.app_id, hold.lease.limit_id): hold.lease.pk
            for item in batch
            for hold in item.holds or ()
            if not hold.lease.deleted
        }
        try:
            return await self._write(batch, known)
        except StaleLimits:  # one of them was removed or replaced meanwhile: again, looking every limit up
            return await self._write(batch, {})

    async def _write(self, batch: list[Pending], known: dict[tuple[int, str], int]) -> list[dict[str, Any] | ApiError]:
        now = utcnow()
        outcomes: list[dict[str, Any] | ApiError | None] = [None] * len(batch)
        async with self._db.write() as conn:
            # PostgreSQL reads the limits' ids now (or takes those it knows) and locks their rows in step 5; SQLite,
            # whose writer holds the database from ``BEGIN IMMEDIATE``, reads the rows now
            ledger = Ledger(conn, self._db, now, known=known)

            # 1. limits named by each request (read now, locked in step 5); unknown ids reject that request only
            by_app: dict[int, set[str]] = defaultdict(set)
            for item in batch:
                by_app[item.app_id].update(item.event.attribution.limit_ids)
            missing: dict[int, set[str]] = {}
            for app_id in sorted(by_app):
                missing[app_id] = set(await ledger.load(app_id, sorted(by_app[app_id])))
            valid: list[int] = []
            for i, item in enumerate(batch):
                bad = [x for x in item.event.attribution.limit_ids if x in missing[item.app_id]]
                if bad and item.lenient_limits:
                    item.event.attribution.limit_ids = [
                        x for x in item.event.attribution.limit_ids if x not in missing[item.app_id]
                    ]
                    bad = []
                if bad:
                    outcomes[i] = api_error("invalid_limit_ids", "named", bad=", ".join(bad[:10]))
                else:
                    valid.append(i)

            # 2. use cases created on the fly; an instance's own limit joins the request's limits
            refs = [
                UseCaseRef(
                    app_id=batch[i].app_id,
                    name=batch[i].event.attribution.use_case_name or "",
                    use_case_id=batch[i].event.attribution.use_case_id or "",
                    version=batch[i].event.attribution.use_case_version,
                    properties=batch[i].event.attribution.use_case_properties,
                )
                for i in valid
                if batch[i].event.attribution.use_case_id and batch[i].event.attribution.use_case_name
            ]
            instance_limits = await ensure_use_cases(conn, self._db, refs, now, self._make_limit, self.known_instances)
            charged: dict[int, list[str]] = {}
            for i in valid:
                item = batch[i]
                ids = list(item.event.attribution.limit_ids)
                own = instance_limits.get((item.app_id, item.event.attribution.use_case_id or ""))
                if own and own not in ids:
                    await ledger.load(item.app_id, [own])
                    if ledger.pk(item.app_id, own) is not None:
                        ids.append(own)
                charged[i] = ids

            # 3. the request rows; a duplicate (app, category, provider_response_id) is not inserted. The limits
            # known by their pks are read (PostgreSQL: locked, first) with them: one round trip less
            rows = {i: request_values(batch[i], charged[i]) for i in valid}
            inserted: set[int] = set()
            lock = ledger.lock_query()
            locked = None
            if rows and lock is not None:
                new, locked = await self.log.insert_reading(conn, [rows[i] for i in valid], now, lock, limits)
                inserted.update(new)
            elif rows:
                inserted.update(await self.log.insert(conn, [rows[i] for i in valid], now))
            if locked is None:
                await ledger.lock()
            else:
                await ledger.locked(locked)

            # 4. rollups and stored prompts
            rollups: dict[tuple[Any, ...], list[Any]] = {}
            limit_rollups: dict[tuple[Any, ...], list[Any]] = {}
            property_rollups: dict[tuple[Any, ...], list[Any]] = {}
            duplicates = [i for i in valid if batch[i].request_id not in inserted]
            recorded = [i for i in valid if batch[i].request_id in inserted]
            for i in recorded:
                item = batch[i]
                hour = _rollup(rollups, property_rollups, item)
                named = item.blocked_states if item.blocked_states is not None else charged[i]
                if named:
                    cost = item.cost_total
                    for limit_id in named:
                        pk = ledger.pk(item.app_id, limit_id)
                        if pk is not None:
                            _add(limit_rollups, (hour, item.app_id, pk), [1, cost])
            payloads = [
                p for i in recorded if batch[i].store_payload and (p := _payload_values(batch[i])) is not None
            ]
            stored = self.log.payload_statement(payloads)
            if stored is None:
                await self.log.store_payloads(conn, payloads)

            # 5. the limits charged in the window of each event's time, and their states counted; the write that
            # settles the budget leases, writes the limits back and links each request's limit states goes with the
            # rollups (on PostgreSQL one statement, on SQLite one trip to the writer thread)
            settling = Settling(
                [
                    (hold, batch[i].cost_total if batch[i].request_id in inserted else Decimal(0))
                    for i in valid
                    for hold in batch[i].holds or ()
                ]
                if self._leases is not None
                else []
            )
            link_rows = []
            for i in recorded:
                item = batch[i]
                if item.blocked_states is not None:
                    states = dict(item.blocked_states)
                    if item.count_blocked:
                        ledger.count_blocked(
                            item.app_id,
                            [x for x in states if ledger.get(item.app_id, x) is not None],
                            {x for x, s in states.items() if s == "blocked"},
                        )
                else:
                    states, late = ledger.charge_current(
                        item.app_id,
                        charged[i],
                        item.cost_input,
                        item.cost_output,
                        at=item.event.event_timestamp,
                        failed=item.event.failed,
                    )
                    if late:  # events of finished windows (read the first time a window is seen)
                        states.update(
                            await ledger.charge_late(late, item.cost_input, item.cost_output, failed=item.event.failed)
                        )
                for limit_id, state in states.items():
                    row = ledger.get(item.app_id, limit_id)
                    if row is not None:
                        link_rows.append({"request_id": item.request_id, "limit_pk": row.pk, "state": state})
                outcomes[i] = (
                    build_result(rows[i], states)
                    if item.want_result
                    # what the recorder counts (``Metrics.recorded``): the id and the limits' states
                    else {"request_id": str(item.request_id), "limits": {k: {"state": v} for k, v in states.items()}}
                )
            joined = self.log.link_statement(link_rows)
            back = ledger.write_back(settling.wanted, also=[joined] if joined else [])
            written = await _write_rollups(
                conn, self.statements, rollups, limit_rollups, property_rollups,
                also=[stored] if stored else [], back=back,
            )
            settlements = settling.settled({} if back is None or written is None else back.held(written))
            await ledger.write_history()
            if joined is None:
                await self.log.link(conn, link_rows)

            # 6. duplicates answer with the original request's result
            if duplicates:
                keys = [(batch[i].app_id, batch[i].category, batch[i].event.provider_response_id or "") for i in duplicates]
                originals = await self.log.originals(conn, keys, now)
                for i in duplicates:
                    item = batch[i]
                    key = (item.app_id, item.category, item.event.provider_response_id or "")
                    original = originals.get(key)
                    outcomes[i] = (
                        build_result(original[0], original[1], duplicate=True)
                        if original is not None
                        else api_error("duplicate_request")
                    )
        # Committed: the leases' holds and amounts follow in memory, and the instances are known to exist.
        LeaseBook.applied(settlements)
        self.known_instances.remember(refs, instance_limits)
        return [o if o is not None else api_error("unexpected_error", "batch") for o in outcomes]


def _storable(values: dict[str, Any], limits: dict[str, int | None]) -> dict[str, Any]:
    """Text as every database can store it: a NUL (PostgreSQL refuses it) becomes U+FFFD and over-long text is
    cut to its column. A record of a call the provider already answered must never be refused for its text (it
    would be lost, and its cost never charged)."""
    for name, limit in limits.items():
        value = values.get(name)
        # the common case (short, no NUL) without a call: this runs for every text column of every record
        if isinstance(value, str) and ("\x00" in value or (limit is not None and len(value) > limit)):
            values[name] = storable(value, limit)
    return values


def _result_fields(item: Pending) -> dict[str, Any]:
    """The columns ``results.build_result`` reads."""
    attr = item.event.attribution
    return {
        "id": item.request_id,
        "resource_id": item.resource_id,
        "cost_input": item.cost_input,
        "cost_output": item.cost_output,
        "cost_total": item.cost_total,
        "unknown_units": item.unknown_units or None,
        "use_case_id": attr.use_case_id,
        "use_case_name": attr.use_case_name,
        "use_case_version": attr.use_case_version,
        "use_case_step": attr.use_case_step,
        "user_id": attr.user_id,
        "account_name": attr.account_name,
        "request_tags": attr.request_tags,
        "result": {"warnings": item.warnings} if item.warnings else None,
    }


def result_values(item: Pending) -> dict[str, Any]:
    """What a call's ``xproxy_result`` is built from, as its row will hold it (text cut to its columns), without
    building the whole row: the proxy answers with it before the recorder builds the row."""
    return _storable(_result_fields(item), REQUEST_TEXT_LIMITS)


def request_values(item: Pending, limit_ids: list[str]) -> dict[str, Any]:
    event, attr = item.event, item.event.attribution
    return _storable({
        **_result_fields(item),
        "app_id": item.app_id,
        "source": event.source,
        "category": item.category,
        "resource": item.resource,
        "event_timestamp": event.event_timestamp,
        "ingest_timestamp": item.ingest_timestamp,
        "units": event.units,
        "unpriced": bool(item.unknown_units) or item.resource_id is None,
        "limit_ids": limit_ids or None,
        "properties": {k: v for k, v in attr.properties.items() if v is not None} if attr.properties else None,
        "http_status_code": event.http_status_code,
        "failed": event.failed,
        "blocked": event.blocked,
        "end_to_end_latency_ms": event.end_to_end_latency_ms,
        "time_to_first_token_ms": event.time_to_first_token_ms,
        "time_to_first_completion_token_ms": event.time_to_first_completion_token_ms,
        "provider_response_id": event.provider_response_id,
        "provider_uri": event.provider_uri,
        "resource_scope": attr.resource_scope,
        "price_as_category": attr.price_as_category,
        "price_as_resource": attr.price_as_resource,
    }, REQUEST_TEXT_LIMITS)


def _payload_values(item: Pending) -> dict[str, Any] | None:
    payload = item.event.payload
    if payload is None or payload.is_empty():
        return None
    return _storable({
        "request_id": item.request_id,
        "app_id": item.app_id,
        "event_timestamp": item.event.event_timestamp,
        "provider_request_json": payload.provider_request_json,
        "provider_request_reasoning_json": payload.provider_request_reasoning_json,
        "provider_response_json": payload.provider_response_json,
        "provider_request_headers": payload.provider_request_headers,
        "provider_response_headers": payload.provider_response_headers,
        "provider_response_function_calls": payload.provider_response_function_calls,
    }, PAYLOAD_TEXT_LIMITS)


def _add(table: dict[tuple[Any, ...], list[Any]], key: tuple[Any, ...], values: list[Any]) -> None:
    current = table.get(key)
    if current is None:
        table[key] = list(values)
    else:
        for n, value in enumerate(values):
            current[n] += value


def _rollup(
    rollups: dict[tuple[Any, ...], list[Any]], properties: dict[tuple[Any, ...], list[Any]], item: Pending
) -> datetime:
    """Add ``item`` to the batch's rollups by hour (and by property); returns its hour."""
    event, attr = item.event, item.event.attribution
    bucket = _hour(event.event_timestamp)
    key = (
        bucket,
        item.app_id,
        item.category,
        item.resource,
        attr.use_case_name or "",
        attr.use_case_version or 0,
        attr.use_case_step or "",
        attr.user_id or "",
        attr.account_name or "",
    )
    tin, tout = _unit_totals(event.units)
    unpriced = 1 if (item.unknown_units or item.resource_id is None) else 0
    values: list[Any] = [
        1, int(event.failed), int(event.blocked), unpriced, item.cost_input, item.cost_output, item.cost_total, tin, tout
    ]
    current = rollups.get(key)
    if current is None:
        rollups[key] = current = values + _NO_LATENCY
    else:
        for n, value in enumerate(values):
            current[n] += value
    latency = event.end_to_end_latency_ms
    if latency is not None:  # one bucket of the histogram (the measures' tail), none without a latency
        current[_LATENCY_AT + bisect_right(LATENCY_BOUNDS_MS, latency)] += 1
    for name, value in (attr.properties or {}).items():
        if value is not None:
            _add(properties, (bucket, item.app_id, name[:200], value[:500]), [1, item.cost_total])
    return bucket


_ROLLUP_KEYS = ROLLUP_HOURLY_KEYS
_LIMIT_KEYS = ("bucket", "app_id", "limit_pk")
_PROPERTY_KEYS = ("bucket", "app_id", "name", "value")
_SUMS = ("requests", "cost_total")
_ROLLUP_COLUMNS = ROLLUP_HOURLY_MEASURES
_LATENCY_AT = len(ROLLUP_HOURLY_MEASURES) - len(ROLLUP_LATENCY_COLUMNS)
_NO_LATENCY = [0] * len(ROLLUP_LATENCY_COLUMNS)


async def move_property_rollups(
    conn: Any, db: Database, row: dict[str, Any], old: dict[str, str], new: dict[str, str]
) -> None:
    """A request's properties changed after it was recorded: move its count and cost between the property rollups,
    so reports by property agree with the request log."""
    bucket = _hour(row["event_timestamp"])
    deltas: dict[tuple[Any, ...], list[Any]] = {}
    for name in set(old) | set(new):
        if old.get(name) == new.get(name):
            continue
        if name in old:
            _add(deltas, (bucket, row["app_id"], name[:200], old[name][:500]), [-1, -row["cost_total"]])
        if name in new:
            _add(deltas, (bucket, row["app_id"], name[:200], new[name][:500]), [1, row["cost_total"]])
    if deltas:
        await conn.execute(
            insert_add(db, rollup_property_hourly, _PROPERTY_KEYS, _SUMS),
            [
                {"bucket": k[0], "app_id": k[1], "name": k[2], "value": k[3], "requests": v[0], "cost_total": v[1]}
                for k, v in sorted(deltas.items(), key=lambda kv: kv[0])
            ],
        )
        # A value no request has any more is no group in a report.
        await conn.execute(
            delete(rollup_property_hourly).where(
                rollup_property_hourly.c.bucket == bucket,
                rollup_property_hourly.c.app_id == row["app_id"],
                rollup_property_hourly.c.requests <= 0,
            )
        )


class _Statements:
    """The recorder's rollup statements, built once per process (not per batch). None goes through SQLAlchemy: each
    statement there cost the worker about 0.35 ms of CPU before its rows. A batch's rollups go together: on
    PostgreSQL in one statement (``store.bulk.joined``: each table's upsert fed by one JSON parameter), on SQLite in
    one trip to the connection's thread (``store.sqlite_driver.trips``); both compile their ``ON CONFLICT`` clauses
    from ``insert_add``. (The request log's are the log's: ``store.requestlog``.) One round trip instead of one per
    table: with the narrow rollups a batch writes up to eight. PostgreSQL keeps the joined statement prepared (the
    engine's ``MAX_CACHED_STATEMENT``): parsed and planned afresh, it cost 5 ms of the database's CPU a batch."""

    def __init__(self, db: Database) -> None:
        tables = {
            "hourly": (rollup_hourly, _ROLLUP_KEYS, _ROLLUP_COLUMNS),
            "daily": (rollup_daily, _ROLLUP_KEYS, _ROLLUP_COLUMNS),
            **{
                table.name: (table, narrow.keys, _ROLLUP_COLUMNS)
                for narrow in NARROW_ROLLUPS
                for table in (narrow.hourly, narrow.daily)
            },
            "limits": (rollup_limit_hourly, _LIMIT_KEYS, _SUMS),
            "properties": (rollup_property_hourly, _PROPERTY_KEYS, _SUMS),
        }
        self._sqlite = db.is_sqlite
        self.sqlite: dict[str, SqliteInsert] = {}
        self.pg: dict[str, BulkUpsert] = {}
        self._joined: dict[tuple[tuple[str, ...], tuple[str, ...], Tail | None], str] = {}
        if db.is_sqlite:
            dialect = db.engine.dialect
            self.sqlite = {
                name: SqliteInsert(
                    table, dialect, columns=[*keys, *add],
                    tail=conflict_clause(insert_add(db, table, keys, add), dialect),
                )
                for name, (table, keys, add) in tables.items()
            }
        else:
            self.pg = {name: BulkUpsert(table, keys, add) for name, (table, keys, add) in tables.items()}

    async def write(
        self,
        conn: Any,
        tables: list[tuple[str, list[dict[str, Any]]]],
        *,
        also: Sequence[tuple[str, Any]] = (),
        back: WriteBack | None = None,
    ) -> list[Any] | None:
        """Add each table's rows (``(name, rows)``, in the order given) in the batch's transaction, after ``also``
        (statements of the request log's: ``(sql, parameters)``, on PostgreSQL one parameter each) and with the
        limits' write-back (``back``), whose rows are returned for its ``held`` (``None`` without one). On
        PostgreSQL one statement (``store.bulk.joined``; the write-back's tail runs first), on SQLite one trip."""
        if not tables and not also:
            return None if back is None else await back.send(conn)
        if self._sqlite:
            statements = [(sql, parameters, False) for sql, parameters in also]
            for name, rows in tables:
                statement = self.sqlite[name].statement(rows)
                if statement is None:  # more rows than one statement takes
                    await self.sqlite[name].run(conn, rows)
                else:
                    statements.append((*statement, False))
            if back is not None:
                return (await trips(conn, [*statements, *back.statements]))[len(statements):]
            if statements:
                await trips(conn, statements)
            return None
        names = tuple(name for name, _ in tables)
        sqls = tuple(sql for sql, _ in also)
        tail = None if back is None else back.tail
        key = (sqls, names, tail)
        sql = self._joined.get(key)
        if sql is None:
            sql = self._joined[key] = joined([*sqls, *(self.pg[name].sql for name in names)], tail=tail)
        arguments = [*(a for _, a in also), *(self.pg[name].payload(rows) for name, rows in tables)]
        if back is None:
            await (await driver(conn)).execute(sql, *arguments)
            return None
        return list(await (await driver(conn)).fetch(sql, *arguments, *back.arguments))


def _by_day(hourly: dict[tuple[Any, ...], list[Any]]) -> dict[tuple[Any, ...], list[Any]]:
    """The hourly rollup rows of a batch summed by UTC day (the key's first part)."""
    daily: dict[tuple[Any, ...], list[Any]] = {}
    for key, values in hourly.items():
        _add(daily, (key[0].astimezone(UTC).replace(hour=0), *key[1:]), values)
    return daily


# Each narrow rollup's key as positions in the full rollup's key.
_NARROW_AT = [tuple(_ROLLUP_KEYS.index(k) for k in narrow.keys) for narrow in NARROW_ROLLUPS]


def _narrow(rows: dict[tuple[Any, ...], list[Any]], at: tuple[int, ...]) -> dict[tuple[Any, ...], list[Any]]:
    """Full rollup rows summed by the key parts at ``at``."""
    out: dict[tuple[Any, ...], list[Any]] = {}
    for key, values in rows.items():
        _add(out, tuple(key[i] for i in at), values)
    return out


async def _write_rollups(
    conn: Any,
    statements: _Statements,
    rollups: dict[tuple[Any, ...], list[Any]],
    limit_rollups: dict[tuple[Any, ...], list[Any]],
    property_rollups: dict[tuple[Any, ...], list[Any]],
    *,
    also: Sequence[tuple[str, Any]] = (),
    back: WriteBack | None = None,
) -> list[Any] | None:
    # Sorted keys: concurrent batches in several processes take row locks in the same order (no deadlock); the
    # tables in the same order too (erasure's: hourly, then the narrow hourly; daily, then the narrow daily).
    daily = _by_day(rollups)
    narrow = []
    for rollup, at in zip(NARROW_ROLLUPS, _NARROW_AT, strict=True):
        narrow.append((rollup.hourly.name, _narrow(rollups, at), rollup.keys, _ROLLUP_COLUMNS))
        narrow.append((rollup.daily.name, _narrow(daily, at), rollup.keys, _ROLLUP_COLUMNS))
    writes = []
    for name, table, keys, columns in (
        ("hourly", rollups, _ROLLUP_KEYS, _ROLLUP_COLUMNS),
        ("daily", daily, _ROLLUP_KEYS, _ROLLUP_COLUMNS),
        *narrow,
        ("limits", limit_rollups, _LIMIT_KEYS, _SUMS),
        ("properties", property_rollups, _PROPERTY_KEYS, _SUMS),
    ):
        if table:
            writes.append((name, [
                {**dict(zip(keys, key, strict=True)), **dict(zip(columns, values, strict=True))}
                for key, values in sorted(table.items(), key=lambda kv: kv[0])
            ]))
    return await statements.write(conn, writes, also=also, back=back)
