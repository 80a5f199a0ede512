"""Block limits before the upstream call, budget-lease holds settled on every outcome, upstream faults, disconnects."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from decimal import Decimal
from typing import Any

import httpx2
import openai
import pytest
from sqlalchemy import select

from payi_server.store.changes import utcnow
from payi_server.store.engine import Database
from payi_server.store.tables import limit_reservations, limits
from tests.fakes.config import FakeConfig

from .conftest import ProxyEnv

MESSAGES = [{"role": "user", "content": "alpha beta gamma"}]
USAGE = {"prompt_tokens": 1000, "completion_tokens": 100}
COST = 1000 * 0.15e-6 + 100 * 0.6e-6  # gpt-4o-mini


def _db(env: ProxyEnv) -> Database:
    return Database(env.live.settings.sqlalchemy_url, pool_size=1)


def _make_limit(env: ProxyEnv, limit_id: str, maximum: str, limit_type: str = "block", enforcement: str = "default") -> None:
    async def go() -> None:
        db = _db(env)
        now = utcnow()
        try:
            async with db.write() as conn:
                await conn.execute(
                    limits.insert().values(
                        app_id=int(env.live.boot.app["app_id"]), limit_id=limit_id, name=limit_id,
                        limit_type=limit_type, max=Decimal(maximum), threshold=None, enforcement=enforcement,
                        created_at=now, updated_at=now,
                    )
                )
        finally:
            await db.dispose()

    asyncio.run(go())


async def _leased(conn: Any, limit_pk: int) -> Decimal:
    """What the limit's budget leases hold: its ``reserved`` must always equal it (money is conserved)."""
    amounts = await conn.execute(select(limit_reservations.c.amount).where(limit_reservations.c.limit_pk == limit_pk))
    return sum((r.amount for r in amounts.all()), Decimal(0))


def _limit_row(env: ProxyEnv, limit_id: str) -> tuple[Any, Decimal]:
    """The limit's row, and how far its ``reserved`` is from what its leases hold (0 when balanced)."""

    async def go() -> tuple[Any, Decimal]:
        db = _db(env)
        try:
            async with db.read() as conn:
                row = (await conn.execute(select(limits).where(limits.c.limit_id == limit_id))).one()
                return row, row.reserved - await _leased(conn, row.id)
        finally:
            await db.dispose()

    return asyncio.run(go())


def _client(env: ProxyEnv, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-x",
        base_url=env.url("openai") + "/v1",
        default_headers={"xProxy-Api-Key": env.key, "x-fake-usage": json.dumps(USAGE), **headers},
        max_retries=0,
    )


def _settled(env: ProxyEnv, limit_id: str, count: int) -> Any:
    deadline = time.monotonic() + 5
    while True:
        row, held = _limit_row(env, limit_id)
        if (row.count_total >= count and held == 0) or time.monotonic() > deadline:
            return row, held
        time.sleep(0.05)


def test_blocked_call_never_reaches_the_provider(proxy_env: ProxyEnv) -> None:
    _make_limit(proxy_env, "tiny", "0.0003")
    client = _client(proxy_env, **{"xProxy-Limit-IDs": "tiny"})
    first = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=100)
    assert first.model_extra["xproxy_result"]["limits"]["tiny"]["state"] == "ok"
    second = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=100)
    assert second.model_extra["xproxy_result"]["limits"]["tiny"]["state"] == "overrun"
    calls = proxy_env.fake.total
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=100)
    assert proxy_env.fake.total == calls
    body: Any = info.value.body
    assert body["xproxy_error"] == {"code": "limit_reached", "message": "Insufficient limit for the requested operation"}
    assert body["xproxy_result"]["limits"] == {"tiny": {"state": "blocked"}}
    assert body["xproxy_result"]["blocked_limit_ids"] == ["tiny"]
    assert "cost" not in body["xproxy_result"]
    row, held = _settled(proxy_env, "tiny", 3)
    assert (row.count_ok, row.count_overrun, row.count_blocked, row.count_total) == (1, 1, 1, 3)
    assert row.spent_total == Decimal(str(round(2 * COST, 10)))
    assert held == 0 and row.spent_total + row.reserved <= row.max + Decimal(str(round(COST, 10)))


def test_other_limits_of_a_blocked_call_are_blocked_external(proxy_env: ProxyEnv) -> None:
    _make_limit(proxy_env, "spent", "0.0000001")
    _make_limit(proxy_env, "roomy", "10", limit_type="allow")
    _client(proxy_env, **{"xProxy-Limit-IDs": "spent"}).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(openai.BadRequestError) as info:
        _client(proxy_env, **{"xProxy-Limit-IDs": "spent,roomy"}).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES
        )
    body: Any = info.value.body
    assert body["xproxy_result"]["limits"] == {"spent": {"state": "blocked"}, "roomy": {"state": "blocked_external"}}


def test_strict_limit_blocks_a_call_that_would_exceed(proxy_env: ProxyEnv) -> None:
    from payi_server.pricing.book import row_to_version  # noqa: F401 - documents where prices come from
    from payi_server.proxy.estimate import input_tokens

    # Usage as the fake computes it (3 words in, min(max_tokens, 16) out) is below the reservation estimate
    # (tiktoken input count + max_tokens out): strict mode must refuse the second call, whose estimate no
    # longer fits in what is left.
    request = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 100}
    estimate = input_tokens("gpt-4o-mini", request, 0) * 0.15e-6 + 100 * 0.6e-6
    actual = 3 * 0.15e-6 + 16 * 0.6e-6
    _make_limit(proxy_env, "strict", f"{estimate + actual / 2:.10f}", enforcement="strict")
    client = openai.OpenAI(
        api_key="sk-x",
        base_url=proxy_env.url("openai") + "/v1",
        default_headers={"xProxy-Api-Key": proxy_env.key, "xProxy-Limit-IDs": "strict"},
        max_retries=0,
    )
    first = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=100)
    assert first.model_extra["xproxy_result"]["cost"]["total"]["base"] == pytest.approx(actual)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=100)
    row, _ = _settled(proxy_env, "strict", 2)
    assert row.spent_total <= row.max
    assert row.count_blocked == 1


@pytest.mark.parametrize("fake_config", [FakeConfig(stream_chunks=3, hang=True)])
@pytest.mark.parametrize("proxy_overrides", [{"upstream_timeout": 1.0}])
def test_hanging_upstream_gives_504_and_releases_the_reservation(proxy_env: ProxyEnv) -> None:
    _make_limit(proxy_env, "b", "1")
    started = time.monotonic()
    response = httpx2.post(
        proxy_env.url("openai") + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES},
        headers={"xProxy-Api-Key": proxy_env.key, "xProxy-Limit-IDs": "b"},
        timeout=30,
    )
    assert response.status_code == 504
    assert response.json()["xproxy_error"]["code"] == "provider_error"
    assert time.monotonic() - started < 5
    row, held = _settled(proxy_env, "b", 1)
    assert row.count_failed == 1 and held == 0


def test_unreachable_upstream_gives_502(proxy_env: ProxyEnv) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    response = httpx2.post(
        proxy_env.url("openai") + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES},
        headers={"xProxy-Api-Key": proxy_env.key, "xProxy-Provider-BaseUri": f"http://127.0.0.1:{port}/v1"},
    )
    assert response.status_code == 502
    assert response.json()["xproxy_error"]["code"] == "provider_error"
    rows = proxy_env.recorded(1)
    assert rows[0]["failed"] is True and rows[0]["http_status_code"] == 502


@pytest.mark.parametrize("fake_config", [FakeConfig(stream_chunks=20, chunk_delay_ms=30)])
def test_client_disconnecting_mid_stream_is_still_charged(proxy_env: ProxyEnv) -> None:
    _make_limit(proxy_env, "d", "1")
    with httpx2.stream(
        "POST",
        proxy_env.url("openai") + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True},
        headers={"xProxy-Api-Key": proxy_env.key, "xProxy-Limit-IDs": "d", "x-fake-usage": json.dumps(USAGE)},
    ) as response:
        for n, _line in enumerate(response.iter_lines()):
            if n >= 3:
                break  # leave after a few chunks; the connection closes
    row, held = _settled(proxy_env, "d", 1)
    assert row.count_total == 1 and held == 0
    assert row.spent_total == Decimal(str(round(COST, 10)))
    rows = proxy_env.recorded(1)
    assert rows[0]["units"]["text"] == {"input": 1000, "output": 100}


@pytest.mark.parametrize("proxy_overrides", [{"disconnect_drain_timeout": 0.3}])
@pytest.mark.parametrize("fake_config", [FakeConfig(stream_chunks=60, chunk_delay_ms=50)])
def test_a_client_leaving_a_long_stream_stops_the_proxy_reading_after_the_drain(proxy_env: ProxyEnv) -> None:
    """The proxy watches for its client leaving once a stream comes in more than one piece: after the client left,
    it reads on for ``disconnect_drain_timeout`` (the tokens produced meanwhile are charged), then lets the provider
    go, long before the stream's 3 s; the call is recorded all the same."""
    started = time.monotonic()
    with httpx2.stream(
        "POST",
        proxy_env.url("openai") + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True},
        headers={"xProxy-Api-Key": proxy_env.key},
    ) as response:
        for n, _line in enumerate(response.iter_lines()):
            if n >= 3:
                break
    upstream = proxy_env.fake.wait_for(lambda r: r.disconnected, timeout=5)
    assert time.monotonic() - started < 2.0 and not upstream.completed
    assert upstream.chunks_sent < 40
    rows = proxy_env.recorded(1)
    assert len(rows) == 1 and rows[0]["source"] == "proxy"


def test_the_limit_states_of_proxied_calls_are_counted_in_the_metrics(proxy_env: ProxyEnv) -> None:
    """A proxied call's record is written without building its ``xproxy_result`` again (it was answered with one):
    the recorder's counts still see each call and the states of the limits it named."""
    _make_limit(proxy_env, "m", "100")
    for _ in range(2):
        response = httpx2.post(
            proxy_env.url("openai") + "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": MESSAGES},
            headers={"xProxy-Api-Key": proxy_env.key, "xProxy-Limit-IDs": "m"},
        )
        assert response.status_code == 200
    assert len(proxy_env.recorded(2)) == 2
    deadline = time.monotonic() + 5
    while True:
        metrics = httpx2.get(f"{proxy_env.live.url}/metrics").text
        if 'payi_events_recorded_total{source="proxy"} 2.0' in metrics or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert 'payi_events_recorded_total{source="proxy"} 2.0' in metrics
    assert 'payi_limit_states_total{state="ok"} 2.0' in metrics


def _ledger_balances(env: ProxyEnv, limit_id: str) -> None:
    """The sum of recorded costs of the limit's requests equals its spend, and its reserve is what its leases hold."""

    async def go() -> tuple[Decimal, Decimal, Decimal]:
        from sqlalchemy import func

        from payi_server.store.tables import request_limits, requests

        db = _db(env)
        try:
            async with db.read() as conn:
                row = (await conn.execute(select(limits).where(limits.c.limit_id == limit_id))).one()
                total = (
                    await conn.execute(
                        select(func.coalesce(func.sum(requests.c.cost_total), 0))
                        .select_from(requests.join(request_limits, request_limits.c.request_id == requests.c.id))
                        .where(request_limits.c.limit_pk == row.id)
                    )
                ).scalar_one()
                return row.spent_total, Decimal(total), row.reserved - await _leased(conn, row.id)
        finally:
            await db.dispose()

    spent, total, held = asyncio.run(go())
    assert spent == total
    assert held == 0


@pytest.mark.parametrize("fake_config", [FakeConfig(stream_chunks=6, reset_after_chunks=2)])
def test_upstream_reset_mid_stream_is_recorded_and_released(proxy_env: ProxyEnv) -> None:
    _make_limit(proxy_env, "r", "1")
    with pytest.raises(httpx2.HTTPError):
        with httpx2.stream(
            "POST",
            proxy_env.url("openai") + "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True},
            headers={"xProxy-Api-Key": proxy_env.key, "xProxy-Limit-IDs": "r"},
        ) as response:
            for _ in response.iter_lines():
                pass
            raise httpx2.ReadError("stream ended without [DONE]")  # if the proxy closed it cleanly
    row, held = _settled(proxy_env, "r", 1)
    assert row.count_total == 1 and held == 0
    _ledger_balances(proxy_env, "r")


@pytest.mark.parametrize("fake_config", [FakeConfig(stream_chunks=3, garbage=True)])
def test_garbage_from_upstream_passes_through_and_is_recorded(proxy_env: ProxyEnv) -> None:
    _make_limit(proxy_env, "g", "1")
    response = httpx2.post(
        proxy_env.url("openai") + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES},
        headers={"xProxy-Api-Key": proxy_env.key, "xProxy-Limit-IDs": "g"},
    )
    assert response.status_code == 200
    assert "xproxy_result" not in response.text  # not JSON: returned as it came
    row, held = _settled(proxy_env, "g", 1)
    assert row.count_total == 1 and held == 0
    _ledger_balances(proxy_env, "g")
    rows = proxy_env.recorded(1)
    assert rows[0]["units"] == {}


def _azure(env: ProxyEnv, **headers: str) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        api_key="azure-key", api_version="2024-08-01-preview", azure_endpoint=env.url("azure.openai"), max_retries=0,
        default_headers={"xProxy-Api-Key": env.key, "xProxy-Provider-BaseUri": env.fake_url + "/", **headers},
    )


@pytest.mark.parametrize("fake_config", [FakeConfig(azure_deployment_models={"prod-chat": "gpt-4o-mini-2024-07-18"})])
def test_strict_limit_refuses_a_call_it_cannot_price_until_the_model_is_known(proxy_env: ProxyEnv) -> None:
    """Measured before: Azure deployment calls (no model in the body) were admitted with a zero estimate, and 200
    concurrent calls spent 9.6x a strict limit's max. Now a strict limit refuses what it cannot bound, and learns the
    deployment's model from the provider's answers (or takes it from xProxy-PriceAs-Resource)."""
    _make_limit(proxy_env, "strict", "10", enforcement="strict")
    calls = proxy_env.fake.total
    with _azure(proxy_env, **{"xProxy-Limit-IDs": "strict"}) as limited, pytest.raises(openai.BadRequestError) as info:
        limited.chat.completions.create(model="prod-chat", messages=MESSAGES, max_tokens=10)
    body: Any = info.value.body
    assert body["xproxy_error"]["code"] == "limit_estimate_unavailable"
    assert body["xproxy_result"]["limits"] == {"strict": {"state": "blocked"}}
    assert proxy_env.fake.total == calls  # the provider was never called
    # With price-as, the same call is bounded and admitted.
    with _azure(proxy_env, **{"xProxy-Limit-IDs": "strict", "xProxy-PriceAs-Resource": "gpt-4o-mini"}) as priced:
        assert priced.chat.completions.create(model="prod-chat", messages=MESSAGES, max_tokens=10).choices
    # A call without the limit reports the deployment's model; from then on the deployment is estimated with it.
    with _azure(proxy_env) as plain:
        plain.chat.completions.create(model="prod-chat", messages=MESSAGES, max_tokens=10)
    with _azure(proxy_env, **{"xProxy-Limit-IDs": "strict"}) as limited:
        answer = limited.chat.completions.create(model="prod-chat", messages=MESSAGES, max_tokens=10)
    assert answer.model_extra["xproxy_result"]["limits"]["strict"]["state"] == "ok"
    row, held = _settled(proxy_env, "strict", 3)
    assert row.count_blocked == 1 and row.count_ok == 2 and held == 0


@pytest.mark.parametrize("fake_config", [FakeConfig(azure_deployment_models={"prod-chat": "gpt-4o-2024-08-06"})])
def test_a_deployment_mapped_by_an_admin_is_estimated_and_admitted_from_its_first_call(proxy_env: ProxyEnv) -> None:
    """An admin maps the application's Azure deployment to its model (admin API): a strict limit admits the very
    first call to it, estimated as that model; without the mapping the same first call is refused."""
    _make_limit(proxy_env, "strict", "10", enforcement="strict")
    app_id = proxy_env.live.boot.app["app_id"]
    admin = httpx2.Client(base_url=proxy_env.live.url, headers={"xProxy-Api-Key": proxy_env.live.org_key})
    base = f"/api/v1/admin/applications/{app_id}/deployments"
    with _azure(proxy_env, **{"xProxy-Limit-IDs": "strict"}) as limited, pytest.raises(openai.BadRequestError):
        limited.chat.completions.create(model="prod-chat", messages=MESSAGES, max_tokens=10)
    with admin:
        unpriced = admin.put(base + "/prod-chat", json={"model": "no-such-model-anywhere"})
        assert unpriced.status_code == 400 and unpriced.json()["xproxy_error"]["code"] == "resource_not_found"
        assert admin.put("/api/v1/admin/applications/999999/deployments/prod-chat", json={"model": "gpt-4o"}).json()[
            "xproxy_error"]["code"] == "application_not_found"
        # Application keys cannot manage deployments.
        assert admin.put(base + "/prod-chat", json={"model": "gpt-4o"},
                         headers={"xProxy-Api-Key": proxy_env.key}).status_code in (401, 403)
        mapped = admin.put(base + "/prod-chat", json={"model": "gpt-4o"})
        assert mapped.status_code == 200, mapped.text
        assert mapped.json()["deployment"] | {"updated_at": None} == {
            "application_id": str(app_id), "category": "system.azureopenai", "deployment": "prod-chat",
            "model": "gpt-4o", "updated_at": None,
        }
        assert [d["deployment"] for d in admin.get(base).json()["items"]] == ["prod-chat"]
        with _azure(proxy_env, **{"xProxy-Limit-IDs": "strict"}) as limited:
            answer = limited.chat.completions.create(model="prod-chat", messages=MESSAGES, max_tokens=10)
        assert answer.model_extra["xproxy_result"]["limits"]["strict"]["state"] == "ok"
        assert admin.delete(base + "/prod-chat").status_code == 200
        assert admin.delete(base + "/prod-chat").json()["xproxy_error"]["code"] == "deployment_not_found"
        assert admin.get(base).json()["items"] == []
    row, held = _settled(proxy_env, "strict", 2)
    assert row.count_blocked == 1 and row.count_ok == 1 and held == 0
    recorded = proxy_env.recorded(2)
    assert recorded[-1]["resource"] == "gpt-4o-2024-08-06"  # what the provider reported is what is recorded


def test_default_limit_admits_a_call_it_cannot_price(proxy_env: ProxyEnv) -> None:
    """Default mode keeps Pay-i's rule (admit while spend is under max) with a zero hold for what it cannot price."""
    _make_limit(proxy_env, "loose", "10")
    with _azure(proxy_env, **{"xProxy-Limit-IDs": "loose"}) as client:
        answer = client.chat.completions.create(model="unmapped-deployment", messages=MESSAGES)
    assert answer.model_extra["xproxy_result"]["limits"]["loose"]["state"] == "ok"
