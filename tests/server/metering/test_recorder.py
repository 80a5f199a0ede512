"""The recorder on its own (queue, group commit, one-by-one retry, drain on stop) and the batch's steps
(``metering.batch``), against a real database (SQLite and PostgreSQL), without HTTP."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, func, select

from payi_server.auth.cache import Principal
from payi_server.auth.keys import KeyKind
from payi_server.errors import ApiError
from payi_server.metering.event import Attribution, Event
from payi_server.metering.pending import Pending
from payi_server.metering.recorder import Recorder
from payi_server.store.changes import utcnow
from payi_server.store.tables import requests, rollup_hourly

from tests.conftest import Running

HAIKU_UNITS = {"text": {"input": 1000, "output": 100}}


def _principal(running: Running) -> Principal:
    return Principal(
        key_id=0, kind=KeyKind.APPLICATION, org_id=running.boot.org_id, app_id=int(running.boot.app["app_id"])
    )


def _pending(running: Running, *, limit_ids: list[str] | None = None, response_id: str | None = None) -> Pending:
    event = Event(
        source="ingest",
        category="system.anthropic",
        resource="claude-3-haiku-20240307",
        units={k: dict(v) for k, v in HAIKU_UNITS.items()},
        event_timestamp=utcnow(),
        attribution=Attribution(limit_ids=list(limit_ids or [])),
        provider_response_id=response_id,
    )
    return running.state.meter.prepare(_principal(running), event)


async def _stored(running: Running, ids: list[int]) -> int:
    async with running.state.db.read() as conn:
        query = select(func.count()).select_from(requests).where(requests.c.id.in_(ids))
        return int((await conn.execute(query)).scalar_one())


async def test_a_full_queue_never_drops_a_record_and_stop_drains_everything(running: Running) -> None:
    recorder = Recorder(running.state.db, batch_size=4, flush_interval=0, queue_size=2)
    await recorder.start()
    items = [_pending(running) for _ in range(50)]
    for item in items:  # no await in between: the queue holds 2, the other 48 wait for room in the background
        recorder.submit_nowait(item)
    assert recorder.depth == 2
    await recorder.stop()
    assert recorder.written == 50
    assert await _stored(running, [i.request_id for i in items]) == 50


async def test_answered_calls_wait_for_company_and_a_waiting_client_ends_the_wait(running: Running) -> None:
    """Records nobody waits for (proxied calls, already answered) linger for more of their batch; a record whose
    client waits for its commit (an ingest) joins that batch and has it written at once."""
    recorder = Recorder(running.state.db, batch_size=16, flush_interval=0, linger=5.0)
    sizes: list[int] = []
    write = recorder._writer.write

    async def counted(batch: list[Pending]) -> list[dict[str, Any] | ApiError]:
        sizes.append(len(batch))
        return await write(batch)

    recorder._writer.write = counted  # type: ignore[method-assign]
    await recorder.start()
    try:
        answered = [_pending(running), _pending(running)]
        for item in answered:
            recorder.submit_nowait(item)
            await asyncio.sleep(0.05)
        assert sizes == []  # still lingering, well inside its 5 s
        waiting = _pending(running)
        result = await asyncio.wait_for(recorder.submit(waiting), 2.0)
        assert result["request_id"] == str(waiting.request_id)
        assert sizes == [3]
        late = _pending(running)
        recorder.submit_nowait(late)
    finally:
        await recorder.stop()  # a clean stop writes what lingers
    assert sizes == [3, 1]
    assert await _stored(running, [i.request_id for i in [*answered, waiting, late]]) == 4


async def test_one_bad_item_does_not_sink_its_batch(running: Running) -> None:
    recorder = Recorder(running.state.db, batch_size=16, flush_interval=0.05)
    await recorder.start()
    try:
        good = [_pending(running) for _ in range(3)]
        bad = _pending(running, limit_ids=["no-such-limit"])
        answers = await asyncio.gather(*(recorder.submit(i) for i in [*good, bad]), return_exceptions=True)
    finally:
        await recorder.stop()
    assert [isinstance(a, dict) for a in answers] == [True, True, True, False]
    refused = answers[3]
    assert isinstance(refused, ApiError) and refused.code == "invalid_limit_ids"
    assert await _stored(running, [i.request_id for i in good]) == 3
    assert await _stored(running, [bad.request_id]) == 0  # never half-written


async def test_a_duplicate_answers_with_the_original_and_counts_once(running: Running) -> None:
    recorder = Recorder(running.state.db, batch_size=16, flush_interval=0)
    await recorder.start()
    try:
        first = await recorder.submit(_pending(running, response_id="resp-dup-1"))
        again: dict[str, Any] = await recorder.submit(_pending(running, response_id="resp-dup-1"))
    finally:
        await recorder.stop()
    assert again["request_id"] == first["request_id"]
    assert again.get("duplicate_request") is True
    async with running.state.db.read() as conn:
        total = (await conn.execute(select(func.sum(rollup_hourly.c.requests)))).scalar_one()
        cost = (await conn.execute(select(func.sum(rollup_hourly.c.cost_total)))).scalar_one()
    assert total == 1
    assert Decimal(str(cost)) == Decimal("0.000375")  # 1000 x 0.25e-6 + 100 x 1.25e-6, once


async def test_a_batch_past_one_statement_page_is_recorded_whole_and_duplicates_once(running: Running) -> None:
    """1,200 rows of about 40 columns do not fit in one SQLite statement (32,766 parameters): the insert is paged.
    Every row is recorded, and a duplicate (already recorded, or twice in the batch) once, wherever it falls."""
    recorder = Recorder(running.state.db, batch_size=2000, flush_interval=0.2)
    await recorder.start()
    try:
        earlier = await recorder.submit(_pending(running, response_id="resp-page-0"))
        ids = [f"resp-page-{n % 500}" if n % 5 == 0 else None for n in range(1200)]  # 100 keys, 240 uses
        items = [_pending(running, response_id=i) for i in ids]
        answers = await recorder.submit_many(items)
    finally:
        await recorder.stop()
    assert all(isinstance(a, dict) for a in answers)
    seen: set[str] = {"resp-page-0"}
    expected_new = []
    for item, response_id, answer in zip(items, ids, answers, strict=True):
        assert isinstance(answer, dict)
        if response_id is None or response_id not in seen:
            expected_new.append(item.request_id)
            assert not answer.get("duplicate_request")
        else:
            assert answer.get("duplicate_request") is True
        if response_id is not None:
            seen.add(response_id)
    first = answers[0]
    assert isinstance(first, dict) and first["request_id"] == earlier["request_id"]  # recorded before the batch
    assert await _stored(running, [i.request_id for i in items]) == len(expected_new) == 1200 - 140 - 1
    async with running.state.db.read() as conn:
        total = (await conn.execute(select(func.sum(rollup_hourly.c.requests)))).scalar_one()
    assert total == len(expected_new) + 1


async def test_submit_many_answers_each_item_in_order(running: Running) -> None:
    recorder = Recorder(running.state.db, batch_size=8, flush_interval=0, queue_size=5)
    await recorder.start()
    try:
        items = [_pending(running) for _ in range(20)]
        items[7] = _pending(running, limit_ids=["no-such-limit"])
        outcomes = await recorder.submit_many(items)  # more than the queue holds: waits for room
    finally:
        await recorder.stop()
    assert [isinstance(o, dict) for o in outcomes] == [i != 7 for i in range(20)]
    assert [o["request_id"] for o in outcomes if isinstance(o, dict)] == [
        str(item.request_id) for n, item in enumerate(items) if n != 7
    ]
    assert await _stored(running, [i.request_id for i in items]) == 19


async def test_known_instances_need_no_statement_and_a_deleted_one_is_created_again(running: Running) -> None:
    """A call naming a use case instance already recorded reads and writes nothing for it; deleting the instance
    makes the recorder forget it, so the next call naming it creates it again."""
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = running.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    body = {"category": "system.anthropic", "resource": "claude-3-haiku-20240307", "units": HAIKU_UNITS}
    use_case = {"xProxy-UseCase-Name": "uc-known", "xProxy-UseCase-ID": "inst-known-1"}
    path = "/api/v1/use_cases/instances/uc-known/inst-known-1"
    try:
        first = await running.client.post("/api/v1/ingest", json=body, headers={**running.headers(), **use_case})
        assert first.status_code == 200, first.text
        assert any("use_case_instances" in s for s in statements)
        statements.clear()
        second = await running.client.post("/api/v1/ingest", json=body, headers={**running.headers(), **use_case})
        assert second.status_code == 200, second.text
        assert [s for s in statements if "use_case_instances" in s or "use_case_definitions" in s] == []
        deleted = await running.client.delete(path, headers=running.headers())
        assert deleted.status_code == 200, deleted.text
        assert (await running.client.get(path, headers=running.headers())).status_code == 404
        third = await running.client.post("/api/v1/ingest", json=body, headers={**running.headers(), **use_case})
        assert third.status_code == 200, third.text
        assert (await running.client.get(path, headers=running.headers())).status_code == 200
        # Properties sent with a call are still merged into a known instance.
        props = {**use_case, "xProxy-UseCase-Properties": '{"team": "search"}'}
        fourth = await running.client.post("/api/v1/ingest", json=body, headers={**running.headers(), **props})
        assert fourth.status_code == 200, fourth.text
        instance = (await running.client.get(path, headers=running.headers())).json()
        assert instance["properties"] == {"team": "search"}
    finally:
        event.remove(engine, "before_cursor_execute", seen)


@pytest.mark.parametrize(("count", "prefix"), [(40, "r"), (40, None), (1000, "r")])
async def test_a_batch_of_held_calls_leaves_every_limit_write_balanced(
    running: Running, count: int, prefix: str | None
) -> None:
    """Proxied calls held on a strict block limit and counted on an allow limit, recorded in one batch: each
    limit's totals, its request links and its hourly rollup agree with the calls' costs, and the leases are
    settled. Calls without a provider response id take PostgreSQL's plain insert (no request keys), the limits
    read in it all the same. 1,000 calls in one batch (``record_batch_size`` raised) do not fit in one SQLite
    statement: the limits are then read on their own, not with the request rows."""
    from payi_server.limits.leases import ZERO
    from payi_server.store.tables import limit_reservations, limits, request_limits, rollup_limit_hourly

    for limit_id, kind in (("hot", "block"), ("seen", "allow")):
        answer = await running.client.post(
            "/api/v1/limits", headers=running.headers(),
            json={"limit_name": limit_id, "limit_id": limit_id, "max": 1000, "limit_type": kind,
                  "properties": {"enforcement": "strict"} if kind == "block" else {}},
        )
        assert answer.status_code in (200, 201), answer.text
    gate = running.state.gate
    running.state.meter.recorder._batch_size = max(count, running.state.meter.recorder._batch_size)
    calls = await _held_calls(running, ["hot", "seen"], count, prefix)
    for call in calls:  # queued together: one group commit (or a few) takes them all
        call.finish(200, None, None)
    await _drained(running, len(calls))
    lease = next(lease for lease in gate.leases.leases() if lease.limit_id == "hot")
    if lease.refill is not None:  # a background top-up in flight would move `reserved` under the reads below
        await lease.refill

    costs = [call.pending.cost_total for call in calls]
    ids = [call.pending.request_id for call in calls]
    async with running.state.db.read() as conn:
        rows = {r.limit_id: r for r in (await conn.execute(select(limits))).all()}
        for limit_id in ("hot", "seen"):
            row = rows[limit_id]
            assert row.spent_total == sum(costs) and row.count_total == len(calls) and row.count_ok == len(calls)
            rollup = (await conn.execute(
                select(func.sum(rollup_limit_hourly.c.requests), func.sum(rollup_limit_hourly.c.cost_total))
                .where(rollup_limit_hourly.c.limit_pk == row.id)
            )).one()
            assert (int(rollup[0]), rollup[1]) == (len(calls), sum(costs))
            links = (await conn.execute(
                select(request_limits.c.request_id, request_limits.c.state).where(request_limits.c.limit_pk == row.id)
            )).all()
            assert sorted(r.request_id for r in links) == sorted(ids) and {r.state for r in links} == {"ok"}
        leased = (await conn.execute(
            select(func.coalesce(func.sum(limit_reservations.c.amount), 0))
            .where(limit_reservations.c.limit_pk == rows["hot"].id)
        )).scalar_one()
        assert rows["hot"].reserved == Decimal(leased)
    assert lease.held == ZERO and lease.pending == ZERO and lease.spent == sum(costs)
    assert lease.amount == rows["hot"].reserved  # this process's lease is the limit's only one


async def test_a_limit_deleted_under_held_calls_is_not_charged(running: Running) -> None:
    """The group commit takes the limits behind the calls' leases by their pks (it reads no ids for them, and their
    rows with the rollups).
    When one of them was deleted while the calls were out (by another process: this one's leases do not know), the
    batch runs again looking the ids up: the deleted limit is not touched, the other is charged, and every call is
    recorded once."""
    from payi_server.limits.service import LimitService
    from payi_server.store.tables import limits, request_limits

    app_id = int(running.boot.app["app_id"])
    service = LimitService(running.state.db)
    for limit_id in ("gone", "kept"):
        await service.create(app_id, name=limit_id, max=Decimal(1000), limit_id=limit_id, limit_type="block",
                             enforcement="strict")
    calls = await _held_calls(running, ["gone", "kept"], 6, "x")
    before = running.state.meter.recorder.written
    await service.delete(app_id, "gone")
    for call in calls:
        call.finish(200, None, None)
    await _drained(running, before + len(calls))

    costs = sum(call.pending.cost_total for call in calls)
    ids = [call.pending.request_id for call in calls]
    async with running.state.db.read() as conn:
        rows = {r.limit_id: r for r in (await conn.execute(select(limits))).all()}
        assert rows["gone"].deleted_at is not None and rows["kept"].deleted_at is None
        assert (rows["gone"].spent_total, rows["gone"].count_total) == (0, 0)
        assert (rows["kept"].spent_total, rows["kept"].count_total) == (costs, len(calls))
        linked = {
            r.limit_pk: r.n
            for r in (await conn.execute(
                select(request_limits.c.limit_pk, func.count().label("n"))
                .where(request_limits.c.request_id.in_(ids)).group_by(request_limits.c.limit_pk)
            )).all()
        }
        assert linked == {rows["kept"].id: len(calls)}
        stored = (await conn.execute(select(func.count()).select_from(requests).where(requests.c.id.in_(ids))))
        assert stored.scalar_one() == len(calls)


async def test_the_gate_prepares_exact_estimates_only_as_a_limit_nears_its_max(running: Running) -> None:
    """A looser (byte-counted) estimate far from a limit's max prepares nothing (so a process whose limits stay far
    from their max never builds a tokenizer); within PREPARE_EXACT_ROOM of such holds the route is asked to prepare
    its exact estimates, still holding the looser one; within LOOSE_HOLD_ROOM the exact estimate is held."""
    from payi_server.limits.leases import LOOSE_HOLD_ROOM, PREPARE_EXACT_ROOM

    answer = await running.client.post(
        "/api/v1/limits", headers=running.headers(),
        json={"limit_name": "budget", "limit_id": "budget", "max": 1, "limit_type": "block",
              "properties": {"enforcement": "strict"}},
    )
    assert answer.status_code in (200, 201), answer.text
    asked: list[tuple[str, bool]] = []
    prepared: list[str] = []

    def estimator(loose: Decimal) -> Any:
        async def estimate(model: str, version: Any, exact: bool) -> tuple[Decimal, Any, bool]:
            asked.append((model, exact))
            cost = loose / 2 if exact else loose
            return cost, {"text": {"input": 1, "output": 1}}, exact
        return estimate

    gate = running.state.gate
    held = []
    # room for 10x PREPARE_EXACT_ROOM holds, for exactly PREPARE_EXACT_ROOM, and for LOOSE_HOLD_ROOM: the max is 1
    for loose, want_prepared, want_exact in (
        (Decimal(1) / (10 * PREPARE_EXACT_ROOM), False, False),
        (Decimal(1) / PREPARE_EXACT_ROOM, False, False),
        (Decimal(2) / PREPARE_EXACT_ROOM, True, False),
        (Decimal(2) / LOOSE_HOLD_ROOM, True, True),
    ):
        asked.clear()
        prepared.clear()
        call = gate.call(_principal(running), Attribution(limit_ids=["budget"]), category="system.anthropic",
                         named_model="claude-3-haiku-20240307", store=False)
        await call.admit(estimator(loose), prepared.append)
        assert prepared == (["claude-3-haiku-20240307"] if want_prepared else []), loose
        haiku = "claude-3-haiku-20240307"
        assert asked == [(haiku, False)] + ([(haiku, True)] if want_exact else [])
        assert call.holds is not None and call.holds[0].amount == (loose / 2 if want_exact else loose)
        held.append(call)
    for call in held:
        call.finish(200, None, None)
    await _drained(running, len(held))


async def test_pricing_reuses_admission_s_price_lookup_only_for_the_same_resource_and_catalog(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call naming a limit resolves its model's price version at admission; pricing reuses that when the provider
    reports the model that was estimated and the catalog is unchanged, and resolves again otherwise. Either way the
    call is priced as a fresh lookup prices it."""
    from payi_server.metering.event import Usage

    answer = await running.client.post(
        "/api/v1/limits", headers=running.headers(),
        json={"limit_name": "reuse", "limit_id": "reuse", "max": 100, "limit_type": "block"},
    )
    assert answer.status_code in (200, 201), answer.text
    book = running.state.gate.book
    looked_up: list[str] = []
    real = book.resolve

    def counted(org_id: int, category: str, resource: str, at: Any) -> Any:
        looked_up.append(resource)
        return real(org_id, category, resource, at)

    monkeypatch.setattr(book, "resolve", counted)
    haiku, sonnet = "claude-3-haiku-20240307", "claude-3-5-sonnet-20241022"
    calls = []
    for reported, reload, lookups in ((haiku, False, [haiku]), (sonnet, False, [haiku, sonnet]),
                                       (haiku, True, [haiku, haiku])):
        looked_up.clear()
        call = running.state.gate.call(_principal(running), Attribution(limit_ids=["reuse"]),
                                       category="system.anthropic", named_model=haiku, store=False)
        await call.admit(_fixed_estimate)
        if reload:
            book.generation += 1  # as a catalog part installed meanwhile does
        call.price(Usage(units={"text": {"input": 1000, "output": 100}}, model=reported), 200)
        assert looked_up == lookups, (reported, reload)
        pending = call.pending
        assert pending is not None
        fresh = real(_principal(running).org_id, "system.anthropic", reported, call.started_at)
        assert fresh is not None and pending.resource_id == fresh.resource_id
        calls.append(call)
        running.state.gate.reported_models.clear()  # each round estimates the named model again
    for call in calls:
        call.finish(200, None, None)
    await _drained(running, len(calls))


async def _fixed_estimate(model: str, version: Any, exact: bool) -> tuple[Decimal, Any, bool]:
    return Decimal("0.5"), {"text": {"input": 1, "output": 1}}, True


async def _held_calls(running: Running, limit_ids: list[str], count: int, prefix: str | None) -> list[Any]:
    """``count`` proxied calls admitted on ``limit_ids`` (each holding the fixed estimate), started and priced,
    not finished yet: the test finishes them, so that they are recorded together (``prefix``: of their provider
    response ids; ``None``: without one)."""
    from payi_server.metering.event import Usage

    calls = []
    for n in range(count):
        call = running.state.gate.call(
            _principal(running), Attribution(limit_ids=list(limit_ids)), category="system.anthropic",
            named_model="claude-3-haiku-20240307", store=False,
        )
        await call.admit(_fixed_estimate)
        call.started()
        call.price(Usage(units={"text": {"input": 1000 + n, "output": 100}}, response_id=None if prefix is None else f"{prefix}{n}"), 200)
        calls.append(call)
    return calls


async def _drained(running: Running, count: int) -> None:
    recorder = running.state.meter.recorder
    for _ in range(500):
        if recorder.written >= count and recorder.depth == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"recorded {recorder.written} of {count}")
