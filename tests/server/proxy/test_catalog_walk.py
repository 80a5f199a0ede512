"""The catalog walk (issue 12): every tiered model of the installed genai-prices (below, at and one token above its
tier) and a fixed sample of all other models, through raw ingest and through the proxy (a fake upstream on a
loopback port reporting the usage), compared with genai-prices' own ``calc_price`` to the ledger's precision.

Listed differences (also in docs/pricing.md), which the walk checks are reported unpriced, never as $0:

* genai-prices lists no price for the model (``:free`` and preview entries): unpriced.
* prices per hour of audio, per character or per message (``audio_hours``, ``input_mchars`` ...): no Pay-i unit.
* time-of-day prices (DeepSeek's platform): not borrowed; the unconstrained price applies all day.

OpenAI's ``cache_write_tokens`` are reported as ``text_cache_write`` (not left inside ``text`` input as the official
SDK does): a model with a cache-write price bills them at it, one without prices them as input.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx2

from payi_server.pricing.seed import load_seed
from tests.server.pricing.reference import WalkCase, walk_cases

from .conftest import ProxyEnv

SAMPLE = 80
PROXIED = ("system.openai", "system.anthropic", "system.aws.bedrock", "system.azureopenai")


def _cases() -> list[WalkCase]:
    return walk_cases(((row.category, row.resource) for row in load_seed()), SAMPLE)


def _check(rows: list[dict[str, Any]], cases: list[WalkCase]) -> tuple[int, int]:
    compared = listed = 0
    by_id = {row["provider_response_id"]: row for row in rows}
    for index, case in enumerate(cases):
        row = by_id.get(f"walk-{index}")
        assert row is not None, case
        if case.listed is not None:
            assert row["unpriced"] and row["unknown_units"], (case, row["unknown_units"])
            listed += 1
            continue
        assert not row["unpriced"], (case, row["unknown_units"], row["resource_id"])
        assert (row["cost_input"], row["cost_output"]) == case.reference(), (case, row["units"])
        compared += 1
    return compared, listed


def test_ingest_walk_matches_genai_prices(proxy_env: ProxyEnv) -> None:
    cases = _cases()
    assert sum(c.tiered for c in cases) >= 150  # every tiered model of every managed category, three usages each
    events = [
        {"category": c.category, "resource": c.name, "units": c.units(), "provider_response_id": f"walk-{i}"}
        for i, c in enumerate(cases)
    ]
    response = httpx2.post(
        f"{proxy_env.live.url}/api/v1/ingest/bulk", json=events, headers={"xProxy-api-key": proxy_env.key}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.json()["ingest_count"] == len(cases), response.text
    compared, listed = _check(proxy_env.recorded(len(cases), timeout=30), cases)
    assert compared >= len(cases) - 10 and compared + listed == len(cases)


def _request(env: ProxyEnv, case: WalkCase) -> tuple[str, dict[str, Any], dict[str, str]]:
    """URL, body and headers of a call whose upstream reports the case's usage."""
    headers = {"xProxy-Api-Key": env.key}
    messages = [{"role": "user", "content": "alpha beta"}]
    if case.category == "system.anthropic":
        usage = {
            "input_tokens": case.uncached,
            "output_tokens": case.output,
            "cache_read_input_tokens": case.cache_read,
            "cache_creation_input_tokens": case.cache_write,
        }
        body = {"model": case.name, "max_tokens": max(case.output, 1), "messages": messages}
        return env.url("anthropic") + "/v1/messages", body, {**headers, "x-fake-usage": json.dumps(usage)}
    if case.category == "system.aws.bedrock":
        usage = {
            "inputTokens": case.uncached,
            "outputTokens": case.output,
            "cacheReadInputTokens": case.cache_read,
            "cacheWriteInputTokens": case.cache_write,
        }
        url = env.url("aws.bedrock") + f"/model/{quote(case.name, safe='')}/converse"
        body = {"messages": [{"role": "user", "content": [{"text": "alpha beta"}]}]}
        extra = {"xProxy-Provider-BaseUri": env.fake_url, "x-fake-usage": json.dumps(usage)}
        return url, body, {**headers, **extra}
    usage = {
        "prompt_tokens": case.uncached + case.cache_read + case.cache_write,
        "completion_tokens": case.output,
        "prompt_tokens_details": {"cached_tokens": case.cache_read, "cache_write_tokens": case.cache_write},
    }
    headers["x-fake-usage"] = json.dumps(usage)
    if case.category == "system.azureopenai":
        url = env.url("azure.openai") + f"/openai/deployments/{quote(case.name, safe='')}/chat/completions"
        return url + "?api-version=2024-08-01-preview", {"messages": messages}, {
            **headers,
            "xProxy-Provider-BaseUri": env.fake_url + "/",
        }
    return env.url("openai") + "/v1/chat/completions", {"model": case.name, "messages": messages}, headers


def test_proxy_walk_matches_genai_prices(proxy_env: ProxyEnv) -> None:
    cases = []
    for case in _cases():
        if case.category not in PROXIED:
            continue
        cases.append(case)
    assert sum(c.tiered for c in cases) >= 100
    with httpx2.Client(timeout=30) as client:
        for case in cases:
            url, body, headers = _request(proxy_env, case)
            response = client.post(url, json=body, headers=headers)
            assert response.status_code == 200, (case, response.text)
            result = response.json().get("xproxy_result")
            if case.listed is None and result is not None:
                wire = Decimal(str(result["cost"]["total"]["base"]))
                assert wire == sum(case.reference()), (case, result)
    rows = proxy_env.recorded(len(cases), timeout=30)
    for row, index in zip(rows, range(len(cases)), strict=True):
        row["provider_response_id"] = f"walk-{index}"  # recorded in call order (one call at a time)
    compared, listed = _check(rows, cases)
    assert compared >= len(cases) - 10 and compared + listed == len(cases)
