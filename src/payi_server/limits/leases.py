"""Budget leases: block limits checked in memory, exact across processes.

Each server process holds, per hot block limit, a **lease**: a slice of the limit's remaining budget granted to it
in one short transaction (the limit row locked), recorded as a row of ``limit_reservations`` (owner, amount,
expiry) and counted in the limit's ``reserved``. A proxied call is admitted from the lease in memory: its estimate
(an upper bound of its cost) becomes a **hold** on the lease, with no I/O when the lease has room. The recorder's
group commit settles real costs in one statement per lease per batch: ``spent`` grows by the cost, the lease and
``reserved`` shrink by it, and the hold's rest returns to the lease. So, with ``granted`` = the limit's
``reserved``:

- strict: ``spent + granted <= max`` at every commit, and a call is admitted only if its hold fits in the lease,
  so spend never passes ``max`` while holds are upper bounds;
- default (Pay-i's rule, "admit while spent < max"): a call is admitted while its process's lease has any room,
  so spend passes ``max`` by at most the calls in flight;
- money is conserved: a lease returned (clean stop, idle, limit over its max) or expired (its process died and
  stopped renewing it) gives its rest back to ``reserved``.

Slices adapt: a refill asks for three seconds of the process's recent hold rate (at least a few calls' holds), or
four times as long as a grant recently took when that is longer (a grant waiting for SQLite's one writer behind a
long group commit), capped by a quarter of what is left, so near ``max`` slices shrink to single calls and processes share the rest.
A background refill starts when a lease runs low; a call that does not fit waits for one refill, then is refused.

Periodic windows: a lease outlives a window roll (``reserved`` carries over), which is conservative: what the
lease still holds counts against the new window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Context, Decimal
from typing import Any, TypeVar

from sqlalchemy import delete, insert, select, update

from ..ids import IdGenerator
from ..store.changes import utcnow
from ..store.engine import Database
from ..store.tables import limit_reservations, limits
from .ledger import roll_window
from .model import ZERO, is_stale

log = logging.getLogger("payi_server.limits.leases")
T = TypeVar("T")

FAIR_SHARE = 4  # a grant takes at most a quarter of what is left
HORIZON = 3.0  # seconds of the recent hold rate a refill asks for (at least)
RATE_WINDOW = 1.0  # seconds over which the hold rate is averaged
LAG_COVER = 4  # ... or this many times the time a grant recently took, when that is longer
MIN_HOLDS = 4  # ... and at least this many holds of the recent size
EXHAUSTED_PAUSE = 0.05  # seconds a limit found without room is not asked again
REFRESH = 0.5  # seconds between re-reads of the known limits (their rule, their spend) and lease renewals
MAX_KNOWN = 10_000  # limits a process remembers
ADMIT_ROUNDS = 8
# A looser hold (a call's input counted by its bytes, not tokenized) is taken only while the limit has room for
# this many of it: so near the max, where a hold's size decides admissions, holds are exact.
LOOSE_HOLD_ROOM = 1000
# Where the limits have room for fewer than this many looser holds (but still LOOSE_HOLD_ROOM), the exact estimates
# are prepared ahead (the proxy builds the model's tokenizer in the background): so it is ready before a call needs
# it, and a process whose limits stay far from their max never builds it (o200k_base: 41 MB a worker).
PREPARE_EXACT_ROOM = 100 * LOOSE_HOLD_ROOM
QUANTUM = Decimal("1e-10")  # the Money columns' scale
_DOWN = Context(prec=80, rounding=ROUND_DOWN)  # its quantize() rounds a cost down to the 1e-10 a lease row holds
MIN_ROOM = Decimal("0.000001")  # the room a zero hold asks for (a default limit admits while some is left)


@dataclass(slots=True)
class Hold:
    """One admitted call's estimate, taken from one lease (allow limits get a zero hold, to track the call)."""

    lease: Lease
    lease_id: int | None
    amount: Decimal
    cost: Decimal = ZERO  # the call's real cost, once it is priced (before it is settled)

    @property
    def used(self) -> Decimal:
        """What the call takes from the lease until it settles: its hold, or its cost if that is more."""
        return max(self.amount, self.cost)


@dataclass(slots=True)
class Settlement:
    """What a committed batch did to one lease row (the batch's calls held on it): computed in the transaction,
    applied in memory after commit (``LeaseBook.applied``)."""

    lease: Lease
    lease_id: int | None  # the row the holds were taken from (``None``: none, or an allow limit's zero holds)
    used: Decimal  # what the calls took from the lease (their ``Hold.used``)
    priced: Decimal  # their priced costs (``Hold.cost``: in the process's pending spend until now)
    cost: Decimal  # what the batch charged for them (0 for a call that was not recorded: a duplicate)
    released: Decimal  # how much of the lease row (and of ``reserved``) the costs consumed


class Settling:
    """What a batch's costs take from this process's lease rows. Each cost takes its amount rounded down to the
    rows' 1e-10 (the rest stays held), and a row gives up at most what it holds: the ledger writes that with the
    limits (``Ledger.flush``), which lowers each limit's ``reserved`` by what its rows gave up and returns what each
    row held; ``settled`` then says what each row's calls released, together.

    The calls are summed per lease row as they come (a batch holds hundreds of calls on the same few leases)."""

    __slots__ = ("_rows", "wanted")

    def __init__(self, charges: Iterable[tuple[Hold, Decimal]]) -> None:
        # (lease, lease id) -> [used, priced, cost, the costs rounded down to 1e-10]
        rows: dict[tuple[Lease, int | None], list[Decimal]] = {}
        for hold, cost in charges:
            take = _DOWN.quantize(cost, QUANTUM)
            sums = rows.get((hold.lease, hold.lease_id))
            if sums is None:
                rows[(hold.lease, hold.lease_id)] = [hold.used, hold.cost, cost, take]
            else:
                sums[0] += hold.used
                sums[1] += hold.cost
                sums[2] += cost
                sums[3] += take
        self._rows = rows
        # lease id -> (limit pk, sum of its takes)
        self.wanted: dict[int, tuple[int, Decimal]] = {
            lease_id: (lease.pk, sums[3]) for (lease, lease_id), sums in rows.items() if lease_id is not None
        }

    def settled(self, held: dict[int, Decimal]) -> list[Settlement]:
        """Each lease row's calls release what their costs take, at most what the row held: together exactly what
        the row gave up (a row that is gone releases nothing)."""
        return [
            Settlement(
                lease, lease_id, used, priced, cost,
                min(take, held[lease_id]) if lease_id is not None and lease_id in held else ZERO,
            )
            for (lease, lease_id), (used, priced, cost, take) in self._rows.items()
        ]


@dataclass(eq=False, slots=True)
class Lease:
    """A process's view of one limit, and its slice of the limit's budget."""

    pk: int
    app_id: int
    limit_id: str
    limit_type: str
    enforcement: str
    max: Decimal
    threshold: Decimal | None
    spent: Decimal  # as of the last read, plus what this process settled since
    read_at: float
    lease_id: int | None = None
    amount: Decimal = ZERO  # granted to this process and not yet settled (mirrors the lease row)
    held: Decimal = ZERO  # what admitted calls not yet settled take from the lease (``Hold.used``)
    pending: Decimal = ZERO  # the priced cost of those calls (for the spend this process reports)
    used_at: float = 0.0
    rate: float = 0.0  # holds per second (moving average)
    rate_at: float = 0.0
    typical: Decimal = ZERO  # a recent hold's size
    refill: asyncio.Task[None] | None = None  # the background top-up in flight
    waiting: Decimal = ZERO  # the holds of calls waiting for a top-up
    low_water: Decimal = ZERO  # below this much free, a background top-up starts (half a refill, set at each grant)
    lag: float = 0.0  # seconds a grant recently took, waiting for the database included (rises at once, decays)
    expires: float = 0.0  # monotonic time the lease row may be reclaimed after (renewed with it)
    exhausted_until: float = 0.0  # a grant found no room: until then, calls that do not fit are refused at once
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one grant or return at a time per lease
    deleted: bool = False

    @property
    def free(self) -> Decimal:
        return self.amount - self.held

    @property
    def strict(self) -> bool:
        return self.enforcement == "strict"

    def has_room(self, room: Decimal) -> bool:
        """Whether the limit has ``room`` left below its max, spend as this process sees it."""
        return self.max - self.spent - self.pending >= room

    def fits(self, estimate: Decimal) -> bool:
        if self.limit_type != "block":
            return True
        if self.lease_id is not None and time.monotonic() >= self.expires:
            return False  # not renewed in time: another process may have reclaimed it (a grant renews or replaces it)
        return self.free >= estimate if self.strict else self.free > ZERO

    def note_hold(self, amount: Decimal, now: float) -> None:
        # The hold rate, decaying over ``RATE_WINDOW`` seconds: each hold adds amount/RATE_WINDOW, so a steady flow
        # of N holds a second settles at N x amount (within a few windows of a change in load).
        elapsed = now - self.rate_at if self.rate_at else 0.0
        self.rate = self.rate * max(0.0, 1.0 - elapsed / RATE_WINDOW) + float(amount) / RATE_WINDOW
        self.rate_at = now
        self.used_at = now
        if amount > ZERO:
            self.typical = amount

    def target(self, need: Decimal) -> Decimal:
        # A top-up starts at half of this and must land before the other half is used: when grants wait (SQLite's
        # one writer behind a long group commit), slices cover that wait instead of calls waiting for the grant.
        by_rate = Decimal(str(round(self.rate * max(HORIZON, LAG_COVER * self.lag), 10)))
        return max(need, self.typical * MIN_HOLDS, by_rate)


@dataclass(slots=True)
class Admission:
    """The outcome of ``LeaseBook.admit``: ``blocked`` is empty when the call may go ahead."""

    holds: list[Hold] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)  # each named limit's state, when the call is refused
    unpriceable: list[str] = field(default_factory=list)  # strict limits a call without an estimate cannot pass


class LeaseBook:
    """The leases of one server process."""

    def __init__(self, db: Database, ids: IdGenerator, owner: int, *, ttl: float = 10.0) -> None:
        self._db = db
        self._ids = ids
        self._owner = owner
        self._ttl = ttl
        self._leases: dict[tuple[int, str], Lease] = {}
        self._by_pk: dict[int, Lease] = {}
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._inflight: set[asyncio.Task[Any]] = set()

    # --- life -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._maintain(), name="payi-leases")

    async def stop(self) -> None:
        """Give every lease's rest back (call after the recorder has drained: nothing is held any more)."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        # Grants and returns in flight finish (a transaction cut off after its commit would strand its lease).
        pending = [*self._inflight, *(lease.refill for lease in self._by_pk.values() if lease.refill is not None)]
        await asyncio.gather(*pending, return_exceptions=True)
        if any(lease.held > ZERO for lease in self._by_pk.values()):
            log.warning("stopping with calls not settled; their leases return to the limits in %ss", self._ttl)
            return
        try:
            await self._return_all()
        except Exception:  # noqa: BLE001 - they expire on their own
            log.warning("could not return the limit leases; they return to the limits in %ss", self._ttl)

    async def _return_all(self) -> None:
        """Every lease row this process owns goes back to its limit (nothing is held any more)."""
        async with self._db.read() as conn:
            query = select(limit_reservations.c.limit_pk).where(limit_reservations.c.owner == self._owner)
            pks = sorted({r.limit_pk for r in (await conn.execute(query)).all()})
        for pk in pks:
            async with self._db.write() as conn:
                row = await _lock(conn, self._db, pk)
                amount = sum(
                    (r.amount for r in (await conn.execute(
                        delete(limit_reservations)
                        .where(limit_reservations.c.owner == self._owner, limit_reservations.c.limit_pk == pk)
                        .returning(limit_reservations.c.amount)
                    )).all()),
                    ZERO,
                )
                if amount and row is not None:
                    await conn.execute(update(limits).where(limits.c.id == pk).values(reserved=limits.c.reserved - amount))
        for lease in self._by_pk.values():
            lease.lease_id = None
            lease.amount = ZERO

    def leases(self) -> list[Lease]:
        return list(self._by_pk.values())

    # --- admission ------------------------------------------------------------------------------------
    async def admit(self, app_id: int, limit_ids: Sequence[str], estimate: Decimal | None) -> Admission:
        """Hold ``estimate`` on every named block limit, or on none. ``None``: the call cannot be priced before it
        is made; strict limits refuse it (``unpriceable``), default limits admit it with a zero hold."""
        if estimate is not None:
            named = self._known(app_id, limit_ids)
            if named is not None and all(lease.fits(estimate) for lease in named):
                return Admission(self._hold(named, estimate))  # the usual case: all in memory, no await
        outcome = Admission()
        found = await self._lookup(app_id, limit_ids)
        outcome.missing = [i for i in limit_ids if i not in found]
        if outcome.missing:
            return outcome
        named = [found[i] for i in dict.fromkeys(limit_ids)]
        block = [lease for lease in named if lease.limit_type == "block"]
        if estimate is None:
            outcome.unpriceable = [lease.limit_id for lease in block if lease.strict]
            if outcome.unpriceable:
                return outcome
        hold = estimate if estimate is not None else ZERO
        for _attempt in range(ADMIT_ROUNDS):
            short = [lease for lease in block if not lease.fits(hold)]
            if not short:
                break
            # A round ends when each short lease was topped up or found without room; the room may be taken by
            # another call before this one resumes, hence a few rounds.
            if not all(await asyncio.gather(*(self._refill_now(lease, hold) for lease in short))):
                break
        short = [lease for lease in block if not lease.fits(hold)]
        if short:
            refused = {lease.limit_id for lease in short}
            outcome.blocked = [i for i in dict.fromkeys(limit_ids) if i in refused]
            outcome.states = {
                lease.limit_id: ("blocked" if lease.limit_id in refused else "blocked_external") for lease in named
            }
            return outcome
        outcome.holds = self._hold(named, hold)
        return outcome

    def _known(self, app_id: int, limit_ids: Sequence[str]) -> list[Lease] | None:
        """The named limits' leases when this process knows every one of them (``None`` otherwise)."""
        named = []
        for limit_id in limit_ids:
            lease = self._leases.get((app_id, limit_id))
            if lease is None or lease.deleted:
                return None
            if lease not in named:
                named.append(lease)
        return named

    def _hold(self, named: list[Lease], hold: Decimal, now: float | None = None) -> list[Hold]:
        """Take ``hold`` from every named block lease (each has room: ``Lease.fits``); a background top-up starts
        where a lease runs low."""
        holds = []
        if now is None:
            now = time.monotonic()
        for lease in named:
            if lease.limit_type != "block":
                holds.append(Hold(lease, None, ZERO))
                continue
            lease.held += hold
            lease.note_hold(hold, now)
            holds.append(Hold(lease, lease.lease_id, hold))
            if lease.amount - lease.held < lease.low_water and (lease.refill is None or lease.refill.done()):
                lease.refill = asyncio.create_task(self._refill(lease, hold))
        return holds

    def hold_at_once(self, app_id: int, limit_ids: Sequence[str], hold: Decimal, holds: int) -> list[Hold] | None:
        """The usual admission, in memory and without an await: every named limit is known here, and every block
        limit has room for ``holds`` holds of ``hold`` (0: any room) and a lease that fits it; then the holds are
        taken. ``None``: nothing was taken, and the caller goes the long way (``far_from_max``, ``admit``).

        Every call naming a limit runs this: ``Lease.has_room`` and ``Lease.fits`` are written out here."""
        if len(limit_ids) == 1:  # the usual case: one limit
            lease = self._leases.get((app_id, limit_ids[0]))
            if lease is None or lease.deleted:
                return None
            named = [lease]
        else:
            found = self._known(app_id, limit_ids)
            if found is None:
                return None
            named = found
        room = hold * holds
        now = time.monotonic()
        for lease in named:
            if lease.limit_type == "block" and not (
                lease.max - lease.spent - lease.pending >= room
                and (lease.lease_id is None or now < lease.expires)
                and (lease.amount - lease.held >= hold if lease.enforcement == "strict" else lease.amount > lease.held)
            ):
                return None
        return self._hold(named, hold, now)

    async def far_from_max(
        self, app_id: int, limit_ids: Sequence[str], hold: Decimal, holds: int = LOOSE_HOLD_ROOM
    ) -> bool:
        """Whether every named block limit has room left for ``holds`` holds of ``hold`` (spend as this process sees
        it): with :data:`LOOSE_HOLD_ROOM`, where a looser hold cannot cost a call its admission."""
        found = await self._lookup(app_id, limit_ids)
        if len(found) < len(set(limit_ids)):
            return False
        room = hold * holds
        return all(lease.has_room(room) for lease in found.values() if lease.limit_type == "block")

    @staticmethod
    def priced(holds: Iterable[Hold], cost: Decimal) -> None:
        """A call's real cost is known (it settles later): it counts in the process's view of the spend, and
        takes from the lease what it costs beyond its hold."""
        for hold in holds:
            lease, before = hold.lease, hold.cost
            lease.pending += cost - before
            hold.cost = cost
            if cost > hold.amount or before > hold.amount:  # else the hold still covers it (the usual case)
                lease.held += max(hold.amount, cost) - max(hold.amount, before)

    def view(self, app_id: int, limit_id: str) -> tuple[Decimal, Decimal, Decimal | None] | None:
        """(spent, max, threshold) of a limit as this process sees it (``None``: not known here)."""
        lease = self._leases.get((app_id, limit_id))
        return None if lease is None else (lease.spent + lease.pending, lease.max, lease.threshold)

    @staticmethod
    def release(holds: Iterable[Hold]) -> None:
        """Drop the holds of a call that will not be settled (it could not be recorded)."""
        for hold in holds:
            hold.lease.held -= hold.used
            hold.lease.pending -= hold.cost

    async def _lookup(self, app_id: int, limit_ids: Sequence[str]) -> dict[str, Lease]:
        """The named limits as this process knows them; only a limit never seen here is read on the request path
        (the background task re-reads the known ones every ``REFRESH`` seconds)."""
        found: dict[str, Lease] = {}
        unknown = []
        for limit_id in limit_ids:
            lease = self._leases.get((app_id, limit_id))
            if lease is None:
                unknown.append(limit_id)
            elif not lease.deleted:
                found[limit_id] = lease
        if unknown:
            query = select(limits).where(
                limits.c.app_id == app_id, limits.c.limit_id.in_(unknown), limits.c.deleted_at.is_(None)
            )
            async with self._db.read() as conn:
                rows = [dict(r._mapping) for r in (await conn.execute(query)).all()]
            now = time.monotonic()
            if len(self._by_pk) >= MAX_KNOWN:
                self._forget_unused(now)
            for row in rows:
                found[row["limit_id"]] = self._update(row, now)
        return found

    def _forget_unused(self, now: float) -> None:
        for lease in list(self._by_pk.values()):
            if lease.lease_id is None and lease.held <= ZERO and now - lease.used_at > 60:
                del self._by_pk[lease.pk]
                self._leases.pop((lease.app_id, lease.limit_id), None)

    def _update(self, row: dict[str, Any], now: float, spent: Decimal | None = None) -> Lease:
        """Refresh (or create) the process's view of a limit from its row."""
        if spent is None:
            spent = ZERO if is_stale(row, utcnow()) else row["spent_total"]
        lease = self._by_pk.get(row["id"])
        if lease is None:
            lease = Lease(
                pk=row["id"], app_id=row["app_id"], limit_id=row["limit_id"], limit_type=row["limit_type"],
                enforcement=row["enforcement"] or "default", max=row["max"], threshold=row["threshold"],
                spent=spent, read_at=now,
            )
            self._by_pk[lease.pk] = lease
            self._leases[(lease.app_id, lease.limit_id)] = lease
        else:
            lease.limit_type = row["limit_type"]
            lease.enforcement = row["enforcement"] or "default"
            lease.max = row["max"]
            lease.threshold = row["threshold"]
            lease.spent = spent
            lease.read_at = now
            lease.deleted = False
        return lease

    # --- refills --------------------------------------------------------------------------------------
    def _shielded(self, work: Coroutine[Any, Any, T]) -> Awaitable[T]:
        """Run a grant or a return as a task of its own, so that a caller cancelled meanwhile (a client gone, a
        stop) cannot cut it between its commit and the update of the process's view."""
        task = asyncio.ensure_future(work)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return asyncio.shield(task)

    async def _refill_now(self, lease: Lease, need: Decimal) -> bool:
        """Top the lease up for ``need``; False when the limit has no room for it (or could not be asked)."""
        lease.waiting += need
        try:
            return await self._shielded(self._top_up(lease, need))
        finally:
            lease.waiting -= need

    async def _top_up(self, lease: Lease, need: Decimal) -> bool:
        """Grants for one lease run one at a time, each for every call waiting; a waiter re-checks first."""
        async with lease.lock:
            if lease.fits(need):
                return True
            if time.monotonic() < lease.exhausted_until:
                return False
            if await self._grant_logged(lease, need):
                if lease.fits(need):
                    return True
                # The limit has no room for this call: refuse the next ones without asking again for a moment
                # (at a spent budget, every refused call would otherwise cost a transaction), and give back a
                # fragment too small for it, which another process may be able to use.
                lease.exhausted_until = time.monotonic() + EXHAUSTED_PAUSE
                if lease.strict and lease.free > ZERO:
                    await self._give_back_locked(lease, lease.free)
            return False

    async def _refill(self, lease: Lease, need: Decimal) -> None:
        """A background top-up, when the lease runs low."""
        async with lease.lock:
            if lease.free < lease.low_water:
                await self._grant_logged(lease, need)

    async def _grant_logged(self, lease: Lease, need: Decimal) -> bool:
        try:
            await self._grant(lease, need)
            return True
        except Exception as exc:  # noqa: BLE001 - the lease stays as it is; calls that do not fit are refused
            log.warning("could not refill the lease on limit %s: %s", lease.pk, type(exc).__name__)
            return False

    async def _grant(self, lease: Lease, need: Decimal) -> None:
        """One short transaction: lock the limit, reclaim dead leases, and grant this process a slice."""
        if self._closing:
            return
        now = utcnow()
        started = time.monotonic()
        async with self._db.write() as conn:
            row = await _lock(conn, self._db, lease.pk)
            if row is None:
                lease.deleted = True
                return
            row = await roll_window(conn, row, now)
            reclaimed = await _reclaim(conn, lease.pk, now)
            reserved = row["reserved"] - reclaimed
            current = await _lease_amount(conn, lease.lease_id, lease.pk)
            free = (current if current is not None else ZERO) - lease.held
            # What this process's unsettled calls took beyond their lease (a default limit admits while its lease
            # has any room; a cost above its hold) is spent the database does not know yet: count it.
            available = row["max"] - row["spent_total"] - reserved - max(ZERO, -free)
            if need <= ZERO:  # a call held at zero (default limit, no estimate) still needs some room left
                need = lease.typical or MIN_ROOM
            shortfall = need - free
            wanted = max(lease.waiting, need, lease.target(need)) - free  # every call waiting, and some ahead
            grant = _slice(available, shortfall, wanted, need, strict=(row["enforcement"] == "strict"))
            expires = now + timedelta(seconds=self._ttl)
            if current is None:
                lease_id = self._ids.next()
                if grant > ZERO:
                    await conn.execute(
                        insert(limit_reservations).values(
                            id=lease_id, limit_pk=lease.pk, amount=grant, owner=self._owner, expires_at=expires,
                            created_at=now,
                        )
                    )
            else:
                lease_id = lease.lease_id  # type: ignore[assignment]
                await conn.execute(
                    update(limit_reservations)
                    .where(limit_reservations.c.id == lease_id, limit_reservations.c.limit_pk == lease.pk)
                    .values(amount=limit_reservations.c.amount + grant, expires_at=expires)
                )
            if grant or reclaimed:
                await conn.execute(update(limits).where(limits.c.id == lease.pk).values(reserved=reserved + grant))
        # Committed: apply to the view.
        self._update(row, time.monotonic(), spent=row["spent_total"])
        lease.lag = max(time.monotonic() - started, lease.lag * 0.8)
        lease.low_water = lease.target(need) / 2
        lease.expires = started + self._ttl
        if current is None:
            # A new lease (the first, or the old row was reclaimed while this process was away). Holds taken from
            # an old lease stay in ``held``: the new grant covers them, which is conservative.
            lease.lease_id = lease_id if grant > ZERO else None
            lease.amount = grant
        else:
            lease.amount += grant

    async def _give_back(self, lease: Lease, amount: Decimal) -> None:
        """Return part of a lease to the limit (the whole row when nothing else is held on it)."""
        await self._shielded(self._give_back_now(lease, amount))

    async def _give_back_now(self, lease: Lease, amount: Decimal) -> None:
        async with lease.lock:
            await self._give_back_locked(lease, min(amount, lease.free))

    async def _give_back_locked(self, lease: Lease, amount: Decimal) -> None:
        if lease.lease_id is None or (amount <= ZERO and (lease.held > ZERO or lease.amount > ZERO)):
            return
        lease_id = lease.lease_id
        gone = False
        async with self._db.write() as conn:
            row = await _lock(conn, self._db, lease.pk)
            current = await _lease_amount(conn, lease_id, lease.pk)
            if row is None or current is None:
                back = ZERO
                gone = current is None
            else:
                back = min(amount, current).quantize(QUANTUM, rounding=ROUND_DOWN)
                if current - back <= ZERO and lease.held <= ZERO:
                    gone = True
                    await conn.execute(delete(limit_reservations).where(limit_reservations.c.id == lease_id))
                else:
                    await conn.execute(
                        update(limit_reservations)
                        .where(limit_reservations.c.id == lease_id)
                        .values(amount=limit_reservations.c.amount - back)
                    )
                await conn.execute(update(limits).where(limits.c.id == lease.pk).values(reserved=limits.c.reserved - back))
        if lease.lease_id == lease_id:
            lease.amount -= back
            if gone:  # decided in the transaction: the view follows the row, never the other way round
                lease.lease_id = None
                lease.amount = ZERO

    # --- settlement (inside the recorder's batch transaction: ``Settling``, then ``applied``) ---------------
    @staticmethod
    def applied(settlements: Iterable[Settlement]) -> None:
        """After the batch committed: holds leave the leases, costs leave their amounts and join the spend."""
        for s in settlements:
            lease = s.lease
            lease.held -= s.used
            lease.pending -= s.priced
            lease.spent += s.cost
            if s.lease_id is not None and s.lease_id == lease.lease_id:
                lease.amount -= s.released

    # --- background -----------------------------------------------------------------------------------
    async def _maintain(self) -> None:
        """Renew this process's leases, re-read the limits it knows, and give back what is idle or over a limit."""
        swept = time.monotonic()
        while True:
            await asyncio.sleep(REFRESH)
            try:
                await self._renew()
            except Exception as exc:  # noqa: BLE001 - retried next round; leases expire only after the TTL
                log.warning("could not renew limit leases: %s", type(exc).__name__)
            if time.monotonic() - swept >= max(1.0, self._ttl / 2):
                # Dead processes' leases go back to their limits even when no call names those limits any more.
                swept = time.monotonic()
                try:
                    await reclaim_expired(self._db, utcnow())
                except Exception as exc:  # noqa: BLE001 - retried next round
                    log.warning("could not reclaim expired limit leases: %s", type(exc).__name__)

    async def _renew(self) -> None:
        known = list(self._by_pk.values())
        if not known:
            return
        leased = {lease: lease.lease_id for lease in known if lease.lease_id is not None}
        if leased:
            started = time.monotonic()
            async with self._db.write() as conn:
                alive = {
                    r.id
                    for r in (
                        await conn.execute(
                            update(limit_reservations)
                            .where(limit_reservations.c.owner == self._owner)
                            .values(expires_at=utcnow() + timedelta(seconds=self._ttl))
                            .returning(limit_reservations.c.id)
                        )
                    ).all()
                }
            for lease, lease_id in leased.items():
                if lease.lease_id != lease_id:
                    continue  # replaced meanwhile
                if lease_id in alive:
                    lease.expires = max(lease.expires, started + self._ttl)
                else:  # reclaimed while this process was away: its holds stay held, a grant will cover them
                    lease.lease_id = None
                    lease.amount = ZERO
        pks = sorted(lease.pk for lease in known)
        async with self._db.read() as conn:
            rows = {r.id: dict(r._mapping) for r in (await conn.execute(select(limits).where(limits.c.id.in_(pks)))).all()}
        idle_after = max(2.0, self._ttl / 2)
        mono = time.monotonic()
        for lease in known:
            row = rows.get(lease.pk)
            if row is None or row["deleted_at"] is not None:
                lease.deleted = True
                await self._give_back(lease, lease.free)
                continue
            self._update(row, mono)
            if lease.lease_id is None:
                continue
            over = row["spent_total"] + row["reserved"] > row["max"]
            if lease.free > ZERO and (over or mono - lease.used_at > idle_after or row["limit_type"] != "block"):
                await self._give_back(lease, lease.free)


def _slice(available: Decimal, shortfall: Decimal, wanted: Decimal, need: Decimal, *, strict: bool) -> Decimal:
    """How much to grant: ``wanted``, capped by a fair share of what is left, never less than the shortfall if
    that fits (strict); default limits grant while anything is left. Strict grants beyond the shortfall come in
    whole holds of the current size, so that near ``max`` no process keeps a fragment too small for a call."""
    available = available.quantize(QUANTUM, rounding=ROUND_DOWN)
    if available <= ZERO:
        return ZERO
    if strict and available < shortfall:
        return ZERO
    share = available / FAIR_SHARE
    grant = min(wanted, max(share, shortfall), available)
    if strict and need > ZERO and grant > shortfall:
        base = max(shortfall, ZERO)
        grant = base + ((grant - base) // need) * need
    # Money is stored to 1e-10: a grant with more digits would be rounded differently in the lease row and in the
    # limit's ``reserved``. Rounding up stays within ``available`` (itself a multiple of 1e-10) unless it is 0.
    grant = grant.quantize(QUANTUM, rounding=ROUND_UP)
    return min(grant, available)


async def _lock(conn: Any, db: Database, pk: int) -> dict[str, Any] | None:
    query = select(limits).where(limits.c.id == pk, limits.c.deleted_at.is_(None))
    if not db.is_sqlite:
        query = query.with_for_update(key_share=True)  # FOR NO KEY UPDATE: foreign-key checks of other transactions do not wait for it
    row = (await conn.execute(query)).first()
    return dict(row._mapping) if row is not None else None


async def _lease_amount(conn: Any, lease_id: int | None, pk: int) -> Decimal | None:
    if lease_id is None:
        return None
    found = (
        await conn.execute(
            select(limit_reservations.c.amount).where(
                limit_reservations.c.id == lease_id, limit_reservations.c.limit_pk == pk
            )
        )
    ).first()
    return found.amount if found is not None else None


async def _reclaim(conn: Any, pk: int, now: datetime) -> Decimal:
    """Delete the expired leases of a locked limit; return their amount (the caller lowers ``reserved``)."""
    rows = (
        await conn.execute(
            delete(limit_reservations)
            .where(limit_reservations.c.limit_pk == pk, limit_reservations.c.expires_at < now)
            .returning(limit_reservations.c.amount)
        )
    ).all()
    return sum((r.amount for r in rows), ZERO)


async def reclaim_expired(db: Database, now: datetime) -> int:
    """Give back the leases of processes that died (run now and then by every process). Locks each limit first,
    like a grant, so the two never deadlock."""
    async with db.read() as conn:
        pks = sorted(
            {r.limit_pk for r in (await conn.execute(
                select(limit_reservations.c.limit_pk).where(limit_reservations.c.expires_at < now)
            )).all()}
        )
    count = 0
    for pk in pks:
        async with db.write() as conn:
            row = await _lock(conn, db, pk)
            amount = await _reclaim(conn, pk, now)
            if amount and row is not None:
                await conn.execute(update(limits).where(limits.c.id == pk).values(reserved=limits.c.reserved - amount))
            count += 1
    return count

