"""Cost arithmetic: unit counts x unit prices -> the cost of one event, in ``Decimal`` USD.

``cost.input = sum(units[u].input * price[u].input_price)``, ``cost.output`` likewise, each quantized to the ledger
precision (1e-10 USD, half-even), and ``total = input + output``. A nonzero count whose side has no price is never
priced 0: it is listed in ``unknown_units`` and adds nothing, so callers can flag, alert or block on it. A price
explicitly set to 0 is a price: those units cost nothing and are not unknown.

Large-context tiers follow the catalog, whoever produced the units (:func:`apply_tier_rule`): a resource version with
a ``large_context_threshold`` prices a call whose input tokens are *above* it at its ``<unit>_large_context``
prices, and a call at or below it at the plain prices, whatever the units were named when they arrived (the Pay-i
SDK names Anthropic units ``_large_context`` from 200k input tokens for every model, the official SDK too; our proxy
adapters and raw ingest may name them either way). The threshold counts every input-side token: uncached, cache
reads and cache writes, as the providers and genai-prices (``Usage.input_tokens``) do. :func:`price_call` applies the
rule and prices the result; the recorded units are the renamed ones, so a request shows what was priced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Protocol

from .catalog import LARGE_CONTEXT_SUFFIX, UnitPrice

__all__ = (
    "LARGE_CONTEXT_UNITS",
    "LEDGER_QUANTUM",
    "Cost",
    "UnitCounts",
    "cost_to_wire",
    "apply_tier_rule",
    "price_call",
    "price_units",
)

LEDGER_QUANTUM = Decimal("1e-10")
"""The ledger's precision: every event's input and output cost is rounded to this (USD)."""

_ZERO = Decimal(0)
# Room for any count times any price without rounding: the default 28 digits made quantize() raise
# InvalidOperation (a 500) on a large count or price. Callers bound the result (``store.types.MAX_AMOUNT``).
_EXACT = Context(prec=80, rounding=ROUND_HALF_EVEN)  # its quantize() rounds as the ledger does

UnitCounts = Mapping[str, Mapping[str, int | None] | int]
"""``{unit: {"input": n, "output": n}}`` as ingested; a bare int (a known SDK bug) counts as input."""


@dataclass(frozen=True, slots=True)
class Cost:
    """The priced cost of one event, in USD."""

    input: Decimal
    output: Decimal
    total: Decimal
    unknown_units: dict[str, dict[str, int]] = field(default_factory=dict)
    """Units sent with a nonzero count on a side that has no price: ``{unit: {"input"|"output": count}}``."""


def _count(unit: str, side: str, value: object) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"unit {unit!r}: {side} count must be a non-negative integer, got {value!r}")
    return value


def price_units(units: UnitCounts, prices: Mapping[str, UnitPrice]) -> Cost:
    """Price unit counts with a resource version's unit prices.

    >>> from decimal import Decimal
    >>> haiku = {"text": UnitPrice(Decimal("0.00000025"), Decimal("0.00000125"))}
    >>> price_units({"text": {"input": 50, "output": 100}}, haiku).total
    Decimal('0.0001375000')
    """
    # Every operation names the exact context (entering ``localcontext`` per call was a third of the pricing time).
    multiply, add = _EXACT.multiply, _EXACT.add
    input_cost = _ZERO
    output_cost = _ZERO
    unknown: dict[str, dict[str, int]] = {}
    for unit, counts in units.items():
        sides = {"input": counts} if isinstance(counts, int) else counts
        price = prices.get(unit)
        for side, value in sides.items():
            if value is None or value == 0:
                continue
            count = _count(unit, side, value)
            if side == "input":
                unit_price = price.input_price if price is not None else None
                if unit_price is not None:
                    input_cost = add(input_cost, multiply(unit_price, count))
                    continue
            elif side == "output":
                unit_price = price.output_price if price is not None else None
                if unit_price is not None:
                    output_cost = add(output_cost, multiply(unit_price, count))
                    continue
            else:
                raise ValueError(f"unit {unit!r}: unknown side {side!r} (expected 'input' or 'output')")
            unknown.setdefault(unit, {})[side] = count
    input_cost = _EXACT.quantize(input_cost, LEDGER_QUANTUM)
    output_cost = _EXACT.quantize(output_cost, LEDGER_QUANTUM)
    return Cost(input=input_cost, output=output_cost, total=add(input_cost, output_cost), unknown_units=unknown)


def price_one(price: UnitPrice, input_count: int, output_count: int) -> Decimal:
    """The total ``price_units`` gives for one unit's counts (each side rounded alike), without its walk over units
    and sides: the proxy's estimates price one unit per call.

    >>> haiku = UnitPrice(Decimal("0.00000025"), Decimal("0.00000125"))
    >>> price_one(haiku, 50, 100) == price_units({"text": {"input": 50, "output": 100}}, {"text": haiku}).total
    True
    """
    return _EXACT.add(_side(price.input_price, input_count), _side(price.output_price, output_count))


_NOTHING = _ZERO.quantize(LEDGER_QUANTUM)  # what a side without a price or a count comes to: 0E-10, as above


def _side(price: Decimal | None, count: int) -> Decimal:
    if price is None or count <= 0:
        return _NOTHING
    return _EXACT.quantize(_EXACT.multiply(price, count), LEDGER_QUANTUM)


def cost_to_wire(cost: Cost) -> dict[str, object]:
    """The ``xproxy_result.cost`` object: JSON numbers (floats) only at the edge, currency lower-case ``usd``."""
    return {
        "currency": "usd",
        "input": {"base": float(cost.input)},
        "output": {"base": float(cost.output)},
        "total": {"base": float(cost.total)},
    }


LARGE_CONTEXT_UNITS = frozenset(
    {
        "text",
        "text_cache_read",
        "text_cache_write",
        "text_cache_write_1h",
        "reasoning",
        "vision",
        "vision_cache_read",
        "video",
        "video_cache_read",
        "audio",
        "audio_cache_read",
        "image",
    }
)
"""Token units whose price can change with the prompt size (requests and guardrail units cannot)."""


def _countable(base: str, prices: Mapping[str, UnitPrice]) -> bool:
    """A unit whose input counts towards the threshold: a token unit, or one the version has a tier price for."""
    return base in LARGE_CONTEXT_UNITS or base + LARGE_CONTEXT_SUFFIX in prices


def apply_tier_rule(
    units: Mapping[str, Mapping[str, int]], prices: Mapping[str, UnitPrice], threshold: int | None
) -> dict[str, dict[str, int]]:
    """The units named as the resource version's large-context rule prices them.

    With a ``threshold``: when the input-side tokens of the call (every token unit's input, tagged or not) are above
    it, each unit the version has a ``<unit>_large_context`` price for is renamed to it; at or below it, each
    ``<unit>_large_context`` the version has a plain price for is renamed to the plain unit. Without a threshold the
    version has no tier: a ``_large_context`` unit it has no price for is priced as the plain unit; one it prices
    (a custom resource's own tier, applied by the sender) keeps its name. Other units keep their names; counts of
    two names that become one are added.

    >>> from decimal import Decimal
    >>> p = {"text": UnitPrice(Decimal(1), Decimal(2)), "text_large_context": UnitPrice(Decimal(2), Decimal(4))}
    >>> apply_tier_rule({"text": {"input": 250_001}}, p, 250_000)
    {'text_large_context': {'input': 250001}}
    >>> apply_tier_rule({"text_large_context": {"input": 250_000}}, p, 250_000)
    {'text': {'input': 250000}}
    """
    total = 0
    for unit, counts in units.items():
        for side, value in counts.items():
            if value is not None:
                _count(unit, side, value)
        if _countable(unit.removesuffix(LARGE_CONTEXT_SUFFIX), prices):
            total += counts.get("input") or 0
    large = threshold is not None and total > threshold
    out: dict[str, dict[str, int]] = {}
    for unit, counts in units.items():
        base = unit.removesuffix(LARGE_CONTEXT_SUFFIX)
        tagged = base + LARGE_CONTEXT_SUFFIX
        name = unit
        if large and tagged in prices and _countable(base, prices):
            name = tagged
        elif unit != base and base in prices and (threshold is not None or tagged not in prices):
            name = base
        if name not in out:
            out[name] = dict(counts)
            continue
        merged = out[name]
        for side, count in counts.items():
            merged[side] = (merged.get(side) or 0) + (count or 0)
    return out


class PricedVersion(Protocol):
    """What pricing needs of a resource version."""

    @property
    def units(self) -> Mapping[str, UnitPrice]: ...

    @property
    def large_context_threshold(self) -> int | None: ...


# A cache write the version has no price for is billed as what it falls back to (the provider charges no premium
# for it): the first of these the version prices. genai-prices prices such tokens the same way.
_CACHE_WRITE_FALLBACK = {
    "text_cache_write_1h": ("text_cache_write", "text"),
    "text_cache_write": ("text",),
}


def _unpriced_cache_writes(
    units: Mapping[str, Mapping[str, int]], prices: Mapping[str, UnitPrice]
) -> Mapping[str, Mapping[str, int]]:
    moved: dict[str, dict[str, int]] | None = None
    for unit, targets in _CACHE_WRITE_FALLBACK.items():
        for name in (unit, unit + LARGE_CONTEXT_SUFFIX):
            counts = (moved or units).get(name)
            if not counts or name in prices or unit in prices or unit + LARGE_CONTEXT_SUFFIX in prices:
                continue
            target = next((t for t in targets if t in prices or t + LARGE_CONTEXT_SUFFIX in prices), None)
            if target is None:
                continue
            if moved is None:
                moved = {k: dict(v) for k, v in units.items()}
            counts = moved.pop(name)
            into = moved.setdefault(target + name.removeprefix(unit), {})
            for side, count in counts.items():
                into[side] = (into.get(side) or 0) + (count or 0)
    return units if moved is None else moved


def price_call(
    units: Mapping[str, Mapping[str, int]], version: PricedVersion
) -> tuple[dict[str, dict[str, int]], Cost]:
    """Apply ``version``'s tier rule to ``units`` and price them: ``(the units as priced, their cost)``. Cache
    writes the version has no price for are priced as the unit they fall back to (``_CACHE_WRITE_FALLBACK``)."""
    named = apply_tier_rule(_unpriced_cache_writes(units, version.units), version.units, version.large_context_threshold)
    return named, price_units(named, version.units)
