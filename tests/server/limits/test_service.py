"""The limits service on SQLite and PostgreSQL: periodic windows with an injected clock, resets against the
ledger, creation inside a caller's transaction, instance limits, and validation rules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from payi_server.errors import ApiError
from payi_server.limits.config import parse_config
from payi_server.limits.ledger import Ledger
from payi_server.limits.service import LimitService, create_limit_row, make_instance_limit
from payi_server.store.tables import limit_history, limit_reservations, limits

from ...conftest import Running


class Clock:
    """A settable clock for the service."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _app(running: Running) -> int:
    return int(running.boot.app["app_id"])


async def _charge(running: Running, limit_id: str, amount: str, now: datetime, *, failed: bool = False) -> str:
    """Charge a request against a limit through the ledger, as the metering path does."""
    db = running.state.db
    async with db.write() as conn:
        ledger = Ledger(conn, db, now)
        assert await ledger.load(_app(running), [limit_id]) == []
        await ledger.lock()  # PostgreSQL: the rows are read and locked here
        states = ledger.charge(_app(running), [limit_id], Decimal(amount), Decimal(0), failed=failed)
        await ledger.flush()
    return states[limit_id]


async def _row(running: Running, limit_id: str) -> Any:
    async with running.state.db.read() as conn:
        return (await conn.execute(select(limits).where(limits.c.limit_id == limit_id))).one()


async def test_daily_window_rolls_over_at_local_midnight_across_dst(running: Running) -> None:
    # 2025-03-29 23:30 in Paris (CET, UTC+1); the clocks go forward at 02:00 on the 30th.
    clock = Clock(datetime(2025, 3, 29, 22, 30, tzinfo=UTC))
    service = LimitService(running.state.db, clock=clock)
    view, created = await service.create(_app(running), name="daily", max=1, limit_id="daily", period="day", timezone="Europe/Paris")
    assert created
    first_window = datetime(2025, 3, 28, 23, 0, tzinfo=UTC)
    assert view["window_start"] == first_window
    assert await _charge(running, "daily", "0.5", clock.now) == "ok"
    assert await _charge(running, "daily", "0.6", clock.now) == "overrun"

    # Noon on the 30th (CEST): a new window, read as empty without any write.
    clock.now = datetime(2025, 3, 30, 10, 0, tzinfo=UTC)
    second_window = datetime(2025, 3, 29, 23, 0, tzinfo=UTC)
    view = await service.get(_app(running), "daily")
    assert view["window_start"] == second_window
    assert view["totals"]["cost"]["total"]["base"] == 0.0 and view["totals"]["requests"]["total"] == 0
    assert (await _row(running, "daily")).spent_total == Decimal("1.1")  # nothing was written by the read

    # Reading the history archives the finished window.
    items, cursor = await service.history(_app(running), "daily")
    assert cursor is None and len(items) == 1
    assert items[0]["window_start"] == first_window and items[0]["limit_reset_timestamp"] == second_window
    assert items[0]["totals"]["cost"]["total"] == {"base": 1.1, "overrun_base": pytest.approx(0.1)}
    assert items[0]["totals"]["requests"]["ok"] == 1 and items[0]["totals"]["requests"]["overrun"] == 1
    row = await _row(running, "daily")
    assert row.spent_total == 0 and row.count_total == 0 and row.window_start == second_window

    # The ledger rolls windows too: a charge a day later starts from zero.
    clock.now = datetime(2025, 3, 31, 8, 0, tzinfo=UTC)
    assert await _charge(running, "daily", "0.9", clock.now) == "ok"
    items, _ = await service.history(_app(running), "daily")
    assert len(items) == 1  # the window of the 30th had no activity: nothing to archive
    assert (await _row(running, "daily")).window_start == datetime(2025, 3, 30, 22, 0, tzinfo=UTC)


async def test_a_write_to_a_stale_window_archives_it_first(running: Running) -> None:
    clock = Clock(datetime(2025, 1, 31, 22, 0, tzinfo=UTC))  # Jan 31, 17:00 in New York
    service = LimitService(running.state.db, clock=clock)
    view, _ = await service.create(_app(running), name="monthly", max=10, limit_id="monthly", period="monthly", timezone="America/New_York")
    assert view["window_start"] == datetime(2025, 1, 1, 5, 0, tzinfo=UTC)
    await _charge(running, "monthly", "8", clock.now)
    # A max below the current window's spend is refused ...
    with pytest.raises(ApiError) as err:
        await service.update(_app(running), "monthly", max=5)
    assert err.value.code == "invalid_max_limit_update"
    # ... but in February the window is new, so the same update is fine, and January is history.
    clock.now = datetime(2025, 2, 1, 6, 0, tzinfo=UTC)
    view = await service.update(_app(running), "monthly", max=5)
    assert view["max"] == 5.0 and view["window_start"] == datetime(2025, 2, 1, 5, 0, tzinfo=UTC)
    async with running.state.db.read() as conn:
        history = (await conn.execute(select(limit_history))).all()
    assert [(h.window_start, h.totals["cost"]["total"]["base"]) for h in history] == [
        (datetime(2025, 1, 1, 5, 0, tzinfo=UTC), 8.0)
    ]


async def test_deleting_a_limit_archives_its_finished_window(running: Running) -> None:
    clock = Clock(datetime(2025, 5, 5, 12, 0, tzinfo=UTC))
    service = LimitService(running.state.db, clock=clock)
    await service.create(_app(running), name="d", max=1, limit_id="d", period="day")
    await _charge(running, "d", "0.25", clock.now)
    clock.now = datetime(2025, 5, 6, 1, 0, tzinfo=UTC)
    await service.delete(_app(running), "d")
    async with running.state.db.read() as conn:
        history = (await conn.execute(select(limit_history))).all()
    assert [(h.window_start, h.totals["cost"]["total"]["base"]) for h in history] == [
        (datetime(2025, 5, 5, tzinfo=UTC), 0.25)
    ]
    with pytest.raises(ApiError) as err:
        await service.get(_app(running), "d")
    assert err.value.code == "limit_not_found"


async def test_weekly_windows_start_on_monday(running: Running) -> None:
    clock = Clock(datetime(2025, 6, 1, 12, 0, tzinfo=UTC))  # a Sunday
    service = LimitService(running.state.db, clock=clock)
    view, _ = await service.create(_app(running), name="weekly", max=1, period="week")
    assert view["window_start"] == datetime(2025, 5, 26, tzinfo=UTC) and view["timezone"] == "UTC"


async def test_reset_keeps_leases_in_flight(running: Running) -> None:
    """A reset zeroes the spend; the budget leased to processes for calls in flight stays reserved."""
    now = datetime.now(UTC)
    service = LimitService(running.state.db, clock=lambda: now)
    await service.create(_app(running), name="b", max=1, limit_type="block", limit_id="b")
    await _charge(running, "b", "0.3", now)
    admission = await running.state.leases.admit(_app(running), ["b"], Decimal("0.2"))
    assert admission.blocked == [] and admission.missing == [] and len(admission.holds) == 1
    for lease in running.state.leases.leases():
        if lease.refill is not None:
            await lease.refill  # a background top-up may follow the first grant
    leased = (await _row(running, "b")).reserved
    assert Decimal("0.2") <= leased <= Decimal("0.7")  # at least the hold, never more than is left
    async with running.state.db.read() as conn:
        assert sum(r.amount for r in (await conn.execute(select(limit_reservations))).all()) == leased
    history = await service.reset(_app(running), "b")
    assert history["totals"]["cost"]["total"]["base"] == pytest.approx(0.3)
    row = await _row(running, "b")
    assert row.spent_total == 0 and row.count_total == 0 and row.reserved == leased
    assert row.reset_at == now
    assert (await service.get(_app(running), "b"))["reserved"] == pytest.approx(float(leased))


async def test_resets_and_charges_never_lose_money(running: Running) -> None:
    """Resets interleaved with charges: every cent is either in a history row or still on the limit."""
    now = datetime.now(UTC)
    service = LimitService(running.state.db, clock=lambda: now)
    await service.create(_app(running), name="busy", max=1000, limit_id="busy")

    async def charges() -> None:
        for _ in range(20):
            await _charge(running, "busy", "0.01", now)

    async def resets() -> None:
        for _ in range(5):
            await service.reset(_app(running), "busy")
            await asyncio.sleep(0)

    await asyncio.gather(charges(), charges(), resets())
    async with running.state.db.read() as conn:
        archived = sum(Decimal(str(h.totals["cost"]["total"]["base"])) for h in (await conn.execute(select(limit_history))).all())
        counted = sum(h.totals["requests"]["total"] for h in (await conn.execute(select(limit_history))).all())
    row = await _row(running, "busy")
    assert archived + row.spent_total == Decimal("0.40")
    assert counted + row.count_total == 40


async def test_concurrent_creates_of_one_name_make_one_limit(running: Running) -> None:
    service = LimitService(running.state.db)
    results = await asyncio.gather(
        *(service.create(_app(running), name="race", max=2, limit_type="block") for _ in range(8)),
        return_exceptions=True,
    )
    assert all(not isinstance(r, BaseException) for r in results), results
    ids = {r[0]["limit_id"] for r in results if not isinstance(r, BaseException)}
    assert len(ids) == 1
    assert sum(1 for r in results if not isinstance(r, BaseException) and r[1]) == 1


async def test_create_limit_row_inside_a_callers_transaction(running: Running) -> None:
    db = running.state.db
    async with db.write() as conn:
        row = await create_limit_row(conn, _app(running), name="inner", max=Decimal("2.5"), limit_type="Block", threshold=0.9)
        same = await create_limit_row(conn, _app(running), name="inner", max=2.5, limit_type="block", threshold=0.9)
        assert same["id"] == row["id"] and same["limit_id"] == row["limit_id"]
        with pytest.raises(ApiError) as err:
            await create_limit_row(conn, _app(running), name="inner", max=3)
        assert (err.value.status, err.value.code) == (409, "limit_name_already_exist")
    assert row["max"] == Decimal("2.5") and row["limit_type"] == "block"
    view = await LimitService(db).get(_app(running), row["limit_id"])
    assert view["limit_name"] == "inner" and view["threshold"] == 0.9


async def test_rolled_back_transaction_leaves_no_limit(running: Running) -> None:
    db = running.state.db
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await create_limit_row(conn, _app(running), name="ghost", max=1, limit_id="ghost")
            raise RuntimeError("the caller's transaction fails")
    with pytest.raises(ApiError):
        await LimitService(db).get(_app(running), "ghost")


async def test_instance_limits_are_always_new(running: Running) -> None:
    db = running.state.db
    definition = {"name": "bot", "limit_config": {"max": 1.5, "limit_type": "block", "properties": {"t": "1"}}}
    async with db.write() as conn:
        assert await make_instance_limit(conn, _app(running), {"name": "bot", "limit_config": None}) is None
        first = await make_instance_limit(conn, _app(running), definition, "u-1")
        # A user's limit that happens to have the instance limit's name is not taken over.
        await create_limit_row(conn, _app(running), name="bot.u-2", max=1.5, limit_type="block")
        second = await make_instance_limit(conn, _app(running), definition, "u-2")
        third = await make_instance_limit(conn, _app(running), definition)  # the recorder's 3-argument call
    assert len({first, second, third}) == 3
    async with db.read() as conn:
        rows = {r.id: r for r in (await conn.execute(select(limits))).all()}
    assert rows[first].name == "bot.u-1" and rows[first].properties == {
        "t": "1",
        "system.use_case_name": "bot",
        "system.use_case_id": "u-1",
    }
    assert rows[second].name.startswith("bot.u-2.") and rows[second].max == Decimal("1.5")


async def test_service_paging_is_stable_while_limits_are_added(running: Running) -> None:
    service = LimitService(running.state.db)
    for i in range(3):
        await service.create(_app(running), name=f"p{i}", max=1)
    items, after = await service.list_limits(_app(running), size=2)
    assert [i["limit_name"] for i in items] == ["p0", "p1"] and after is not None
    await service.create(_app(running), name="p3", max=1)
    items, after = await service.list_limits(_app(running), size=2, after=after)
    assert [i["limit_name"] for i in items] == ["p2", "p3"] and after is None


def _config(**kw: Any) -> Callable[[], Any]:
    return lambda: parse_config(**kw)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_config(max=1), ("allow", None, "default", None)),
        (_config(max=1, limit_type="BLOCK", threshold=0.75), ("block", Decimal("0.75"), "default", None)),
        (_config(max=1, threshold=0.99, enforcement=" Strict "), ("allow", Decimal("0.99"), "strict", None)),
        (_config(max=1, threshold=1), ("allow", Decimal("1"), "default", None)),
        (_config(max=1, period="Weekly", timezone="Asia/Tokyo"), ("allow", None, "default", "week")),
        (_config(max=1, properties={"enforcement": "strict"}), ("allow", None, "strict", None)),
    ],
)
def test_parse_config_accepts(make: Callable[[], Any], expected: tuple[Any, ...]) -> None:
    config = make()
    assert (config.limit_type, config.threshold, config.enforcement, config.period) == expected


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"max": 0}, "invalid_max_limit"),
        ({"max": float("nan")}, "invalid_max_limit"),
        ({"max": float("inf")}, "invalid_max_limit"),
        ({"max": "1e-11"}, "invalid_max_limit"),
        ({"max": 1, "threshold": 0.7499}, "create_limit_validation_failed"),
        ({"max": 1, "threshold": 0.991}, "create_limit_validation_failed"),
        ({"max": 1, "threshold": float("nan")}, "create_limit_validation_failed"),
        ({"max": 1, "limit_type": "blocked"}, "create_limit_validation_failed"),
        ({"max": 1, "period": "hour"}, "create_limit_validation_failed"),
        ({"max": 1, "period": "day", "timezone": "Not/AZone"}, "create_limit_validation_failed"),
        ({"max": 1, "enforcement": "strict", "properties": {"enforcement": "default"}}, "create_limit_validation_failed"),
    ],
)
def test_parse_config_rejects(kw: dict[str, Any], code: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_config(**kw)
    assert (err.value.status, err.value.code) == (400, code)


def test_config_as_json_round_trips() -> None:
    config = parse_config(max="0.1", limit_type="block", threshold=0.8, enforcement="strict", period="day")
    data = config.as_json()
    assert data == {
        "max": 0.1,
        "limit_type": "block",
        "threshold": 0.8,
        "enforcement": "strict",
        "period": "day",
        "timezone": "UTC",
    }
    assert parse_config(**{k: v for k, v in data.items()}) == parse_config(
        max=0.1, limit_type="block", threshold=0.8, enforcement="strict", period="day", timezone="UTC"
    )
