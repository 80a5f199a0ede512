"""Charging limits when requests are recorded (the recorder's group commit).

``Ledger`` loads the batch's limit rows locked (``SELECT ... FOR NO KEY UPDATE`` on PostgreSQL, sent with the
request rows; SQLite's single writer with ``BEGIN IMMEDIATE``), rolls a finished periodic window into history, adds
each request's real cost, counts its state, and writes each row back once per batch (with the rollups), with what
the requests' budget leases gave up (``limits.leases.Settling``) taken off the leases' rows and off the limit's
``reserved``. Admission before a proxied call happens in memory, in ``limits.leases``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
import copy
import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update

from ..store.bulk import FIRST_PARAMETER, BulkInsert, Tail, decoded, driver
from ..store.engine import Database
from ..store.sqlite_driver import bound, read, rows_read, select_rows, select_sql, trip, trips
from ..store.tables import limit_history, limit_reservations, limits
from .model import STATES, ZERO, is_stale, state_after, totals_view, window_start


# A batch's statements on limits, sent to the driver (``store.bulk``, ``store.sqlite_driver``): each through
# SQLAlchemy cost the worker three (PostgreSQL) to seven (SQLite) times the CPU.
_PG_LOAD_IDS = "SELECT id, limit_id FROM limits WHERE app_id = $1 AND limit_id = ANY($2::text[]) AND deleted_at IS NULL"
_PG_LOCK = (
    f"SELECT {', '.join(c.name for c in limits.columns)} FROM limits WHERE id = ANY($1::int8[]) ORDER BY id "
    "FOR NO KEY UPDATE"
)
_WRITTEN = ("spent_input", "spent_output", "spent_total", "reserved", *(f"count_{s}" for s in (*STATES, "total")))
_WRITE_BACK_ROWS = BulkInsert(limits, columns=["id", *_WRITTEN])  # the rows as one JSON parameter, $1
# PostgreSQL: ``WITH`` queries that take what the batch's costs use up off the lease rows (each at most what it
# holds; $2 their ids, $3 the amounts), write the limits back ($1) with their ``reserved`` lowered by what their
# rows gave up, and return what each row held (``c``). Run with the limits locked: nothing else moves those rows
# meanwhile. The batch sends them in its rollups' statement (``store.bulk.joined``'s tail).
_PG_WRITE_BACK = (
    "o AS (SELECT id, amount FROM limit_reservations WHERE id = ANY($2::int8[])), "
    "c AS (UPDATE limit_reservations AS r SET amount = r.amount - LEAST(u.used, o.amount) "
    "FROM unnest($2::int8[], $3::numeric[]) AS u(id, used) JOIN o ON o.id = u.id WHERE r.id = u.id "
    "RETURNING r.id, r.limit_pk, o.amount AS held, LEAST(u.used, o.amount) AS taken), "
    "w AS (UPDATE limits AS t SET "
    + ", ".join(f"{name} = v.{name}" for name in _WRITTEN if name != "reserved")
    + ", reserved = GREATEST(0, v.reserved - COALESCE(s.taken, 0)) "
    f"FROM ({_WRITE_BACK_ROWS.source}) AS v "
    "LEFT JOIN (SELECT limit_pk, sum(taken) AS taken FROM c GROUP BY limit_pk) AS s ON s.limit_pk = v.id "
    "WHERE t.id = v.id)"
)


@functools.lru_cache(maxsize=16)
def _pg_tail(also: tuple[str, ...]) -> Tail:
    """``_PG_WRITE_BACK`` with ``also`` (statements of one parameter, ``$1``: made ``$4`` and on), returning what
    each lease row held (``c`` runs first: the ``SELECT`` reads it)."""
    parts = "".join(f", a{n} AS ({FIRST_PARAMETER.sub(f'${n + 4}', part)})" for n, part in enumerate(also))
    return Tail(_PG_WRITE_BACK + parts, "SELECT id, held FROM c")


# SQLite (amounts are integers of 1e-10 USD): a limit's ``reserved`` goes down by what one of its lease rows gives up,
# then the row gives it up
_SQLITE_RELEASE = (
    "UPDATE limits SET reserved = MAX(0, reserved - MIN(?, COALESCE("
    "(SELECT amount FROM limit_reservations WHERE id = ?), 0))) WHERE id = ?"
)
_SQLITE_CONSUME = "UPDATE limit_reservations SET amount = amount - MIN(?, amount) WHERE id = ?"
_SQLITE_WRITE_BACK = f"UPDATE limits SET {', '.join(f'{name} = ?' for name in _WRITTEN)} WHERE id = ?"


@dataclass(slots=True)
class LimitRow:
    """A locked limit row and its running totals inside one transaction."""

    pk: int
    app_id: int
    limit_id: str
    name: str
    limit_type: str
    max: Decimal
    threshold: Decimal | None
    enforcement: str
    spent_input: Decimal
    spent_output: Decimal
    spent_total: Decimal
    reserved: Decimal
    counts: dict[str, int]
    raw: dict[str, Any]
    dirty: bool = False


def _row(raw: Any) -> LimitRow:
    data = dict(raw._mapping)
    return LimitRow(
        pk=data["id"],
        app_id=data["app_id"],
        limit_id=data["limit_id"],
        name=data["name"],
        limit_type=data["limit_type"],
        max=data["max"],
        threshold=data["threshold"],
        enforcement=data["enforcement"] or "default",
        spent_input=data["spent_input"],
        spent_output=data["spent_output"],
        spent_total=data["spent_total"],
        reserved=data["reserved"],
        counts={state: int(data[f"count_{state}"]) for state in (*STATES, "total")},
        raw=data,
    )


async def roll_window(conn: Any, raw: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Archive a periodic limit's finished window into ``limit_history`` and start the current one (row locked).

    Returns the row as it is after the roll (unchanged when the window is current). ``reserved`` carries over:
    calls in flight still hold their estimate.
    """
    if not is_stale(raw, now):
        return raw
    current = window_start(raw["period"], raw["timezone"], now)
    if raw["count_total"] or raw["spent_total"]:
        await conn.execute(
            insert(limit_history).values(
                limit_pk=raw["id"],
                limit_id=raw["limit_id"],
                name=raw["name"],
                limit_type=raw["limit_type"],
                max=raw["max"],
                window_start=raw["window_start"],
                reset_timestamp=current,
                totals=totals_view(raw),
                limit_tags=raw["limit_tags"],
            )
        )
    zeroed: dict[str, Any] = {"spent_input": ZERO, "spent_output": ZERO, "spent_total": ZERO}
    zeroed.update({f"count_{s}": 0 for s in (*STATES, "total")})
    await conn.execute(update(limits).where(limits.c.id == raw["id"]).values(**zeroed, window_start=current))
    return {**raw, **zeroed, "window_start": current}


class StaleLimits(Exception):
    """A limit the process knew by its pk was removed or replaced: the transaction must run again, reading the
    limits by their ids."""


class Ledger:
    """Limit rows of one transaction: load them locked, charge requests against them, write them back."""

    def __init__(
        self, conn: Any, db: Database, now: datetime, *, known: Mapping[tuple[int, str], int] | None = None
    ) -> None:
        self._conn = conn
        self._db = db
        self._now = now
        self._rows: dict[tuple[int, str], LimitRow] = {}
        self._pks: dict[tuple[int, str], int] = {}  # known by pk, until ``locked`` reads them
        # pks the process already knows (its budget leases'), taken without a read; ``locked`` checks them
        self._known = known or {}
        self._unchecked: set[tuple[int, str]] = set()
        # Finished windows charged by late events: (limit pk, window start) -> history row being updated.
        self._history: dict[tuple[int, datetime], dict[str, Any]] = {}

    async def load(self, app_id: int, limit_ids: Iterable[str]) -> list[str]:
        """Find the application's named limits; return the ids that do not exist (or are another app's). Those the
        process knows by their pks (its budget leases') are not read here: ``lock_query`` reads them, and ``locked``
        checks them. PostgreSQL: only the others' ids are read here (``pk``); ``lock_query`` (sent with the request
        rows) locks and reads the rows, before the batch writes anything else. SQLite: the others' rows are read
        here (the writer holds the whole database from ``BEGIN IMMEDIATE``), in one trip to the connection's thread."""
        named = list(dict.fromkeys(limit_ids))
        wanted = []
        for limit_id in named:
            key = (app_id, limit_id)
            if key in self._pks or key in self._rows:
                continue
            if key in self._known:
                self._pks[key] = self._known[key]
                self._unchecked.add(key)
            else:
                wanted.append(limit_id)
        if not self._db.is_sqlite:
            if wanted:
                for pk, limit_id in await (await driver(self._conn)).fetch(_PG_LOAD_IDS, app_id, wanted):
                    self._pks[(app_id, limit_id)] = pk
            return [i for i in named if (app_id, i) not in self._pks]
        if wanted:
            where = f"app_id = ? AND limit_id IN ({', '.join('?' * len(wanted))}) AND deleted_at IS NULL ORDER BY id"
            for raw in await select_rows(self._conn, limits, where, (app_id, *wanted)):
                data = await roll_window(self._conn, raw, self._now)
                row = _row(_Mapping(data))
                self._rows[(app_id, row.limit_id)] = row
        return [i for i in named if (app_id, i) not in self._rows and (app_id, i) not in self._pks]

    def pk(self, app_id: int, limit_id: str) -> int | None:
        """The id of a loaded limit (``None``: not loaded, or it does not exist)."""
        row = self._rows.get((app_id, limit_id))
        return row.pk if row is not None else self._pks.get((app_id, limit_id))

    def lock_query(self) -> tuple[str, list[int]] | None:
        """The query that reads the rows of the limits known so far by their pks: on PostgreSQL it locks them (in pk
        order, ``FOR NO KEY UPDATE``: foreign-key checks of other transactions do not wait for it; ``$1`` its
        parameter), on SQLite the writer holds the database already (``?`` each pk). For the batch to send with its
        request rows (``RequestLog.insert_reading``: on PostgreSQL ``store.bulk.reading_first``, on SQLite the same
        trip), then give its rows to ``locked``. ``None``: nothing to read."""
        pks = sorted({pk for key, pk in self._pks.items() if key not in self._rows})
        if not pks:
            return None
        if self._db.is_sqlite:
            return select_sql(limits, f"id IN ({', '.join('?' * len(pks))}) ORDER BY id"), pks
        return _PG_LOCK, pks

    async def lock(self) -> None:
        """``lock_query`` in a round trip of its own, then ``locked``."""
        query = self.lock_query()
        if query is None:
            return
        if self._db.is_sqlite:
            await self.locked(await trip(self._conn, *query))
        else:
            await self.locked(await (await driver(self._conn)).fetch(*query))

    async def locked(self, records: Iterable[Any]) -> None:
        """The rows ``lock_query`` read (as the driver gives them): a window that ended is rolled, and a limit known
        by its pk that was removed or replaced meanwhile raises ``StaleLimits``."""
        by_pk = {pk: key for key, pk in self._pks.items() if key not in self._rows}
        rows = rows_read(limits, records) if self._db.is_sqlite else [decoded(limits, r) for r in records]
        for record in sorted(rows, key=lambda r: r["id"]):
            key = by_pk[record["id"]]
            if key in self._unchecked and (
                record["deleted_at"] is not None or (record["app_id"], record["limit_id"]) != key
            ):
                raise StaleLimits(key)
            data = await roll_window(self._conn, record, self._now)
            self._rows[key] = _row(_Mapping(data))
        if missing := self._unchecked - self._rows.keys():
            raise StaleLimits(*sorted(missing))

    def get(self, app_id: int, limit_id: str) -> LimitRow | None:
        return self._rows.get((app_id, limit_id))

    def charge(
        self,
        app_id: int,
        limit_ids: Iterable[str],
        cost_input: Decimal,
        cost_output: Decimal,
        *,
        failed: bool,
    ) -> dict[str, str]:
        """Add one request's cost to each limit and return the state it leaves each one in."""
        states = {}
        total = cost_input + cost_output
        for limit_id in limit_ids:
            row = self._rows[(app_id, limit_id)]
            row.spent_input += cost_input
            row.spent_output += cost_output
            row.spent_total += total
            state = "failed" if failed else state_after(row.spent_total, row.max, row.threshold)
            row.counts[state] += 1
            row.counts["total"] += 1
            row.dirty = True
            states[limit_id] = state
        return states

    def charge_current(
        self,
        app_id: int,
        limit_ids: Iterable[str],
        cost_input: Decimal,
        cost_output: Decimal,
        *,
        at: datetime,
        failed: bool,
    ) -> tuple[dict[str, str], list[tuple[LimitRow, datetime]]]:
        """``charge`` by event time: a periodic limit counts an event in the window ``at`` falls in. An event of a
        finished window (ingested late, or a call admitted before a window boundary and recorded after it) is added
        to that window's history, never to the current window; reports, which bucket by event time, agree.

        This part does no I/O (the recorder's every call): the limits whose current window ``at`` falls in are charged
        (their states returned); the others come back with the finished window, for ``charge_late``."""
        current: list[str] = []
        late: list[tuple[LimitRow, datetime]] = []
        for limit_id in limit_ids:
            row = self._rows.get((app_id, limit_id))
            if row is None:  # removed since it was loaded (``lock`` did not find it): nothing left to charge
                continue
            start = row.raw.get("window_start")
            if row.raw.get("period") and start is not None:
                window = window_start(row.raw["period"], row.raw["timezone"], at)
                if window is not None and window < start:
                    late.append((row, window))
                    continue
            current.append(limit_id)
        return self.charge(app_id, current, cost_input, cost_output, failed=failed), late

    async def charge_late(
        self, late: list[tuple[LimitRow, datetime]], cost_input: Decimal, cost_output: Decimal, *, failed: bool
    ) -> dict[str, str]:
        """Charge each limit's finished window (``charge_current``'s rest); the state each is left in."""
        return {
            row.limit_id: await self._charge_window(row, window, cost_input, cost_output, failed=failed)
            for row, window in late
        }

    async def _charge_window(
        self, row: LimitRow, window: datetime, cost_input: Decimal, cost_output: Decimal, *, failed: bool
    ) -> str:
        entry = self._history.get((row.pk, window))
        if entry is None:
            found = (
                await self._conn.execute(
                    select(limit_history.c.id, limit_history.c.totals)
                    .where(limit_history.c.limit_pk == row.pk, limit_history.c.window_start == window)
                    .order_by(limit_history.c.id.desc())
                    .limit(1)
                )
            ).first()
            if found is not None:
                entry = {"id": found.id, "totals": copy.deepcopy(found.totals)}
            else:
                empty = {"spent_input": ZERO, "spent_output": ZERO, "spent_total": ZERO, "max": row.max,
                         **{f"count_{s}": 0 for s in (*STATES, "total")}}
                entry = {"id": None, "totals": totals_view(empty), "row": row}
            self._history[(row.pk, window)] = entry
        totals = entry["totals"]
        cost = totals["cost"]
        cost["input"]["base"] = float(Decimal(str(cost["input"]["base"])) + cost_input)
        cost["output"]["base"] = float(Decimal(str(cost["output"]["base"])) + cost_output)
        spent = Decimal(str(cost["total"]["base"])) + cost_input + cost_output
        cost["total"]["base"] = float(spent)
        cost["total"]["overrun_base"] = float(max(ZERO, spent - row.max))
        state = "failed" if failed else state_after(spent, row.max, row.threshold)
        totals["requests"][state] = int(totals["requests"].get(state, 0)) + 1
        totals["requests"]["total"] = int(totals["requests"].get("total", 0)) + 1
        entry["dirty"] = True
        return state

    def count_blocked(self, app_id: int, limit_ids: Iterable[str], blocking: set[str]) -> dict[str, str]:
        states = {}
        for limit_id in limit_ids:
            row = self._rows[(app_id, limit_id)]
            state = "blocked" if limit_id in blocking else "blocked_external"
            row.counts[state] += 1
            row.counts["total"] += 1
            row.dirty = True
            states[limit_id] = state
        return states

    async def flush(
        self, consume: Mapping[int, tuple[int, Decimal]] | None = None, *, also: Sequence[tuple[str, Any]] = ()
    ) -> dict[int, Decimal]:
        """``write_back`` sent on its own, then ``write_history``: what each lease row held before."""
        back = self.write_back(consume, also=also)
        held = {} if back is None else back.held(await back.send(self._conn))
        await self.write_history()
        return held

    def write_back(
        self, consume: Mapping[int, tuple[int, Decimal]] | None = None, *, also: Sequence[tuple[str, Any]] = ()
    ) -> WriteBack | None:
        """What writes the charged rows back, and takes ``consume`` (lease id -> (limit pk, amount)) off those lease
        rows, each at most what it holds, and off their limits' ``reserved`` (never below 0); ``None``: nothing to
        write. ``also``: statements sent with it (``RequestLog.link_statement``: ``(sql, parameters)``).
        PostgreSQL: ``WITH`` queries that the batch joins to its rollups' statement (``store.bulk.Tail``), ``also``
        among them (each an ``INSERT`` or ``UPDATE`` whose one parameter is ``$1``); SQLite: statements for the
        rollups' trip to the connection's thread. Its ``held``, given their rows: what each lease row held before (a
        row that is gone is absent). Then ``write_history``."""
        consume = consume or {}
        by_pk = {row.pk: row for row in self._rows.values()}
        for pk, _ in consume.values():  # a limit whose leases give something up is written back, charged or not
            if (row := by_pk.get(pk)) is not None:
                row.dirty = True
        written = []
        for row in sorted(self._rows.values(), key=lambda r: r.pk):
            if not row.dirty:
                continue
            values: dict[str, Any] = {
                "spent_input": row.spent_input,
                "spent_output": row.spent_output,
                "spent_total": row.spent_total,
                "reserved": row.reserved,
            }
            values.update({f"count_{state}": n for state, n in row.counts.items()})
            written.append({"id": row.pk, **values})
            row.dirty = False
        if not (written or consume or also):
            return None
        if self._db.is_sqlite:
            return _sqlite_write_back(written, consume, by_pk, also)
        ids = sorted(consume)
        return WriteBack(
            tail=_pg_tail(tuple(part for part, _ in also)),
            arguments=[_WRITE_BACK_ROWS.payload(written), ids, [consume[i][1] for i in ids], *(a for _, a in also)],
        )

    async def write_history(self) -> None:
        """The finished windows that late events charged (``charge_late``), written."""
        for (pk, window), entry in sorted(self._history.items(), key=lambda kv: kv[0]):
            if not entry.pop("dirty", False):
                continue
            if entry["id"] is not None:
                await self._conn.execute(
                    update(limit_history).where(limit_history.c.id == entry["id"]).values(totals=entry["totals"])
                )
                continue
            row = entry["row"]
            entry["id"] = (
                await self._conn.execute(
                    insert(limit_history)
                    .values(
                        limit_pk=pk, limit_id=row.limit_id, name=row.name, limit_type=row.limit_type, max=row.max,
                        window_start=window, reset_timestamp=_next_window(row.raw, window),
                        totals=entry["totals"], limit_tags=row.raw.get("limit_tags"),
                    )
                    .returning(limit_history.c.id)
                )
            ).scalar_one()


@dataclass(slots=True)
class WriteBack:
    """A ledger's write (``Ledger.write_back``): on PostgreSQL ``tail`` and its parameters (``arguments``), on
    SQLite ``statements`` (``(sql, parameters, many)``, for ``store.sqlite_driver.trips``; ``reads``: the first
    reads what the lease rows hold)."""

    tail: Tail | None = None
    arguments: list[Any] = field(default_factory=list)
    statements: list[tuple[str, Any, bool]] = field(default_factory=list)
    reads: bool = False

    async def send(self, conn: Any) -> list[Any]:
        """On its own, in a round trip (a trip) of its own: its rows, for ``held``."""
        if self.tail is not None:
            return list(await (await driver(conn)).fetch(f"WITH {self.tail.ctes} {self.tail.select}", *self.arguments))
        return await trips(conn, self.statements)

    def held(self, rows: Sequence[Any]) -> dict[int, Decimal]:
        """What each lease row held before, from the rows of ``tail``'s ``SELECT`` (PostgreSQL) or of each of
        ``statements`` (SQLite)."""
        if self.tail is not None:
            return {r["id"]: r["held"] for r in rows}
        return {i: read(limit_reservations, "amount", amount) for i, amount in rows[0]} if self.reads else {}


def _sqlite_write_back(
    written: list[dict[str, Any]], consume: Mapping[int, tuple[int, Decimal]], by_pk: dict[int, LimitRow],
    also: Sequence[tuple[str, Any]],
) -> WriteBack:
    """SQLite: what the lease rows hold, the limits written back, each limit's ``reserved`` lowered by what its rows
    give up (at most what each holds, read before the next statement takes it), the lease rows' amounts, then the
    statements of ``also``."""
    ids = sorted(consume)
    statements: list[tuple[str, Any, bool]] = []
    if ids:
        statements.append(
            (f"SELECT id, amount FROM limit_reservations WHERE id IN ({', '.join('?' * len(ids))})", ids, False)
        )
    if written:
        statements.append((
            _SQLITE_WRITE_BACK,
            [[bound(limits, name, values[name]) for name in (*_WRITTEN, "id")] for values in written],
            True,
        ))
    if ids:
        used = {i: bound(limit_reservations, "amount", consume[i][1]) for i in ids}
        statements.append((_SQLITE_RELEASE, [(used[i], i, consume[i][0]) for i in ids if consume[i][0] in by_pk], True))
        statements.append((_SQLITE_CONSUME, [(used[i], i) for i in ids], True))
    statements.extend((sql, parameters, False) for sql, parameters in also)
    return WriteBack(statements=statements, reads=bool(ids))


def _next_window(raw: dict[str, Any], window: datetime) -> datetime | None:
    """Start of the window after ``window`` (past any DST change or month length)."""
    ahead = {"day": timedelta(hours=36), "week": timedelta(days=8), "month": timedelta(days=32)}[raw["period"]]
    return window_start(raw["period"], raw["timezone"], window + ahead)


class _Mapping:
    """Adapter so ``_row`` can read a plain dict like a result row."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._mapping = data
