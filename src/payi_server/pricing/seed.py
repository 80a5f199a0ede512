"""The managed price catalog: genai-prices' bundled data turned into Pay-i's category / resource model.

Pay-i prices an event by ``(category, resource, event timestamp)``: the category says who serves the model
(``system.openai``, ``system.aws.bedrock`` ...), the resource is the model name, and each resource has versions
with a ``start_timestamp``; every version has a ``units`` map of ``{unit: {input_price, output_price}}`` in USD per
single unit. This module only builds those rows (:class:`~payi_server.pricing.catalog.PriceVersion`) from the data
genai-prices ships (read once, no network); ``catalog`` resolves names and times to them, ``book`` loads them from
the database, ``sync`` brings a newer catalog into the database.

How genai-prices maps onto Pay-i:

* providers -> categories (``_CATEGORY_SOURCES``); a category may borrow models from "fallback" providers the way
  genai-prices does (Azure serves OpenAI and Anthropic models, Vertex serves Anthropic models).
* a model's ``id`` -> resource name (Bedrock's ``regional.`` pseudo-prefix is dropped so the name is the real model
  id, e.g. ``anthropic.claude-3-haiku-20240307-v1:0``); its ``match`` clauses -> aliases (equals), prefixes
  (starts_with), suffixes (ends_with), substrings (contains) and regular expressions (regex / and).
* ``ConditionalPrice`` with a ``StartDateConstraint`` -> one version per start date (midnight UTC); the
  unconstrained base price starts at 2020-01-01. Time-of-day prices are ignored: the unconstrained price applies
  all day. (DeepSeek's own platform is the only source with such prices; its schedule does not apply to Azure
  Foundry, so DeepSeek is not borrowed into ``system.azure``: those calls come back unpriced, never underpriced.) ``price_variants`` (batch, service tiers, fast mode) are not modelled.
* prices per million tokens (``*_mtok``) or per thousand requests (``*_kcount``) -> USD per single unit, exactly.
  ``TieredPrices`` -> the base price on the plain unit and the first tier's price on ``<unit>_large_context``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal
from functools import cache

from genai_prices import data as genai_data
from genai_prices.types import (
    ClauseAnd,
    ClauseContains,
    ClauseEndsWith,
    ClauseEquals,
    ClauseOr,
    ClauseRegex,
    ClauseStartsWith,
    MatchLogic,
    ModelInfo,
    ModelPrice,
    Provider,
    StartDateConstraint,
    TieredPrices,
    TimeOfDateConstraint,
)

from .catalog import LARGE_CONTEXT_SUFFIX, PriceVersion, UnitPrice

__all__ = ("BASE_START", "load_seed", "seed_version")

log = logging.getLogger("payi_server.pricing")

BASE_START = datetime(2020, 1, 1, tzinfo=UTC)
"""Start of every resource's first version (genai-prices' unconstrained base price)."""


# A model whose context window exceeds this can receive requests the Pay-i SDK tags ``_large_context`` (it does so
# from 200k input tokens on for Anthropic and Gemini 2.5 Pro). When its price is flat, those units get the flat
# price; otherwise a flat-priced 1M-context model would turn every long request into an unpriced one.
_FLAT_LARGE_CONTEXT_MIN_WINDOW = 200_000


# --- units -----------------------------------------------------------------------------------------------------

# (Pay-i unit, input price keys by preference, output price keys by preference, power of ten per price unit).
# Reasoning tokens are billed as output tokens; vision tokens at the input price unless the data has a separate
# image price (video likewise, for Google's models only: see ``_TEXT_RATE_VIDEO``). Audio never falls back to the
# text price: audio is dearer, so a missing audio price must stay visible as an unknown unit.
_UNIT_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], int], ...] = (
    ("text", ("input_mtok",), ("output_mtok",), -6),
    ("text_cache_read", ("cache_read_mtok",), (), -6),
    ("text_cache_write", ("cache_write_5m_mtok", "cache_write_mtok"), (), -6),
    ("text_cache_write_1h", ("cache_write_1h_mtok",), (), -6),
    ("reasoning", (), ("output_reasoning_mtok", "output_mtok"), -6),
    ("vision", ("input_image_mtok", "input_mtok"), (), -6),
    ("vision_cache_read", ("cache_image_read_mtok", "cache_read_mtok"), (), -6),
    ("video", ("input_video_mtok",), ("output_video_mtok",), -6),
    ("video_cache_read", ("cache_video_read_mtok",), (), -6),
    ("audio", ("input_audio_mtok",), ("output_audio_mtok",), -6),
    ("audio_cache_read", ("cache_audio_read_mtok",), (), -6),
    ("image", ("input_image_mtok",), ("output_image_mtok",), -6),
    ("web_search_request", (), ("web_searches_kcount",), -3),
)
_NOT_CONTEXT_SIZED = frozenset({"web_search_request"})


# Gemini bills video input (and its cache) at the text rate; genai-prices lists a video price only when it differs.
_TEXT_RATE_VIDEO = {
    "google": (("input_video_mtok", "input_mtok"), ("cache_video_read_mtok", "cache_read_mtok"))
}


def _price_keys(price: ModelPrice, provider_id: str, *, tier: bool) -> dict[str, Decimal]:
    """The model price as ``{price_key: Decimal}``, taking the first tier of tiered prices when ``tier``."""
    out: dict[str, Decimal] = {}
    for key, value in vars(price).items():
        if isinstance(value, TieredPrices):
            out[key] = value.tiers[0].price if tier and value.tiers else value.base
        elif isinstance(value, Decimal) and not key.startswith("_"):
            out[key] = value
    for key, text_key in _TEXT_RATE_VIDEO.get(provider_id, ()):
        if key not in out and text_key in out:
            out[key] = out[text_key]
    return out


def _first(keys: Mapping[str, Decimal], names: tuple[str, ...], exponent: int) -> Decimal | None:
    for name in names:
        if (value := keys.get(name)) is not None:
            return value.scaleb(exponent)  # exact: only the exponent moves
    return None


def _units(keys: Mapping[str, Decimal], suffix: str = "") -> dict[str, UnitPrice]:
    units: dict[str, UnitPrice] = {}
    for unit, input_keys, output_keys, exponent in _UNIT_RULES:
        if suffix and unit in _NOT_CONTEXT_SIZED:
            continue
        price = UnitPrice(_first(keys, input_keys, exponent), _first(keys, output_keys, exponent))
        if price.input_price is not None or price.output_price is not None:
            units[unit + suffix] = price
    return units


def _threshold(price: ModelPrice) -> int | None:
    starts = [v.tiers[0].start for v in vars(price).values() if isinstance(v, TieredPrices) and v.tiers]
    return min(starts) if starts else None


def _version_units(
    provider_id: str, model: ModelInfo, price: ModelPrice
) -> tuple[dict[str, UnitPrice], int | None]:
    threshold = _threshold(price)
    units = _units(_price_keys(price, provider_id, tier=False))
    if threshold is not None or (model.context_window or 0) > _FLAT_LARGE_CONTEXT_MIN_WINDOW:
        units.update(_units(_price_keys(price, provider_id, tier=True), LARGE_CONTEXT_SUFFIX))
    return units, threshold


def _versions(model: ModelInfo) -> list[tuple[datetime, ModelPrice]]:
    """Price versions by start; later ``ConditionalPrice`` entries win ties, as they take precedence upstream."""
    if isinstance(model.prices, ModelPrice):
        return [(BASE_START, model.prices)]
    by_start: dict[datetime, ModelPrice] = {}
    for conditional in model.prices:
        constraint = conditional.constraint
        if isinstance(constraint, TimeOfDateConstraint):
            continue  # daily windows are not modelled: the unconstrained price applies all day
        start = BASE_START
        if isinstance(constraint, StartDateConstraint):
            start = max(BASE_START, datetime.combine(constraint.start_date, time(), UTC))
        by_start[start] = conditional.prices
    versions = sorted(by_start.items(), key=lambda item: item[0])
    # genai-prices uses the first entry when none is active yet, so the earliest version starts at the base date
    return [(BASE_START, versions[0][1]), *versions[1:]] if versions else []


# --- match clauses ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Matchers:
    aliases: list[str]
    prefixes: list[str]
    suffixes: list[str]
    contains: list[str]
    patterns: list[str]


def _search_regex(clause: MatchLogic) -> str:
    """A clause as one regular expression for ``re.search`` on the lower-cased name."""
    if isinstance(clause, ClauseEquals):
        return f"^{re.escape(clause.equals.lower())}$"
    if isinstance(clause, ClauseStartsWith):
        return f"^{re.escape(clause.starts_with.lower())}"
    if isinstance(clause, ClauseEndsWith):
        return f"{re.escape(clause.ends_with.lower())}$"
    if isinstance(clause, ClauseContains):
        return re.escape(clause.contains.lower())
    if isinstance(clause, ClauseRegex):
        return clause.regex
    if isinstance(clause, ClauseOr):
        return "|".join(f"(?:{_search_regex(c)})" for c in clause.or_)
    if isinstance(clause, ClauseAnd):
        # one look-ahead per part; ``.*?`` may match nothing, so a part's ``^`` still anchors at the start
        return "^" + "".join(f"(?=.*?(?:{_search_regex(c)}))" for c in clause.and_)
    raise _UnknownData(f"match clause {type(clause).__name__}")


class _UnknownData(ValueError):
    """A shape of genai-prices data this version does not know (a newer genai-prices): the model is skipped."""


def _collect(clause: MatchLogic, out: _Matchers) -> None:
    if isinstance(clause, ClauseOr):
        for part in clause.or_:
            _collect(part, out)
    elif isinstance(clause, ClauseEquals):
        out.aliases.append(clause.equals.lower())
    elif isinstance(clause, ClauseStartsWith):
        out.prefixes.append(clause.starts_with.lower())
    elif isinstance(clause, ClauseEndsWith):
        out.suffixes.append(clause.ends_with.lower())
    elif isinstance(clause, ClauseContains):
        out.contains.append(clause.contains.lower())
    elif isinstance(clause, ClauseRegex | ClauseAnd):
        out.patterns.append(_search_regex(clause))


def _unique(values: Iterable[str], drop: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v != drop))


# --- categories ------------------------------------------------------------------------------------------------


def _is_openai_model(openai: Provider, model: ModelInfo) -> bool:
    return any(candidate.is_match(model.id) for candidate in openai.models)


def _with_fallbacks(
    own: Sequence[tuple[str, ModelInfo]], fallbacks: Iterable[Provider | None]
) -> Iterator[tuple[str, ModelInfo, int]]:
    """``(provider id, model, rank)``: ``own`` models at rank 0, then each fallback provider's models at ranks 1, 2
    ...; a name is looked up rank by rank, as genai-prices tries a provider's fallbacks only when its own models do
    not answer to the name."""
    yield from ((pid, model, 0) for pid, model in own)
    for rank, provider in enumerate((p for p in fallbacks if p is not None), start=1):
        yield from ((provider.id, model, rank) for model in provider.models)


# Fallback providers whose prices do not describe Azure's: OpenAI models are system.azureopenai's; DeepSeek's
# genai-prices entries are DeepSeek-platform time-of-day prices (off-peak as the base), which would underprice.
_NOT_AZURE_FALLBACKS = frozenset({"openai", "deepseek"})


def _category_models(by_id: Mapping[str, Provider]) -> Iterator[tuple[str, str, ModelInfo, int]]:
    """``(category, genai-prices provider id, model, rank)`` for every managed category."""

    def models(provider_id: str) -> list[tuple[str, ModelInfo]]:
        provider = by_id.get(provider_id)
        return [(provider_id, m) for m in provider.models] if provider else []

    openai, azure = by_id.get("openai"), by_id.get("azure")
    simple = {
        "system.openai": "openai",
        "system.anthropic": "anthropic",
        "system.aws.bedrock": "aws",
        **{f"system.databricks.{cloud}": "databricks" for cloud in ("aws", "azure", "google", "databricks")},
    }
    for category, provider_id in simple.items():
        yield from ((category, pid, m, 0) for pid, m in models(provider_id))
    vertex = _with_fallbacks(models("google"), [by_id.get("anthropic")])
    yield from (("system.google.vertex", pid, m, rank) for pid, m, rank in vertex)
    azure_models = models("azure")
    is_openai = [openai is not None and _is_openai_model(openai, m) for _, m in azure_models]
    azure_openai = [pair for pair, flag in zip(azure_models, is_openai, strict=True) if flag]
    azure_foundry = [pair for pair, flag in zip(azure_models, is_openai, strict=True) if not flag]
    yield from (("system.azureopenai", p, m, r) for p, m, r in _with_fallbacks(azure_openai, [openai]))
    foundry_fallbacks = (
        [by_id.get(p) for p in (azure.fallback_model_providers or []) if p not in _NOT_AZURE_FALLBACKS]
        if azure
        else []
    )
    yield from (("system.azure", p, m, r) for p, m, r in _with_fallbacks(azure_foundry, foundry_fallbacks))


def _rows(category: str, provider_id: str, model: ModelInfo, rank: int) -> Iterator[PriceVersion]:
    resource = model.id
    if provider_id == "aws":
        # genai-prices marks in-region (non-global) Bedrock prices with a made-up "regional." prefix
        resource = resource.removeprefix("regional.")
    found = _Matchers([], [], [], [], [])
    _collect(model.match, found)
    if resource != model.id:
        found.aliases.append(model.id.lower())
    name = resource.lower()
    for start, price in _versions(model):
        units, threshold = _version_units(provider_id, model, price)
        yield PriceVersion(
            category=category,
            resource=resource,
            start_timestamp=start,
            units=units,
            aliases=_unique(found.aliases, name),
            match_prefixes=_unique(found.prefixes, ""),
            match_suffixes=_unique(found.suffixes, ""),
            match_contains=_unique(found.contains, ""),
            match_patterns=_unique(found.patterns, ""),
            max_input_units=model.context_window,
            large_context_threshold=threshold,
            description=model.description or model.name,
            deprecated=bool(model.deprecated),
            source=f"genai-prices:{provider_id}/{model.id}",
            rank=rank,
        )


@cache
def _seed() -> tuple[PriceVersion, ...]:
    by_id = {provider.id: provider for provider in genai_data.providers}
    rows: list[PriceVersion] = []
    taken: set[tuple[str, str]] = set()
    for category, provider_id, model, rank in _category_models(by_id):
        try:
            model_rows = list(_rows(category, provider_id, model, rank))
        except (_UnknownData, AttributeError, TypeError, ValueError) as exc:
            # A newer genai-prices may describe a model in a way this server does not know: that model stays
            # unpriced (reported as such) and the rest of the catalog works.
            log.warning("genai-prices model %s/%s skipped: %s", provider_id, model.id, exc)
            continue
        key = (category, model_rows[0].resource.lower()) if model_rows else None
        if key is None or key in taken:
            continue  # a model without prices, or a second model with the same name in one category
        taken.add(key)
        rows.extend(model_rows)
    return tuple(rows)


def load_seed() -> list[PriceVersion]:
    """Every managed resource version, built from genai-prices' bundled data (cached; returns a fresh list)."""
    return list(_seed())


def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


@cache
def seed_version() -> str:
    """A stable content hash of :func:`load_seed`: equal hashes mean equal catalogs."""
    canonical = [
        {
            "category": row.category,
            "resource": row.resource,
            "start": row.start_timestamp.isoformat(),
            "units": {
                unit: [_decimal_text(price.input_price), _decimal_text(price.output_price)]
                for unit, price in sorted(row.units.items())
            },
            "aliases": row.aliases,
            "prefixes": row.match_prefixes,
            "suffixes": row.match_suffixes,
            "contains": row.match_contains,
            "patterns": row.match_patterns,
            "rank": row.rank,
            "max_input_units": row.max_input_units,
            "large_context_threshold": row.large_context_threshold,
            "description": row.description,
            "deprecated": row.deprecated,
        }
        for row in _seed()
    ]
    canonical.sort(key=lambda item: (str(item["category"]), str(item["resource"]), str(item["start"])))
    payload = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()
