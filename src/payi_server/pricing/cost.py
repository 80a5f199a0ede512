"""Cost arithmetic: unit counts x unit prices -> the cost of one event, in ``Decimal`` USD.

``cost.input = sum(units[u].input * price[u].input_price)``, ``cost.output`` likewise, each quantized to the ledger
precision (1e-10 USD, half-even), and ``total = input + output``. A nonzero count whose side has no price is never
priced 0: it is listed in ``unknown_units`` and adds nothing, so callers can flag, alert or block on it. A price
explicitly set to 0 is a price: those units cost nothing and are not unknown.

The server prices exactly the unit names it receives: whether a request counts as "large context" is decided by
whoever produced the units (the Pay-i SDK, or one of our proxy adapters through :func:`to_large_context`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from payi_server.pricing.seed import LARGE_CONTEXT_SUFFIX, UnitPrice

__all__ = (
    "LARGE_CONTEXT_UNITS",
    "LEDGER_QUANTUM",
    "Cost",
    "UnitCounts",
    "cost_to_wire",
    "input_total",
    "price_units",
    "to_large_context",
)

LEDGER_QUANTUM = Decimal("1e-10")
"""The ledger's precision: every event's input and output cost is rounded to this (USD)."""

_ZERO = Decimal(0)

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
                    input_cost += unit_price * count
                    continue
            elif side == "output":
                unit_price = price.output_price if price is not None else None
                if unit_price is not None:
                    output_cost += unit_price * count
                    continue
            else:
                raise ValueError(f"unit {unit!r}: unknown side {side!r} (expected 'input' or 'output')")
            unknown.setdefault(unit, {})[side] = count
    input_cost = input_cost.quantize(LEDGER_QUANTUM, rounding=ROUND_HALF_EVEN)
    output_cost = output_cost.quantize(LEDGER_QUANTUM, rounding=ROUND_HALF_EVEN)
    return Cost(input=input_cost, output=output_cost, total=input_cost + output_cost, unknown_units=unknown)


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


def input_total(units: UnitCounts) -> int:
    """All input-side counts of a request (prompt + cache reads + cache writes + ...)."""
    total = 0
    for counts in units.values():
        value = counts if isinstance(counts, int) else counts.get("input")
        total += value or 0
    return total


def to_large_context(units: UnitCounts, threshold: int | None) -> dict[str, dict[str, int]]:
    """For adapters that build units themselves (proxy mode): the units as the Pay-i SDK would name them.

    When the request's input-side total reaches ``threshold`` (``>=``, as the Pay-i SDK does), each unit of
    :data:`LARGE_CONTEXT_UNITS` gets the ``_large_context`` suffix; otherwise, or without a threshold, the units
    come back unchanged. Never apply this to ingested events: their senders already chose the names.
    """
    plain = {
        unit: (
            {"input": counts}
            if isinstance(counts, int)
            else {k: v for k, v in counts.items() if v is not None}
        )
        for unit, counts in units.items()
    }
    if threshold is None or input_total(units) < threshold:
        return plain
    return {
        (unit + LARGE_CONTEXT_SUFFIX if unit in LARGE_CONTEXT_UNITS else unit): counts
        for unit, counts in plain.items()
    }
