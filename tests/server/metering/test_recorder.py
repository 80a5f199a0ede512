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
