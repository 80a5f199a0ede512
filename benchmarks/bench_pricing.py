"""Time to resolve and price one event on a warm catalog.

Run: ``PYTHONPATH=src python benchmarks/bench_pricing.py [iterations]`` (default 100 000 per scenario).
Prints microseconds per event (resolve + price) for a few typical events, and the name-resolution part alone.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

from payi_server.pricing.cost import UnitCounts, price_units
from payi_server.pricing.catalog import Catalog
from payi_server.pricing.seed import load_seed

AT = datetime(2025, 9, 1, 12, tzinfo=UTC)

SCENARIOS: list[tuple[str, str, UnitCounts]] = [
    (
        "system.openai",
        "gpt-4o-2024-08-06",
        {"text": {"input": 600, "output": 300}, "text_cache_read": {"input": 400}},
    ),
    (
        "system.openai",
        "o4-mini",
        {
            "text": {"input": 2000, "output": 500},
            "text_cache_read": {"input": 3000},
            "reasoning": {"output": 2000},
        },
    ),
    (
        "system.anthropic",
        "claude-sonnet-4-5-20250929",
        {
            "text": {"input": 1000, "output": 500},
            "text_cache_read": {"input": 20000},
            "text_cache_write": {"input": 4000},
            "text_cache_write_1h": {"input": 2000},
        },
    ),
    (
        "system.aws.bedrock",
        "us.anthropic.claude-3-haiku-20240307-v1:0",
        {"text": {"input": 50, "output": 100}},
    ),
    (
        "system.aws.bedrock",
        "us.amazon.nova-pro-v1:0",
        {"text": {"input": 1000, "output": 200}, "text_cache_read": 4000},
    ),
]


def _per_event_us(seconds: float, iterations: int) -> float:
    return seconds / iterations * 1e6


def main(iterations: int) -> None:
    catalog = Catalog(load_seed())
    resolve, price = catalog.resolve, price_units
    for category, resource, units in SCENARIOS:
        row = resolve(category, resource, AT)  # warm the name cache
        assert row is not None, (category, resource)

        start = time.perf_counter()
        for _ in range(iterations):
            row = resolve(category, resource, AT)
            assert row is not None
            price(units, row.units)
        total = time.perf_counter() - start

        start = time.perf_counter()
        for _ in range(iterations):
            resolve(category, resource, AT)
        resolve_only = time.perf_counter() - start

        print(
            f"{category:<20} {resource:<45} {_per_event_us(total, iterations):6.2f} us/event"
            f"  (resolve {_per_event_us(resolve_only, iterations):5.2f} us)"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
