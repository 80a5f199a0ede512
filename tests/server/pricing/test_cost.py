"""Cost arithmetic, with golden costs worked out by hand from the seeded prices.

Units are written the way the Pay-i SDK sends them: OpenAI ``text`` = {input: prompt - cached, output: completion -
reasoning}, ``text_cache_read`` = {input: cached}, ``reasoning`` = {output: reasoning}; Anthropic ``text`` excludes
cache reads and writes, which come as ``text_cache_read`` / ``text_cache_write`` (5 minutes) / ``text_cache_write_1h``.
Prices below are quoted per million tokens (MTok); the catalog holds them per single token.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payi_server.pricing.cost import (
    LARGE_CONTEXT_UNITS,
    Cost,
    UnitCounts,
    cost_to_wire,
    apply_tier_rule,
    price_call,
    price_one,
    price_units,
)
from payi_server.pricing.catalog import Catalog, UnitPrice

T = datetime(2025, 9, 1, tzinfo=UTC)


def _cost(catalog: Catalog, category: str, resource: str, units: UnitCounts, at: datetime = T) -> Cost:
    row = catalog.resolve(category, resource, at)
    assert row is not None, (category, resource)
    return price_units(units, row.units)


def _assert_cost(cost: Cost, input_: str, output: str, total: str) -> None:
    assert (cost.input, cost.output, cost.total) == (Decimal(input_), Decimal(output), Decimal(total))
    assert cost.unknown_units == {}


# --- golden costs: OpenAI --------------------------------------------------------------------------------------


def test_gpt_4o_with_cached_input(catalog: Catalog) -> None:
    # prompt 1000 tokens of which 400 cached, completion 300. gpt-4o: $2.50 in, $1.25 cached, $10 out
    # input  = 600 x 0.0000025 + 400 x 0.00000125 = 0.0015 + 0.0005 = 0.002
    # output = 300 x 0.00001 = 0.003;  total = 0.005
    units = {"text": {"input": 600, "output": 300}, "text_cache_read": {"input": 400}}
    _assert_cost(_cost(catalog, "system.openai", "gpt-4o-2024-08-06", units), "0.002", "0.003", "0.005")


def test_gpt_4o_mini_with_cached_input(catalog: Catalog) -> None:
    # prompt 2000 of which 1024 cached, completion 500. gpt-4o-mini: $0.15 in, $0.075 cached, $0.60 out
    # input  = 976 x 0.00000015 + 1024 x 0.000000075 = 0.0001464 + 0.0000768 = 0.0002232
    # output = 500 x 0.0000006 = 0.0003;  total = 0.0005232
    units = {"text": {"input": 976, "output": 500}, "text_cache_read": {"input": 1024}}
    _assert_cost(_cost(catalog, "system.openai", "gpt-4o-mini", units), "0.0002232", "0.0003", "0.0005232")


def test_o4_mini_with_cached_input_and_reasoning(catalog: Catalog) -> None:
    # prompt 5000 of which 3000 cached; completion 2500 of which 2000 reasoning.
    # o4-mini: $1.10 in, $0.275 cached, $4.40 out (reasoning is billed as output)
    # input  = 2000 x 0.0000011 + 3000 x 0.000000275 = 0.0022 + 0.000825 = 0.003025
    # output = 500 x 0.0000044 + 2000 x 0.0000044 = 0.0022 + 0.0088 = 0.011;  total = 0.014025
    units = {
        "text": {"input": 2000, "output": 500},
        "text_cache_read": {"input": 3000},
        "reasoning": {"output": 2000},
    }
    _assert_cost(
        _cost(catalog, "system.openai", "o4-mini-2025-04-16", units), "0.003025", "0.011", "0.014025"
    )


def test_o3_is_priced_by_the_version_in_force_at_the_event(catalog: Catalog) -> None:
    units = {
        "text": {"input": 2000, "output": 500},
        "text_cache_read": {"input": 3000},
        "reasoning": {"output": 2000},
    }
    # before 2025-06-10: $10 in, $0.50 cached, $40 out
    # input  = 2000 x 0.00001 + 3000 x 0.0000005 = 0.02 + 0.0015 = 0.0215
    # output = 2500 x 0.00004 = 0.1;  total = 0.1215
    before = _cost(catalog, "system.openai", "o3", units, datetime(2025, 6, 9, 23, 59, 59, tzinfo=UTC))
    _assert_cost(before, "0.0215", "0.1", "0.1215")
    # from 2025-06-10: $2 in, $0.50 cached, $8 out
    # input  = 2000 x 0.000002 + 3000 x 0.0000005 = 0.004 + 0.0015 = 0.0055
    # output = 2500 x 0.000008 = 0.02;  total = 0.0255
    after = _cost(catalog, "system.openai", "o3", units, datetime(2025, 6, 10, tzinfo=UTC))
    _assert_cost(after, "0.0055", "0.02", "0.0255")


# --- golden costs: Anthropic -----------------------------------------------------------------------------------


def test_claude_sonnet_with_cache_reads_and_both_cache_writes(catalog: Catalog) -> None:
    # claude-sonnet-4-5: $3 in, $15 out, $0.30 cache read, $3.75 5-minute write, $6 1-hour write
    # input  = 1000 x 0.000003 + 20000 x 0.0000003 + 4000 x 0.00000375 + 2000 x 0.000006
    #        = 0.003 + 0.006 + 0.015 + 0.012 = 0.036
    # output = 500 x 0.000015 = 0.0075;  total = 0.0435
    units = {
        "text": {"input": 1000, "output": 500},
        "text_cache_read": {"input": 20000},
        "text_cache_write": {"input": 4000},
        "text_cache_write_1h": {"input": 2000},
    }
    _assert_cost(
        _cost(catalog, "system.anthropic", "claude-sonnet-4-5-20250929", units), "0.036", "0.0075", "0.0435"
    )


def test_claude_haiku_with_caches_and_web_search(catalog: Catalog) -> None:
    # claude-haiku-4-5: $1 in, $5 out, $0.10 cache read, $1.25 5m write, $2 1h write, $10 per 1000 searches
    # input  = 12 x 0.000001 + 5000 x 0.0000001 + 1500 x 0.00000125 + 800 x 0.000002
    #        = 0.000012 + 0.0005 + 0.001875 + 0.0016 = 0.003987
    # output = 345 x 0.000005 + 2 x 0.01 = 0.001725 + 0.02 = 0.021725;  total = 0.025712
    units = {
        "text": {"input": 12, "output": 345},
        "text_cache_read": {"input": 5000},
        "text_cache_write": {"input": 1500},
        "text_cache_write_1h": {"input": 800},
        "web_search_request": {"output": 2},
    }
    _assert_cost(
        _cost(catalog, "system.anthropic", "claude-haiku-4-5-20251001", units),
        "0.003987",
        "0.021725",
        "0.025712",
    )


def test_claude_sonnet_large_context(catalog: Catalog) -> None:
    # 150k + 60k + 10k = 220k input tokens > 200k: the SDK sends _large_context units.
    # claude-sonnet-4-5 above 200k: $6 in, $22.50 out, $0.60 cache read, $7.50 5m write
    # input  = 150000 x 0.000006 + 60000 x 0.0000006 + 10000 x 0.0000075 = 0.9 + 0.036 + 0.075 = 1.011
    # output = 1000 x 0.0000225 = 0.0225;  total = 1.0335
    units = {
        "text_large_context": {"input": 150000, "output": 1000},
        "text_cache_read_large_context": {"input": 60000},
        "text_cache_write_large_context": {"input": 10000},
    }
    _assert_cost(_cost(catalog, "system.anthropic", "claude-sonnet-4-5", units), "1.011", "0.0225", "1.0335")


def test_large_context_price_follows_the_version(catalog: Catalog) -> None:
    # claude-sonnet-4-6 had a 200k tier ($6 / $22.50) until 2026-03-13, then one flat price ($3 / $15)
    units = {"text_large_context": {"input": 250000, "output": 2000}}
    # before: 250000 x 0.000006 = 1.5;  2000 x 0.0000225 = 0.045;  total 1.545
    before = _cost(catalog, "system.anthropic", "claude-sonnet-4-6", units, datetime(2026, 3, 12, tzinfo=UTC))
    _assert_cost(before, "1.5", "0.045", "1.545")
    # after: 250000 x 0.000003 = 0.75;  2000 x 0.000015 = 0.03;  total 0.78
    after = _cost(catalog, "system.anthropic", "claude-sonnet-4-6", units, datetime(2026, 3, 13, tzinfo=UTC))
    _assert_cost(after, "0.75", "0.03", "0.78")


# --- golden costs: Bedrock -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["anthropic.claude-3-haiku-20240307-v1:0", "us.anthropic.claude-3-haiku-20240307-v1:0"]
)
def test_bedrock_claude_3_haiku_matches_the_recorded_pay_i_cost(catalog: Catalog, name: str) -> None:
    # recorded from the real Pay-i service: input 1.25e-05, output 0.000125, total 0.0001375
    # claude-3-haiku on Bedrock: $0.25 in, $1.25 out -> 50 x 0.00000025 = 0.0000125; 100 x 0.00000125 = 0.000125
    cost = _cost(catalog, "system.aws.bedrock", name, {"text": {"input": 50, "output": 100}})
    _assert_cost(cost, "0.0000125", "0.000125", "0.0001375")
    assert cost_to_wire(cost) == {
        "currency": "usd",
        "input": {"base": 1.25e-05},
        "output": {"base": 0.000125},
        "total": {"base": 0.0001375},
    }


def test_bedrock_recorded_examples_from_the_spec(catalog: Catalog) -> None:
    # spec section 7: 11 in + 21 out -> 2.75e-06 + 2.625e-05 = 2.9e-05
    small = _cost(
        catalog,
        "system.aws.bedrock",
        "anthropic.claude-3-haiku-20240307-v1:0",
        {"text": {"input": 11, "output": 21}},
    )
    _assert_cost(small, "0.00000275", "0.00002625", "0.000029")
    # spec section 2.6 (proxy, Bedrock invoke): 2.75e-06 + 3.25e-05 = 3.525e-05, i.e. 11 in + 26 out
    proxy = _cost(
        catalog,
        "system.aws.bedrock",
        "anthropic.claude-3-haiku-20240307-v1:0",
        {"text": {"input": 11, "output": 26}},
    )
    assert cost_to_wire(proxy)["total"] == {"base": 3.525e-05}


def test_bedrock_nova_with_cache_read(catalog: Catalog) -> None:
    # amazon.nova-pro: $0.80 in, $0.20 cache read, $3.20 out
    # input  = 1000 x 0.0000008 + 4000 x 0.0000002 = 0.0008 + 0.0008 = 0.0016
    # output = 200 x 0.0000032 = 0.00064;  total = 0.00224
    units = {"text": {"input": 1000, "output": 200}, "text_cache_read": {"input": 4000}}
    _assert_cost(
        _cost(catalog, "system.aws.bedrock", "us.amazon.nova-pro-v1:0", units), "0.0016", "0.00064", "0.00224"
    )
    # the non-streaming Nova path of the SDK sends a bare int for cache keys: same cost
    bare: UnitCounts = {"text": {"input": 1000, "output": 200}, "text_cache_read": 4000}
    _assert_cost(
        _cost(catalog, "system.aws.bedrock", "amazon.nova-pro-v1:0", bare), "0.0016", "0.00064", "0.00224"
    )


# --- golden costs: images --------------------------------------------------------------------------------------


def test_vision_and_image_units(catalog: Catalog) -> None:
    # gpt-4o vision tokens at the text input price: 765 x 0.0000025 = 0.0019125
    _assert_cost(
        _cost(catalog, "system.openai", "gpt-4o", {"vision": {"input": 765}}), "0.0019125", "0", "0.0019125"
    )
    # gpt-image-1 has its own image input price, $10 (text is $5): 1000 x 0.00001 = 0.01
    _assert_cost(
        _cost(catalog, "system.openai", "gpt-image-1", {"vision": {"input": 1000}}), "0.01", "0", "0.01"
    )
    # gemini-2.5-flash-image output images at $30: 1290 x 0.00003 = 0.0387; plus 20 text-in tokens at $0.30
    # = 0.000006
    units = {"text": {"input": 20}, "image": {"output": 1290}}
    _assert_cost(
        _cost(catalog, "system.google.vertex", "gemini-2.5-flash-image", units),
        "0.000006",
        "0.0387",
        "0.038706",
    )


# --- unknown units ---------------------------------------------------------------------------------------------


def test_unknown_units_are_reported_and_add_nothing(catalog: Catalog) -> None:
    units = {
        "text": {"input": 50, "output": 100},
        "guardrail_topic": {"input": 3},  # genai-prices has no guardrail prices
        "text_cache_write": {"input": 500},  # claude-3-haiku on Bedrock: no cache-write price in the data
        "guardrail_content": {"input": 0},  # a zero count is not worth reporting
    }
    cost = _cost(catalog, "system.aws.bedrock", "anthropic.claude-3-haiku-20240307-v1:0", units)
    assert (cost.input, cost.output, cost.total) == (
        Decimal("0.0000125"),
        Decimal("0.000125"),
        Decimal("0.0001375"),
    )
    assert cost.unknown_units == {"guardrail_topic": {"input": 3}, "text_cache_write": {"input": 500}}


def test_a_side_without_a_price_is_unknown() -> None:
    prices = {"text_cache_read": UnitPrice(Decimal("0.0000003"), None)}
    cost = price_units({"text_cache_read": {"input": 10, "output": 5}}, prices)
    assert cost.input == Decimal("0.000003")
    assert cost.output == 0
    assert cost.unknown_units == {"text_cache_read": {"output": 5}}


def test_an_explicit_zero_price_is_a_price() -> None:
    prices = {"text": UnitPrice(Decimal(0), Decimal(0))}
    cost = price_units({"text": {"input": 1000, "output": 1000}}, prices)
    assert cost.total == 0
    assert cost.unknown_units == {}


def test_nothing_priced_is_zero_with_everything_reported() -> None:
    cost = price_units({"text": {"input": 10}}, {})
    assert (cost.input, cost.output, cost.total) == (Decimal(0), Decimal(0), Decimal(0))
    assert cost.unknown_units == {"text": {"input": 10}}


def test_empty_and_null_counts_are_ignored() -> None:
    prices = {"text": UnitPrice(Decimal("0.000001"), Decimal("0.000002"))}
    cost = price_units({"text": {"input": 5, "output": None}, "vision": {}}, prices)
    assert cost.total == Decimal("0.000005")
    assert cost.unknown_units == {}


@pytest.mark.parametrize(
    "units",
    [
        {"text": {"input": -1}},
        {"text": {"input": 1.5}},
        {"text": {"input": "12"}},
        {"text": {"input": True}},
        {"text": -3},
        {"text": {"total": 12}},
    ],
)
def test_invalid_counts_are_rejected(units: UnitCounts) -> None:
    with pytest.raises(ValueError, match="unit 'text'"):
        price_units(units, {"text": UnitPrice(Decimal(1), Decimal(1))})


# --- precision and wire format ---------------------------------------------------------------------------------


def test_each_side_is_quantized_half_even_to_the_ledger_precision() -> None:
    prices = {
        "a": UnitPrice(Decimal("0.00000000015"), Decimal("0.00000000025")),
        "b": UnitPrice(Decimal(0), None),
    }
    # input 1 x 1.5e-10 -> 2e-10 (half to even); output 1 x 2.5e-10 -> 2e-10 (half to even)
    cost = price_units({"a": {"input": 1, "output": 1}}, prices)
    assert (cost.input, cost.output, cost.total) == (Decimal("2E-10"), Decimal("2E-10"), Decimal("4E-10"))
    assert cost.input.as_tuple().exponent == -10
    # the sum is rounded once per side, not per unit: 3 x 1.5e-10 = 4.5e-10 -> 4e-10
    assert price_units({"a": {"input": 3}}, prices).input == Decimal("4E-10")


def test_large_totals_keep_exact_digits() -> None:
    prices = {"text": UnitPrice(Decimal("0.000075"), Decimal("0.00015"))}
    cost = price_units({"text": {"input": 987_654_321_987, "output": 123_456_789_123}}, prices)
    assert cost.input == Decimal("74074074.149025")
    assert cost.output == Decimal("18518518.36845")
    assert cost.total == cost.input + cost.output


def test_cost_to_wire_gives_json_numbers() -> None:
    cost = price_units(
        {"text": {"input": 11, "output": 21}}, {"text": UnitPrice(Decimal("2.5e-7"), Decimal("1.25e-6"))}
    )
    wire = cost_to_wire(cost)
    assert json.loads(json.dumps(wire)) == {
        "currency": "usd",
        "input": {"base": 2.75e-06},
        "output": {"base": 2.625e-05},
        "total": {"base": 2.9e-05},
    }
    assert all(isinstance(wire[side]["base"], float) for side in ("input", "output", "total"))  # type: ignore[index]


# --- large-context tier rule ------------------------------------------------------------------------------------


def test_tier_rule_renames_token_units_above_the_threshold_only() -> None:
    p = UnitPrice(Decimal(1), Decimal(1))
    prices = {
        name: p
        for name in ("text", "text_large_context", "text_cache_read", "text_cache_read_large_context", "web_search_request")
    }
    units = {
        "text": {"input": 150_000, "output": 10},
        "text_cache_read": {"input": 50_001},
        "web_search_request": {"output": 1},
        "guardrail_topic": {"input": 2},
    }
    # 200,001 input tokens (cache reads count) > 200,000: token units move to the tier, the rest keep their names
    assert apply_tier_rule(units, prices, 200_000) == {
        "text_large_context": {"input": 150_000, "output": 10},
        "text_cache_read_large_context": {"input": 50_001},
        "web_search_request": {"output": 1},
        "guardrail_topic": {"input": 2},
    }
    # exactly at the threshold is not above it: tagged units come back to the base prices
    tagged = {"text_large_context": {"input": 199_000}, "text_cache_read_large_context": {"input": 1_000}}
    assert apply_tier_rule(tagged, prices, 200_000) == {"text": {"input": 199_000}, "text_cache_read": {"input": 1_000}}
    # a mix of tagged and untagged names for one unit is added up under the name the rule picks
    mixed = {"text": {"input": 100}, "text_large_context": {"input": 300_000, "output": 5}}
    assert apply_tier_rule(mixed, prices, 200_000) == {"text_large_context": {"input": 300_100, "output": 5}}
    assert apply_tier_rule(mixed, prices, 400_000) == {"text": {"input": 300_100, "output": 5}}
    # no threshold: no tier; a tagged unit the version prices keeps its name (a custom resource's own tier)
    assert apply_tier_rule(mixed, prices, None) == mixed
    assert apply_tier_rule(mixed, {"text": p}, None) == {"text": {"input": 300_100, "output": 5}}
    assert "web_search_request" not in LARGE_CONTEXT_UNITS


def test_tier_rule_rejects_bad_counts_as_pricing_does() -> None:
    with pytest.raises(ValueError):
        apply_tier_rule({"text": {"input": -1}}, {}, 10)
    with pytest.raises(ValueError):
        apply_tier_rule({"text": {"input": True}}, {}, 10)  # type: ignore[dict-item]


def test_the_resource_tier_rule_prices_whatever_names_arrive(catalog: Catalog) -> None:
    # 220k input tokens sent as plain "text" are priced at the tier: the catalog's rule decides, not the sender
    version = catalog.resolve("system.anthropic", "claude-sonnet-4-5", T)
    assert version is not None
    named, cost = price_call({"text": {"input": 220_000}}, version)
    assert named == {"text_large_context": {"input": 220_000}}
    assert cost.input == Decimal("1.32")  # x 0.000006
    named, cost = price_call({"text_large_context": {"input": 200_000}}, version)
    assert named == {"text": {"input": 200_000}}
    assert cost.input == Decimal("0.6")  # x 0.000003


class _Version:
    def __init__(self, units: dict[str, UnitPrice]) -> None:
        self.units = units
        self.large_context_threshold: int | None = None


def test_a_cache_write_without_its_own_price_is_priced_as_what_it_falls_back_to() -> None:
    text = UnitPrice(Decimal("0.000001"), Decimal("0.000004"))
    plain = _Version({"text": text})
    named, cost = price_call({"text": {"input": 100, "output": 10}, "text_cache_write": {"input": 50}}, plain)
    assert named == {"text": {"input": 150, "output": 10}}
    assert cost.total == Decimal("0.00019") and not cost.unknown_units
    premium = _Version({"text": text, "text_cache_write": UnitPrice(Decimal("0.00000125"), None)})
    named, cost = price_call({"text": {"input": 100}, "text_cache_write_1h": {"input": 40}}, premium)
    assert named == {"text": {"input": 100}, "text_cache_write": {"input": 40}}
    assert cost.total == Decimal("0.00015")
    # priced as given where the version has the price
    both = _Version({"text": text, "text_cache_write": UnitPrice(Decimal("0.00000125"), None)})
    named, cost = price_call({"text_cache_write": {"input": 8}}, both)
    assert named == {"text_cache_write": {"input": 8}} and cost.total == Decimal("0.00001")
    # nothing to fall back to: unpriced, never $0 silently
    bare = _Version({"image": UnitPrice(Decimal("0.01"), None)})
    named, cost = price_call({"text_cache_write": {"input": 8}}, bare)
    assert cost.unknown_units == {"text_cache_write": {"input": 8}}


_PRICES = st.one_of(
    st.none(),
    st.decimals(min_value=0, max_value=Decimal(1000), places=12, allow_nan=False, allow_infinity=False),
)
_COUNTS = st.integers(min_value=0, max_value=10**12)


@given(_PRICES, _PRICES, _COUNTS, _COUNTS)
def test_price_one_is_price_units_for_one_unit(
    input_price: Decimal | None, output_price: Decimal | None, input_count: int, output_count: int
) -> None:
    """The proxy's estimates price one unit with ``price_one``: to the last digit what ``price_units`` gives (a
    missing price, or a zero count, adds nothing)."""
    price = UnitPrice(input_price, output_price)
    expected = price_units({"text": {"input": input_count, "output": output_count}}, {"text": price}).total
    got = price_one(price, input_count, output_count)
    assert got == expected
    assert got.as_tuple().exponent == expected.as_tuple().exponent
