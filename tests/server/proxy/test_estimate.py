"""The reservation estimate of a proxied call is an upper bound of what the call is charged (strict limits depend
on it), and computing it never stalls the event loop."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from payi_server.pricing.cost import LARGE_CONTEXT_UNITS, price_call, price_one, price_units
from payi_server.pricing.catalog import LARGE_CONTEXT_SUFFIX, Catalog, PriceVersion, UnitPrice
from payi_server.pricing.seed import load_seed
from payi_server.proxy import estimate as E

NOW = datetime.now(UTC)


@cache
def _catalog() -> Catalog:
    return Catalog(load_seed())


def _version(category: str, model: str) -> PriceVersion:
    version = _catalog().resolve(category, model, NOW)
    assert version is not None, (category, model)
    return version


def _chat(model: str, text: str, messages: int = 1, **extra: Any) -> tuple[dict[str, Any], int]:
    request = {"model": model, "messages": [{"role": "user", "content": text}] * messages, **extra}
    return request, len(json.dumps(request).encode())


def _words(size: int, seed: int = 7) -> str:
    """About ``size`` characters of varied lower-case words (realistic tokenization work, not one repeated token)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(4000)]
    out: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(vocabulary)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)


# --- output tokens ---------------------------------------------------------------------------------------------


def test_gpt4o_without_max_tokens_holds_at_least_its_maximum_output() -> None:
    """Measured: a gpt-4o call with 16,384 completion tokens spent $0.164 on a $0.10 strict limit (held: 4,096)."""
    version = _version("system.openai", "gpt-4o")
    request, size = _chat("gpt-4o", "write me a very long story")
    estimate = E.estimate_cost("gpt-4o", request, size, version)
    prompt = E.input_tokens("gpt-4o", request, size)
    spent = price_units({"text": {"input": prompt, "output": 16_384}}, version.units).total
    assert spent.quantize(Decimal("0.001")) == Decimal("0.164")
    assert estimate >= spent
    assert estimate > Decimal("0.10")  # that strict limit now refuses the call instead of overrunning


def test_output_bound_is_the_window_minus_the_input_but_never_below_the_cap_floor() -> None:
    gpt4o = _version("system.openai", "gpt-4o")  # 128k window: the whole window (it is below the cap)
    assert gpt4o.max_input_units == 128_000
    assert E.output_tokens(None, gpt4o, 1_000) == 128_000
    sonnet = _version("system.anthropic", "claude-sonnet-4-6")  # 1M window
    assert sonnet.max_input_units == 1_000_000
    assert E.output_tokens(None, sonnet, 10_000) == 990_000
    # an input count above the window (a byte count overcounts tokens) leaves the cap as the floor
    assert E.output_tokens(None, sonnet, 2_000_000) == E.OUTPUT_TOKENS_CAP
    assert E.output_tokens(None, sonnet, 999_000) == E.OUTPUT_TOKENS_CAP


def test_output_bound_without_a_known_window_is_the_documented_cap() -> None:
    unknown = dataclasses.replace(_version("system.openai", "gpt-4o"), max_input_units=None)
    assert E.output_tokens(None, unknown, 50) == E.OUTPUT_TOKENS_CAP == 131_072
    assert E.output_tokens(None, None, 50) == E.OUTPUT_TOKENS_CAP
    assert E.OUTPUT_TOKENS_CAP >= 128_000  # the largest published maximum output of current models


@pytest.mark.parametrize(
    ("request_json", "expected"),
    [
        ({"max_tokens": 100}, 100),
        ({"max_completion_tokens": 300}, 300),
        ({"max_output_tokens": 70}, 70),
        ({"max_tokens": 100, "max_completion_tokens": 300}, 300),  # several: the largest
        ({"inferenceConfig": {"maxTokens": 55}}, 55),  # Bedrock Converse
        ({"inferenceConfig": {"max_new_tokens": 44}}, 44),  # Amazon Nova InvokeModel
        ({"max_gen_len": 33}, 33),  # Meta Llama InvokeModel
        ({"textGenerationConfig": {"maxTokenCount": 22}}, 22),  # Amazon Titan InvokeModel
        ({"max_tokens": 1_000_000}, 1_000_000),  # above the model's limit: as given (the provider refuses it)
        ({"max_tokens": 100, "n": 3}, 300),  # OpenAI n: every completion is billed
        ({"max_tokens": 100, "n": 2, "best_of": 5}, 500),  # legacy completions bill best_of completions
    ],
)
def test_requested_output_limits(request_json: dict[str, Any], expected: int) -> None:
    assert E.output_tokens(request_json, _version("system.openai", "gpt-4o"), 10) == expected


@pytest.mark.parametrize(
    "request_json",
    [
        {},
        {"max_tokens": True},
        {"max_tokens": 0},
        {"max_tokens": -5},
        {"max_tokens": 12.5},
        {"max_tokens": "100"},
        {"inferenceConfig": {"maxTokens": False}},
        {"inferenceConfig": "100"},
    ],
)
def test_no_usable_output_limit_falls_back_to_the_bound(request_json: dict[str, Any]) -> None:
    version = _version("system.openai", "gpt-4o")
    assert E.output_tokens(request_json, version, 10) == E.output_bound(version, 10) == 128_000


def test_n_multiplies_the_bound_too() -> None:
    version = _version("system.openai", "gpt-4o")
    assert E.output_tokens({"n": 2}, version, 10) == 2 * 128_000


# --- large-context tiers ---------------------------------------------------------------------------------------


def test_prompt_above_the_threshold_is_priced_at_the_large_context_tier() -> None:
    version = _version("system.anthropic", "claude-sonnet-4-5")
    assert version.large_context_threshold == 200_000
    tier, base = version.units["text_large_context"], version.units["text"]
    assert tier.input_price is not None and base.input_price is not None
    assert tier.input_price > base.input_price
    request, size = _chat("claude-sonnet-4-5", "x" * 250_000, max_tokens=1_000)
    assert size > 200_000  # no Anthropic tokenizer here: the byte count is the input count
    estimate = E.estimate_cost("claude-sonnet-4-5", request, size, version)
    at_tier = price_units({"text_large_context": {"input": size, "output": 1_000}}, version.units).total
    at_base = price_units({"text": {"input": size, "output": 1_000}}, version.units).total
    assert estimate >= at_tier > at_base
    # just below the threshold the tier is not held (the prices are the base units')
    below = E.price_estimate(version, request, 199_999)
    assert below < E.price_estimate(version, request, 200_000)
    flat = dataclasses.replace(version, large_context_threshold=None)
    assert below == E.price_estimate(flat, request, 199_999)


def test_tiktoken_counted_prompt_above_the_threshold_uses_the_tier() -> None:
    version = _version("system.openai", "gpt-5.4")
    assert version.large_context_threshold is not None
    request, size = _chat("gpt-5.4", _words(1_600_000), max_completion_tokens=100)
    count = E.estimated_input_tokens("gpt-5.4", request, size)
    assert count >= version.large_context_threshold
    tier = version.units["text_large_context"]
    assert tier.input_price is not None and tier.output_price is not None
    at_tier = tier.input_price * count + tier.output_price * 100
    assert E.estimate_cost("gpt-5.4", request, size, version) >= at_tier


def test_the_version_threshold_decides_and_the_sdk_200k_rule_only_without_one() -> None:
    """The server applies a version's threshold however the units are named; a version without one prices
    ``_large_context`` units as named, which the Pay-i SDK sends from 200k input tokens."""
    version = _version("system.openai", "gpt-5.4")
    threshold = version.large_context_threshold
    assert threshold is not None and threshold > 200_000
    assert E.large_context_threshold(version) == threshold
    haiku = _version("system.anthropic", "claude-haiku-5-5")  # its own, lower threshold stands
    assert haiku.large_context_threshold is not None and haiku.large_context_threshold < 200_000
    assert E.large_context_threshold(haiku) == haiku.large_context_threshold
    untiered = dataclasses.replace(version, large_context_threshold=None)
    assert E.large_context_threshold(untiered) == 200_000
    assert E.large_context_threshold(dataclasses.replace(untiered, units={})) is None


def test_highest_token_prices_are_held() -> None:
    """Cache writes (dearer than plain input) and audio output are token units the usage may be reported in."""
    sonnet = _version("system.anthropic", "claude-sonnet-4-6")
    price = E.highest_prices(sonnet, large_context=False)
    assert price.input_price == sonnet.units["text_cache_write_1h"].input_price
    assert price.output_price == sonnet.units["text"].output_price
    realtime = _version("system.openai", "gpt-4o-realtime-preview")
    audio = realtime.units["audio"].output_price
    assert E.highest_prices(realtime, large_context=False).output_price == audio
    # per-request units (web search: $0.01 a search) are not token prices
    search = sonnet.units["web_search_request"].output_price
    assert price.output_price is not None and search is not None and price.output_price < search


def _token_units(version: PriceVersion, side: str) -> list[str]:
    return [
        unit
        for unit, price in version.units.items()
        if unit in LARGE_CONTEXT_UNITS and getattr(price, f"{side}_price") is not None
    ]


def _split(rng: random.Random, total: int, units: list[str]) -> dict[str, int]:
    if not units or total == 0:
        return {}
    cuts = sorted(rng.randint(0, total) for _ in range(len(units) - 1))
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    return dict(zip(units, parts, strict=True))


def test_every_catalog_version_holds_at_least_any_usage_within_the_counts() -> None:
    """For every managed resource version: usage with at most the estimated input and output tokens, split over
    any of its token units and named large-context by the version's threshold or the SDK's 200k rule, never costs
    more than the estimate."""
    rng = random.Random(20240607)
    checked = 0
    for version in load_seed():
        inputs, outputs = _token_units(version, "input"), _token_units(version, "output")
        if not inputs and not outputs:
            continue
        sizes = {1_000, 150_000, 199_999, 200_000, 260_000}
        if version.large_context_threshold is not None:
            sizes |= {version.large_context_threshold - 1, version.large_context_threshold}
        for size in sorted(sizes):
            request = rng.choice([None, {"max_tokens": rng.randint(1, 50_000)}])
            count = E.estimated_input_tokens(version.resource, request, size)
            estimate = E.estimate_cost(version.resource, request, size, version)
            output = E.output_tokens(request, version, count)
            for _ in range(3):
                units: dict[str, dict[str, int]] = {}
                for unit, n in _split(rng, rng.randint(0, count), inputs).items():
                    units.setdefault(unit, {})["input"] = n
                for unit, n in _split(rng, rng.randint(0, output), outputs).items():
                    units.setdefault(unit, {})["output"] = n
                # as sent (plain), and as the Pay-i SDK names Anthropic usage (tagged from 200k): the server then
                # applies the version's own rule
                tagged = {unit + LARGE_CONTEXT_SUFFIX: sides for unit, sides in units.items()}
                for sent in (units, tagged if sum(s.get("input", 0) for s in units.values()) >= 200_000 else units):
                    cost = price_call(sent, version)[1].total
                    assert cost <= estimate, (version.category, version.resource, size, sent)
                    checked += 1
    assert checked > 10_000


def test_no_version_cannot_be_priced_before_the_call() -> None:
    request, size = _chat("gpt-4o", "hi")
    assert E.estimate_cost("gpt-4o", request, size, None) == Decimal(0)
    assert asyncio.run(E.estimate_cost_async("gpt-4o", request, size, None)) == Decimal(0)


# --- input tokens ----------------------------------------------------------------------------------------------


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@hypothesis_settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_TEXT, _TEXT), min_size=1, max_size=6), st.sampled_from(["gpt-4o", "gpt-4"]))
def test_remembered_short_counts_are_the_tokenizers_counts(
    messages: list[tuple[str, str]], model: str
) -> None:
    """Short strings' counts are remembered (roles, types, names repeat in every request): the count stays what
    tiktoken gives for each string, whether a string is new, remembered, or past the size remembered."""
    request = {"model": model, "messages": [{"role": role, "content": text} for role, text in messages]}
    enc = E.encoding(E.encoding_for(model) or "")
    direct = sum(len(enc.encode_ordinary(t)) for t in E._texts([request["messages"]]))
    expected = direct + E._PER_MESSAGE_OVERHEAD * len(messages) + 3
    assert E.input_tokens(model, request, 0) == expected
    assert E.input_tokens(model, request, 0) == expected  # now from what was remembered
    assert all(len(text) <= E.SHORT_TEXT for counts in E._SHORT_COUNTS.values() for text in counts)


def test_remembered_short_counts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(E, "_SHORT_COUNTS", {})
    monkeypatch.setattr(E, "SHORT_COUNTS_MAX", 5)
    request = {"model": "gpt-4o", "messages": [{"role": "user", "content": f"w{i}"} for i in range(20)]}
    enc = E.encoding("o200k_base")
    expected = sum(len(enc.encode_ordinary(t)) for t in E._texts([request["messages"]])) + 4 * 20 + 3
    assert E.input_tokens("gpt-4o", request, 0) == expected
    assert len(E._SHORT_COUNTS["o200k_base"]) == 5


def test_input_count_never_exceeds_the_body_size() -> None:
    request, size = _chat("gpt-4o", "hello there", messages=50)
    assert E.input_tokens("gpt-4o", request, size) <= size  # a real body: tokens are at least a byte each
    assert E.estimated_input_tokens("gpt-4o", request, 40) == 40
    # a size of 0 means "unknown": no bound from it
    assert E.estimated_input_tokens("gpt-4o", request, 0) == E.input_tokens("gpt-4o", request, 0)


def test_above_8_mib_the_byte_count_is_used_without_tokenizing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> int:
        raise AssertionError("tokenized a body above BYTES_ONLY_ABOVE")

    monkeypatch.setattr(E, "input_tokens", refuse)
    request = {"model": "gpt-4o", "messages": [{"role": "user", "content": "stands for a huge body"}]}
    size = E.BYTES_ONLY_ABOVE + 1
    assert E.BYTES_ONLY_ABOVE == 8 * 1024 * 1024
    assert E.estimated_input_tokens("gpt-4o", request, size) == size
    version = _version("system.openai", "gpt-4o")
    sync = E.estimate_cost("gpt-4o", request, size, version)
    assert asyncio.run(E.estimate_cost_async("gpt-4o", request, size, version)) == sync
    assert sync == E.price_estimate(version, request, size)


# --- async -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "model", "text", "messages"),
    [
        ("system.openai", "gpt-4o", "how much is the fish", 1),
        ("system.openai", "gpt-4o-mini", "x y z " * 20_000, 3),  # > 32 KiB: tokenized in a worker thread
        ("system.openai", "gpt-4.1", _words(1_000_000), 1),
        ("system.anthropic", "claude-sonnet-4-5", "b" * 300_000, 1),  # no tokenizer: bytes, above the tier
        ("system.aws.bedrock", "anthropic.claude-3-haiku-20240307-v1:0", "c", 1),
    ],
)
async def test_async_estimate_equals_the_sync_one(
    category: str, model: str, text: str, messages: int
) -> None:
    version = _version(category, model)
    for name in ("o200k_base", "cl100k_base"):  # built: before, the async estimate counts bytes (next tests)
        await asyncio.to_thread(E.encoding, name)
    for extra in ({}, {"max_tokens": 123}):
        request, size = _chat(model, text, messages, **extra)
        assert await E.estimate_cost_async(model, request, size, version) == E.estimate_cost(
            model, request, size, version
        )


async def test_large_bodies_and_a_first_encoding_use_are_tokenized_off_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[threading.Thread] = []
    counted: Callable[[str, Mapping[str, Any] | None, int], int] = E.estimated_input_tokens

    def spy(model: str, request: Mapping[str, Any] | None, body_size: int) -> int:
        threads.append(threading.current_thread())
        return counted(model, request, body_size)

    monkeypatch.setattr(E, "estimated_input_tokens", spy)
    version = _version("system.openai", "gpt-4o")
    await asyncio.to_thread(E.encoding, "o200k_base")
    small, small_size = _chat("gpt-4o", "small")
    large, large_size = _chat("gpt-4o", "large " * 10_000)
    assert small_size <= E.INLINE_TOKENIZE_MAX_BYTES < large_size
    await E.estimate_cost_async("gpt-4o", small, small_size, version)
    await E.estimate_cost_async("gpt-4o", large, large_size, version)
    await E.estimate_cost_async("gpt-4o", small, 0, version)  # size unknown
    claude = _version("system.anthropic", "claude-sonnet-4-5")
    # no tokenizer for Claude: bytes only, nothing to move off the loop
    await E.estimate_cost_async("claude-sonnet-4-5", large, large_size, claude)
    monkeypatch.setattr(E, "_LOADED_ENCODINGS", set())  # as if o200k_base were not built yet
    await E.estimate_cost_async("gpt-4o", small, small_size, version)
    main = threading.current_thread()
    assert [t is main for t in threads] == [True, False, False, True, False]


def test_a_quick_estimate_does_not_wait_for_an_encodings_first_build() -> None:
    """Measured before: the first calls naming a limit after a start waited for the o200k_base build (most of a
    second), so every start had a stall (p99 550-760 ms in its first two seconds under load). A quick estimate
    (the proxy's first) counts a body by its bytes (an upper bound), before the build and after it: it never
    tokenizes, and starts no build; ``prepare_exact`` (the gate's, near a limit's max) starts it in the background.
    An exact one waits for the build and tokenizes. A fresh interpreter, where nothing has built the encoding yet."""
    script = """
import asyncio, json, time
from payi_server.proxy import estimate as E
from datetime import UTC, datetime
from payi_server.pricing.catalog import Catalog
from payi_server.pricing.seed import load_seed
async def main():
    version = Catalog(load_seed()).resolve("system.openai", "gpt-4o", datetime.now(UTC))
    request = {"model": "gpt-4o", "max_tokens": 10, "messages": [{"role": "user", "content": "hello " * 500}]}
    size = len(json.dumps(request))
    first = await E.estimate_async("gpt-4o", request, size, version, exact=False)
    quick_started = sorted(E._BUILDS)
    E.prepare_exact("gpt-4o", request, size)
    started = sorted(E._BUILDS)
    exact = await E.estimate_async("gpt-4o", request, size, version)
    E._BUILDS["o200k_base"].join(60)
    second = await E.estimate_async("gpt-4o", request, size, version, exact=False)
    print(json.dumps({"size": size, "first": first[1]["text"]["input"], "second": second[1]["text"]["input"],
                      "quick_started": quick_started, "started": started, "cheaper": exact[0] < second[0],
                      "exact": exact[1]["text"]["input"],
                      "counted": E.input_tokens("gpt-4o", request, size)}))
asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["quick_started"] == []  # a quick estimate builds nothing (the gate prepares near a limit's max)
    assert got["started"] == ["o200k_base"]  # prepare_exact starts the build in the background
    assert got["first"] == got["size"]  # bytes before the encoding was built
    assert got["second"] == got["size"]  # and after: a quick estimate never tokenizes
    assert got["exact"] == got["counted"] < got["size"]  # the exact estimate waited for the build and tokenized
    assert got["cheaper"]


def test_concurrent_first_uses_of_an_encoding_build_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Measured before: 50 connections' first limited calls each built o200k_base in its own worker thread (most
    of a second of GIL each), so a fresh process stalled for seconds (p99 2 s). One build, whoever asks."""
    builds: list[str] = []
    real = E.tiktoken.Encoding

    def counting(*args: Any, **kwargs: Any) -> Any:
        builds.append(kwargs["name"])
        return real(*args, **kwargs)

    monkeypatch.setattr(E.tiktoken, "Encoding", counting)
    monkeypatch.setattr(E, "_LOADED_ENCODINGS", set())
    E._build.cache_clear()
    start = threading.Barrier(6)
    got: list[Any] = []

    def first_use() -> None:
        start.wait()
        got.append(E.encoding("cl100k_base"))

    threads = [threading.Thread(target=first_use) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    E._build.cache_clear()  # the next test builds a real one again, outside this monkeypatch
    assert builds == ["cl100k_base"]
    assert len(got) == 6 and all(enc is got[0] for enc in got)
    assert len(got[0].encode_ordinary("hello world")) == 2


async def test_event_loop_keeps_ticking_while_a_multi_mb_body_is_estimated() -> None:
    """Measured before: one 52 MB body made /healthz take 2.6 s. A concurrent task's 10 ms sleep loop must keep
    ticking while a ~6 MB body (under the 8 MiB bytes-only size, so it is really tokenized) is estimated."""
    version = _version("system.openai", "gpt-4o")
    request, size = _chat("gpt-4o", _words(1_000_000, seed=3), messages=6)
    assert 5_000_000 < size < E.BYTES_ONLY_ABOVE
    await asyncio.to_thread(E.encoding, "o200k_base")

    async def max_gap_while(work: Callable[[], Any]) -> tuple[float, float, Any]:
        gaps: list[float] = []
        done = False

        async def tick() -> None:
            last = time.perf_counter()
            while not done:
                await asyncio.sleep(0.01)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        result = await work()
        elapsed = time.perf_counter() - started
        done = True
        await ticker
        return max(gaps), elapsed, result

    async def blocking() -> Decimal:
        return E.estimate_cost("gpt-4o", request, size, version)  # what the loop would suffer inline

    async def offloaded() -> Decimal:
        return await E.estimate_cost_async("gpt-4o", request, size, version)

    blocked_gap, tokenize_time, sync = await max_gap_while(blocking)
    assert tokenize_time > 0.1, "the body is too small to tell blocking from not blocking"
    assert blocked_gap >= tokenize_time * 0.9  # the inline estimate stalls the loop for all of it
    gap, _, estimated = await max_gap_while(offloaded)
    assert estimated == sync
    # the worker thread holds the GIL only to build each message's token list; the loop keeps running meanwhile
    assert gap < tokenize_time / 3, (gap, tokenize_time)



def test_a_failed_tokenizer_build_is_tried_again_only_after_a_growing_wait(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A build that fails (here: an encoding that does not exist) is logged and retried, but not on every call:
    the next try waits, twice as long after each failure."""
    monkeypatch.setattr(E, "_BUILDS", {})
    monkeypatch.setattr(E, "_RETRY_AT", {})
    monkeypatch.setattr(E, "BUILD_RETRY_FIRST", 0.3)
    caplog.set_level("ERROR", logger="payi_server.proxy")

    def failures() -> int:
        return sum("tokenizer failed" in r.getMessage() for r in caplog.records)

    E.build_in_background("no_such_encoding")
    first = E._BUILDS["no_such_encoding"]
    first.join(10)
    assert failures() == 1 and E._RETRY_AT["no_such_encoding"][1] == 0.3
    for _ in range(20):  # calls during the wait start nothing
        E.build_in_background("no_such_encoding")
    assert E._BUILDS["no_such_encoding"] is first and failures() == 1
    time.sleep(0.35)
    E.build_in_background("no_such_encoding")
    second = E._BUILDS["no_such_encoding"]
    assert second is not first
    second.join(10)
    assert failures() == 2 and E._RETRY_AT["no_such_encoding"][1] == 0.6
    assert "no_such_encoding" not in E._LOADED_ENCODINGS


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    model=st.sampled_from(["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "not-a-model"]),
    text=st.text(max_size=300),
    max_tokens=st.none() | st.integers(-5, 100_000),
    n=st.none() | st.integers(0, 5),
    size_delta=st.integers(-10**6, 10**6),
)
def test_the_quick_estimate_is_what_estimate_async_gives_without_exact(
    model: str, text: str, max_tokens: int | None, n: int | None, size_delta: int
) -> None:
    """``quick_estimate`` (the proxy's usual estimate, with no coroutine) gives exactly what ``estimate_async``
    gives when not ``exact``, where it counts bytes; elsewhere it gives way (``None``) to the tokenizing path."""
    version = _version("system.openai", "gpt-4o")
    request: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}]}
    if max_tokens is not None:
        request["max_tokens"] = max_tokens
    if n is not None:
        request["n"] = n
    size = max(-1, len(json.dumps(request)) + size_delta)
    quick = E.quick_estimate(model, request, size, version)
    if not E.counts_bytes_for_now(model, request, size):
        assert quick is None
        return
    assert quick is not None
    assert quick == asyncio.run(E.estimate_async(model, request, size, version, exact=False))
    assert quick[1]["text"]["input"] == size
    assert quick[0] == E.price_estimate(version, request, size)


_price = st.none() | st.decimals(min_value=0, max_value=1, places=12, allow_nan=False, allow_infinity=False)


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    prices=st.tuples(_price, _price, _price, _price),
    threshold=st.none() | st.integers(0, 300_000),
    input_count=st.integers(-3, 10**9),
    output_count=st.integers(-3, 10**7),
)
def test_an_estimate_priced_in_whole_units_equals_price_one(
    prices: tuple[Decimal | None, ...], threshold: int | None, input_count: int, output_count: int
) -> None:
    """Where the highest prices are whole numbers of 1e-10 USD, ``_priced`` sums in integers. It gives the very
    ``Decimal`` ``price_one`` gives (value and exponent), on both sides of a large-context threshold; prices with
    more places (not whole) go through ``price_one`` itself, and agree by construction."""
    text_in, text_out, large_in, large_out = prices
    version = PriceVersion(
        category="system.custom", resource="m", start_timestamp=NOW,
        units={"text": UnitPrice(text_in, text_out), "text" + LARGE_CONTEXT_SUFFIX: UnitPrice(large_in, large_out)},
        large_context_threshold=threshold,
    )
    rule = E.large_context_threshold(version)  # without a threshold of its own, the SDK's 200k
    large = rule is not None and input_count >= rule
    expected = price_one(E.highest_prices(version, large_context=large), input_count, output_count)
    got = E._priced(version, input_count, output_count)
    assert got == expected
    assert got.as_tuple() == expected.as_tuple()


def _reference_output_limit(request: Mapping[str, Any]) -> int | None:
    """The rule, written plainly: every positive int among the top-level keys and the nested configs' keys."""
    def counts(value: object) -> bool:
        return type(value) is int and value > 0

    found = [request[k] for k in ("max_completion_tokens", "max_tokens", "max_output_tokens", "max_gen_len")
             if k in request and counts(request[k])]
    for outer, keys in (("inferenceConfig", ("maxTokens", "max_new_tokens")), ("textGenerationConfig", ("maxTokenCount",))):
        config = request.get(outer)
        if isinstance(config, Mapping):
            found += [config[k] for k in keys if k in config and counts(config[k])]
    return max(found, default=None)


_limit_value = st.none() | st.booleans() | st.integers(-3, 10**7) | st.floats(allow_nan=False) | st.text(max_size=3)
_limit_keys = st.sampled_from(
    ["max_completion_tokens", "max_tokens", "max_output_tokens", "max_gen_len", "n", "best_of", "model", "other"]
)


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    top=st.dictionaries(_limit_keys, _limit_value, max_size=6),
    nested=st.dictionaries(
        st.sampled_from(["inferenceConfig", "textGenerationConfig"]),
        st.dictionaries(st.sampled_from(["maxTokens", "max_new_tokens", "maxTokenCount", "x"]), _limit_value)
        | _limit_value,
        max_size=2,
    ),
)
def test_requested_output_limit_and_completions_follow_the_plain_rule(
    top: dict[str, Any], nested: dict[str, Any]
) -> None:
    request = {**top, **nested}
    assert E.requested_output_limit(request) == _reference_output_limit(request)
    def count(key: str) -> int:
        value = request.get(key)
        return value if type(value) is int and value > 0 else 1
    assert E.completions(request) == max(count("n"), count("best_of"))
