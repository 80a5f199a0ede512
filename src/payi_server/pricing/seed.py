"""The managed price catalog: genai-prices' bundled data turned into Pay-i's category / resource model.

Pay-i prices an event by ``(category, resource, event timestamp)``: the category says who serves the model
(``system.openai``, ``system.aws.bedrock`` ...), the resource is the model name, and each resource has versions
with a ``start_timestamp``; every version has a ``units`` map of ``{unit: {input_price, output_price}}`` in USD per
single unit. This module builds those rows from the data genai-prices ships (read once, no network) and offers a
pure resolver, :class:`Catalog`, that finds the version to price an event with.

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
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cache, lru_cache

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

__all__ = (
    "BASE_START",
    "BEDROCK_REGION_PREFIXES",
    "Catalog",
    "LARGE_CONTEXT_SUFFIX",
    "SeedResource",
    "UnitPrice",
    "dashed_dates",
    "load_seed",
    "seed_version",
)

BASE_START = datetime(2020, 1, 1, tzinfo=UTC)
"""Start of every resource's first version (genai-prices' unconstrained base price)."""

LARGE_CONTEXT_SUFFIX = "_large_context"

BEDROCK_REGION_PREFIXES = frozenset({"us", "eu", "apac", "global", "us-gov", "au", "jp", "ca", "in"})
"""Cross-region inference profile prefixes: ``us.anthropic.claude-...`` falls back to ``anthropic.claude-...``."""

_REGION_PREFIX_CATEGORIES = frozenset({"system.aws.bedrock"})

# A model whose context window exceeds this can receive requests the Pay-i SDK tags ``_large_context`` (it does so
# from 200k input tokens on for Anthropic and Gemini 2.5 Pro). When its price is flat, those units get the flat
# price; otherwise a flat-priced 1M-context model would turn every long request into an unpriced one.
_FLAT_LARGE_CONTEXT_MIN_WINDOW = 200_000


@dataclass(frozen=True, slots=True)
class UnitPrice:
    """USD per single unit on each side; ``None`` means "no price" (the units are reported as unknown)."""

    input_price: Decimal | None
    output_price: Decimal | None


@dataclass(frozen=True, slots=True)
class SeedResource:
    """One version of one managed resource."""

    category: str
    resource: str
    start_timestamp: datetime
    units: Mapping[str, UnitPrice]
    aliases: tuple[str, ...] = ()
    match_prefixes: tuple[str, ...] = ()
    match_suffixes: tuple[str, ...] = ()
    match_contains: tuple[str, ...] = ()
    match_patterns: tuple[str, ...] = ()
    """Regular expressions, searched in the lower-cased name (``re.search``)."""
    max_input_units: int | None = None
    """genai-prices' context window (input and output share it)."""
    large_context_threshold: int | None = None
    """Input tokens above which the ``_large_context`` prices apply (``None``: no price change)."""
    description: str | None = None
    deprecated: bool = False
    source: str = ""
    """Where the row came from, e.g. ``genai-prices:aws/regional.anthropic.claude-3-haiku-20240307-v1:0``."""
    rank: int = 0
    """Name lookup order: 0 for the category's own models; ``n`` for its n-th fallback provider's (Claude on Vertex),
    whose names are tried only when no lower-ranked model answers to a name."""


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
    # and: one look-ahead per part; ``.*?`` may match nothing, so a part's ``^`` still anchors at the start
    return "^" + "".join(f"(?=.*?(?:{_search_regex(c)}))" for c in clause.and_)


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


def _rows(category: str, provider_id: str, model: ModelInfo, rank: int) -> Iterator[SeedResource]:
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
        yield SeedResource(
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
def _seed() -> tuple[SeedResource, ...]:
    by_id = {provider.id: provider for provider in genai_data.providers}
    rows: list[SeedResource] = []
    taken: set[tuple[str, str]] = set()
    for category, provider_id, model, rank in _category_models(by_id):
        model_rows = list(_rows(category, provider_id, model, rank))
        key = (category, model_rows[0].resource.lower()) if model_rows else None
        if key is None or key in taken:
            continue  # a model without prices, or a second model with the same name in one category
        taken.add(key)
        rows.extend(model_rows)
    return tuple(rows)


def load_seed() -> list[SeedResource]:
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


# --- resolution ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CategoryIndex:
    names: Mapping[str, str]
    aliases: Mapping[str, str]
    prefixes: tuple[tuple[str, str], ...]  # longest first
    suffixes: tuple[tuple[str, str], ...]
    contains: tuple[tuple[str, str], ...]
    patterns: tuple[tuple[re.Pattern[str], str], ...]
    strip_regions: bool

    def match(self, key: str) -> str | None:
        hit = self.names.get(key) or self.aliases.get(key)
        if hit is not None:
            return hit
        for prefix, name in self.prefixes:
            if key.startswith(prefix):
                return name
        for suffix, name in self.suffixes:
            if key.endswith(suffix):
                return name
        for part, name in self.contains:
            if part in key:
                return name
        for pattern, name in self.patterns:
            if pattern.search(key):
                return name
        return None


def _longest_first(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    unique = dict.fromkeys(pairs)
    return tuple(sorted(unique, key=lambda pair: -len(pair[0])))


def _index(rows: Sequence[SeedResource], strip_regions: bool) -> _CategoryIndex:
    names = {row.resource.lower(): row.resource for row in rows}
    aliases: dict[str, str] = {}
    for row in rows:
        for alias in row.aliases:
            if alias not in names:
                aliases.setdefault(alias, row.resource)  # the first resource to claim an alias keeps it
    patterns: dict[tuple[str, str], re.Pattern[str]] = {}
    for row in rows:
        for pattern in row.match_patterns:
            try:
                patterns.setdefault((pattern, row.resource), re.compile(pattern))
            except re.error:
                continue  # an expression Python cannot compile: the model stays reachable by its other names
    return _CategoryIndex(
        names=names,
        aliases=aliases,
        prefixes=_longest_first((p, row.resource) for row in rows for p in row.match_prefixes),
        suffixes=_longest_first((s, row.resource) for row in rows for s in row.match_suffixes),
        contains=_longest_first((c, row.resource) for row in rows for c in row.match_contains),
        patterns=tuple((compiled, name) for (_, name), compiled in patterns.items()),
        strip_regions=strip_regions,
    )


class Catalog:
    """Resolve ``(category, resource name, event time)`` to the resource version that prices the event.

    Names are tried as: exact resource name, alias, longest prefix, suffix, substring, regular expression; in
    Bedrock, an ARN's last path segment and a name without its cross-region prefix (``us.``, ``eu.`` ...) are tried
    next; all of that among the category's own models first, then among each fallback provider's (``rank``); then
    the same again with compact dates written with dashes (:func:`dashed_dates`), as genai-prices does. Name
    lookups are cached (bounded LRU), so a warm lookup is a couple of dict hits.

    >>> catalog = Catalog(load_seed())
    >>> catalog.resolve("system.openai", "gpt-4o-2024-08-06", datetime.now(UTC)).resource
    'gpt-4o'
    """

    def __init__(self, rows: Iterable[SeedResource], *, cache_size: int = 8192) -> None:
        by_category: dict[str, list[SeedResource]] = {}
        versions: dict[tuple[str, str], list[SeedResource]] = {}
        for row in rows:
            by_category.setdefault(row.category, []).append(row)
            versions.setdefault((row.category, row.resource), []).append(row)
        self._indexes: dict[str, tuple[_CategoryIndex, ...]] = {}
        for category, category_rows in by_category.items():
            by_rank: dict[int, list[SeedResource]] = {}
            for row in category_rows:
                by_rank.setdefault(row.rank, []).append(row)
            strip = category in _REGION_PREFIX_CATEGORIES
            self._indexes[category] = tuple(_index(by_rank[rank], strip) for rank in sorted(by_rank))
        self._versions: dict[tuple[str, str], tuple[tuple[datetime, ...], tuple[SeedResource, ...]]] = {}
        for key, resource_rows in versions.items():
            ordered = tuple(sorted(resource_rows, key=lambda r: r.start_timestamp))
            self._versions[key] = (tuple(r.start_timestamp for r in ordered), ordered)
        self._lookup = lru_cache(maxsize=cache_size)(self._lookup_uncached)

    def categories(self) -> tuple[str, ...]:
        return tuple(sorted(self._indexes))

    def resource_name(self, category: str, resource: str) -> str | None:
        """The managed resource a client-visible name stands for, or ``None``."""
        key = self._lookup(category, resource)
        return key[1] if key else None

    def versions(self, category: str, resource: str) -> tuple[SeedResource, ...]:
        """Every version of the resource a name resolves to, oldest first."""
        key = self._lookup(category, resource)
        return self._versions[key][1] if key else ()

    def resolve(self, category: str, resource: str, at: datetime) -> SeedResource | None:
        """The version with the latest ``start_timestamp <= at`` (naive times are UTC), or ``None``."""
        key = self._lookup(category, resource)
        if key is None:
            return None
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        starts, rows = self._versions[key]
        index = bisect_right(starts, at) - 1
        return rows[index] if index >= 0 else None

    def _lookup_uncached(self, category: str, resource: str) -> tuple[str, str] | None:
        indexes = self._indexes.get(category)
        if indexes is None:
            return None
        key = resource.strip().lower()
        name = self._match(indexes, key)
        if name is None and (dashed := dashed_dates(key)) != key:
            name = self._match(indexes, dashed)
        return (category, name) if name is not None else None

    @staticmethod
    def _match(indexes: tuple[_CategoryIndex, ...], key: str) -> str | None:
        for index in indexes:  # rank by rank: a fallback provider's models only when no own model answers
            name = index.match(key)
            if name is None and index.strip_regions:
                name = _match_bedrock_variant(index, key)
            if name is not None:
                return name
        return None


# ``-20251211`` followed by the end of the name, ``-`` or ``:`` (a Bedrock version): a compact date that is a real day
_COMPACT_DATE = re.compile(r"-(20\d\d)(\d\d)(\d\d)(?=$|[-:])")


def dashed_dates(name: str) -> str:
    """``name`` with every compact date suffix written with dashes (``gpt-5.2-20251211`` -> ``gpt-5.2-2025-12-11``).

    LiteLLM and OpenRouter send such names; genai-prices tries the dashed form when a name matches no model as sent,
    and so does :class:`Catalog`. Digits that are not a calendar day stay as they are.
    """

    def dashed(match: re.Match[str]) -> str:
        year, month, day = match.groups()
        try:
            date(int(year), int(month), int(day))
        except ValueError:
            return match.group(0)
        return f"-{year}-{month}-{day}"

    return _COMPACT_DATE.sub(dashed, name)


def _match_bedrock_variant(index: _CategoryIndex, key: str) -> str | None:
    if "/" in key:  # an inference-profile or foundation-model ARN
        key = key.rsplit("/", 1)[1]
        if (name := index.match(key)) is not None:
            return name
    region, dot, rest = key.partition(".")
    if dot and region in BEDROCK_REGION_PREFIXES:
        return index.match(rest)
    return None
