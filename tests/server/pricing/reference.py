"""Reference usages for the pricing tests, priced by genai-prices' own ``calc_price`` (the catalog's source).

genai-prices prices a tier when the call's total input tokens (``Usage.input_tokens``: uncached + cache reads +
cache writes) are *above* the tier's start; Pay-i units split that input into ``text`` (uncached),
``text_cache_read`` and ``text_cache_write``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from genai_prices import Usage, calc_price
from genai_prices import data as genai_data
from genai_prices.types import (
    ClauseEquals,
    ClauseOr,
    ClauseStartsWith,
    MatchLogic,
    ModelInfo,
    ModelPrice,
    Provider,
    TieredPrices,
    TimeOfDateConstraint,
)

from payi_server.pricing.catalog import LARGE_CONTEXT_SUFFIX

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Call:
    category: str
    resource: str
    provider: str  # genai-prices provider id
    uncached: int
    output: int
    cache_read: int = 0
    cache_write: int = 0
    issue_figure: str | None = None  # the genai-prices figure quoted in issue 12's table

    @property
    def total_input(self) -> int:
        return self.uncached + self.cache_read + self.cache_write

    def units(self, *, tagged: bool = False) -> dict[str, dict[str, int]]:
        suffix = LARGE_CONTEXT_SUFFIX if tagged else ""
        units = {"text" + suffix: {"input": self.uncached, "output": self.output}}
        if self.cache_read:
            units["text_cache_read" + suffix] = {"input": self.cache_read}
        if self.cache_write:
            units["text_cache_write" + suffix] = {"input": self.cache_write}
        return units

    def reference(self, at: datetime = NOW) -> Decimal:
        usage = Usage(
            input_tokens=self.total_input,
            cache_read_tokens=self.cache_read,
            cache_write_tokens=self.cache_write,
            output_tokens=self.output,
        )
        return calc_price(usage, self.resource, provider_id=self.provider, genai_request_timestamp=at).total_price


CALLS = [
    Call("system.anthropic", "claude-sonnet-4-5", "anthropic", 250_000, 500, issue_figure="1.51125"),
    Call("system.anthropic", "claude-haiku-5-5", "anthropic", 150_000, 500, issue_figure="0.07625"),
    Call("system.openai", "gpt-5.4", "openai", 322_000, 500, issue_figure="1.62125"),
    Call("system.google.vertex", "gemini-1.5-pro", "google", 178_000, 500),
    Call("system.google.vertex", "gemini-1.5-flash", "google", 178_000, 500),
    # exactly 200,000 input tokens is not above the 200k tier: the base prices
    Call("system.anthropic", "claude-sonnet-4-5", "anthropic", 199_000, 500, cache_read=1_000, issue_figure="0.6048"),
    # one more cached token crosses it: every token at the tier
    Call("system.anthropic", "claude-sonnet-4-5", "anthropic", 199_000, 500, cache_read=1_001),
    Call("system.anthropic", "claude-sonnet-4-5", "anthropic", 150_000, 10, cache_read=40_000, cache_write=10_001),
    Call("system.anthropic", "claude-haiku-5-5", "anthropic", 100_000, 10),  # at haiku's 100k: base
    Call("system.anthropic", "claude-haiku-5-5", "anthropic", 99_000, 10, cache_write=1_001),
    Call("system.openai", "gpt-5.4", "openai", 272_000, 10),
    Call("system.openai", "gpt-5.4", "openai", 200_000, 10, cache_read=72_001),
    Call("system.aws.bedrock", "global.anthropic.claude-haiku-5-5", "aws", 150_000, 500),
]
IDS = [f"{c.resource}-{c.total_input}-{c.cache_read}-{c.cache_write}" for c in CALLS]


# --- names -----------------------------------------------------------------------------------------------------

# Which genai-prices provider answers for a managed category (its fallback providers included, as genai-prices does).
PROVIDER_OF = {
    "system.openai": "openai",
    "system.anthropic": "anthropic",
    "system.aws.bedrock": "aws",
    "system.google.vertex": "google",
    "system.azureopenai": "azure",
    "system.azure": "azure",
    **{f"system.databricks.{cloud}": "databricks" for cloud in ("aws", "azure", "google", "databricks")},
}


def genai_model(category: str, name: str) -> tuple[str, str] | None:
    """``(provider id, model id)`` genai-prices prices ``name`` with in ``category``'s provider, or ``None``.

    Deliberate differences (documented in docs/pricing.md): genai-prices' ``azure`` provider answers for both Azure
    categories; Pay-i prices OpenAI models in ``system.azureopenai`` only and every other Azure model in
    ``system.azure`` only, and does not borrow DeepSeek's time-of-day platform prices into ``system.azure``.
    """
    providers = {p.id: p for p in genai_data.providers}
    provider = providers[PROVIDER_OF[category]]
    model = provider.find_model(name, all_providers=genai_data.providers)
    if model is None:
        return None
    owner = next((p.id for p in genai_data.providers if any(m is model for m in p.models)), provider.id)
    if category.startswith("system.azure"):
        openai_model = owner == "openai" or any(m.is_match(model.id) for m in providers["openai"].models)
        if (category == "system.azureopenai") != openai_model or owner == "deepseek":
            return None
    return owner, model.id


def equals_names(clause: MatchLogic) -> set[str]:
    """The names a match clause lists outright (``equals`` and ``starts_with`` values)."""
    if isinstance(clause, ClauseOr):
        return set().union(*(equals_names(part) for part in clause.or_))
    if isinstance(clause, ClauseEquals):
        return {clause.equals}
    if isinstance(clause, ClauseStartsWith):
        return {clause.starts_with}
    return set()


# --- the catalog walk ------------------------------------------------------------------------------------------

UNMODELLED_PRICE_KEYS = frozenset({"audio_hours", "input_audio_hours", "input_mchars", "input_text_messages_kcount"})
"""genai-prices price keys with no Pay-i unit (per hour of audio, per character, per message): unpriced here."""


@dataclass(frozen=True)
class WalkCase:
    """One usage of one managed name, and what genai-prices makes of it."""

    category: str
    name: str
    uncached: int
    cache_read: int
    cache_write: int
    output: int
    tiered: bool
    listed: str | None  # why the costs are not compared (a listed difference), or None

    def units(self) -> dict[str, dict[str, int]]:
        units: dict[str, dict[str, int]] = {"text": {"input": self.uncached}}
        if self.output:
            units["text"]["output"] = self.output
        if self.cache_read:
            units["text_cache_read"] = {"input": self.cache_read}
        if self.cache_write:
            units["text_cache_write"] = {"input": self.cache_write}
        return units

    def reference(self) -> tuple[Decimal, Decimal]:
        """genai-prices' ``(input, output)`` cost, at the ledger's precision."""
        found = genai_model_info(self.category, self.name)
        assert found is not None, self
        provider, model = found
        usage = Usage(
            input_tokens=self.uncached + self.cache_read + self.cache_write,
            cache_read_tokens=self.cache_read,
            cache_write_tokens=self.cache_write,
            output_tokens=self.output,
        )
        price = model.calc_price(usage, provider, genai_request_timestamp=NOW)
        quantum = Decimal("1e-10")
        return price.input_price.quantize(quantum), price.output_price.quantize(quantum)


def genai_model_info(category: str, name: str) -> tuple[Provider, ModelInfo] | None:
    found = genai_model(category, name)
    if found is None:
        return None
    providers = {p.id: p for p in genai_data.providers}
    provider = providers[found[0]]
    return provider, next(m for m in provider.models if m.id == found[1])


def _listed(model: ModelInfo, keys: set[str]) -> str | None:
    if not isinstance(model.prices, ModelPrice) and any(
        isinstance(c.constraint, TimeOfDateConstraint) for c in model.prices
    ):
        return "time-of-day prices are not borrowed: the unconstrained price applies all day"
    if not keys:
        return "genai-prices lists no price: Pay-i records the call unpriced, never as $0"
    if keys & UNMODELLED_PRICE_KEYS:
        return "priced per hour, character or message, which no Pay-i unit carries: unpriced"
    if not keys & {"input_mtok", "output_mtok"}:
        return "no text price"
    return None


def walk_cases(names: Iterable[tuple[str, str]], sample: int, seed: int = 12) -> list[WalkCase]:
    """Every tiered name (below, at and above its tier) and ``sample`` of the others, in a fixed order."""
    tiered: list[WalkCase] = []
    others: list[WalkCase] = []
    for category, name in sorted(set(names)):
        found = genai_model_info(category, name)
        if found is None:
            continue
        _, model = found
        price = model.get_prices(NOW)
        keys = {k for k, v in vars(price).items() if v is not None and not k.startswith("_")}
        starts = [t.start for v in vars(price).values() if isinstance(v, TieredPrices) for t in v.tiers]
        read = 2_000 if "cache_read_mtok" in keys else 0
        write = 1_000 if "cache_write_mtok" in keys else 0
        output = 500 if "output_mtok" in keys else 0
        listed = _listed(model, keys)
        if starts:
            threshold = min(starts)
            for total in (threshold - 1_000, threshold, threshold + 1):
                uncached = total - read - write
                tiered.append(WalkCase(category, name, uncached, read, write, output, True, listed))
        else:
            others.append(WalkCase(category, name, 10_000, read, write, output, False, listed))
    return tiered + random.Random(seed).sample(others, min(sample, len(others)))
