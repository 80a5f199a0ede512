"""Price resolution: ``(category, resource name, event time)`` -> the resource version that prices the event.

Pay-i prices an event by ``(category, resource, event timestamp)``: the category says who serves the model
(``system.openai``, ``system.aws.bedrock`` ..., or an organisation's custom category), the resource is the model
name, and each resource has versions with a ``start_timestamp``; every version has a ``units`` map of
``{unit: {input_price, output_price}}`` in USD per single unit. :class:`Catalog` resolves names (aliases,
prefixes, compact dates, Bedrock ARNs and region prefixes, fallback providers rank by rank) and times to a
:class:`PriceVersion`. Where versions come from: ``seed`` (genai-prices' data) and ``book`` (the database).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache

__all__ = (
    "BEDROCK_REGION_PREFIXES",
    "Catalog",
    "LARGE_CONTEXT_SUFFIX",
    "PriceVersion",
    "UnitPrice",
    "dashed_dates",
)

LARGE_CONTEXT_SUFFIX = "_large_context"

BEDROCK_REGION_PREFIXES = frozenset({"us", "eu", "apac", "global", "us-gov", "au", "jp", "ca", "in"})
"""Cross-region inference profile prefixes: ``us.anthropic.claude-...`` falls back to ``anthropic.claude-...``."""

_REGION_PREFIX_CATEGORIES = frozenset({"system.aws.bedrock"})
# Categories whose resources the SDKs name "<provider>.<model>": without a match as given, the model alone.
_PROVIDER_PREFIXED = {"system.google.vertex": "google."}


@dataclass(frozen=True, slots=True)
class UnitPrice:
    """USD per single unit on each side; ``None`` means "no price" (the units are reported as unknown)."""

    input_price: Decimal | None
    output_price: Decimal | None


@dataclass(frozen=True, slots=True)
class PriceVersion:
    """One version of one resource: a managed one (built by ``seed``) or an organisation's custom one."""

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
    """Where a managed row came from, e.g. ``genai-prices:aws/regional.anthropic.claude-3-haiku-20240307-v1:0``."""
    rank: int = 0
    """Name lookup order: 0 for the category's own models; ``n`` for its n-th fallback provider's (Claude on Vertex),
    whose names are tried only when no lower-ranked model answers to a name."""


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


def _index(rows: Sequence[PriceVersion], strip_regions: bool) -> _CategoryIndex:
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

    >>> from payi_server.pricing.seed import load_seed
    >>> catalog = Catalog(load_seed())
    >>> catalog.resolve("system.openai", "gpt-4o-2024-08-06", datetime.now(UTC)).resource
    'gpt-4o'
    """

    def __init__(self, rows: Iterable[PriceVersion], *, cache_size: int = 8192) -> None:
        by_category: dict[str, list[PriceVersion]] = {}
        versions: dict[tuple[str, str], list[PriceVersion]] = {}
        for row in rows:
            by_category.setdefault(row.category, []).append(row)
            versions.setdefault((row.category, row.resource), []).append(row)
        self._indexes: dict[str, tuple[_CategoryIndex, ...]] = {}
        for category, category_rows in by_category.items():
            by_rank: dict[int, list[PriceVersion]] = {}
            for row in category_rows:
                by_rank.setdefault(row.rank, []).append(row)
            strip = category in _REGION_PREFIX_CATEGORIES
            self._indexes[category] = tuple(_index(by_rank[rank], strip) for rank in sorted(by_rank))
        self._versions: dict[tuple[str, str], tuple[tuple[datetime, ...], tuple[PriceVersion, ...]]] = {}
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

    def versions(self, category: str, resource: str) -> tuple[PriceVersion, ...]:
        """Every version of the resource a name resolves to, oldest first."""
        key = self._lookup(category, resource)
        return self._versions[key][1] if key else ()

    def resolve(self, category: str, resource: str, at: datetime) -> PriceVersion | None:
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
        if name is None and category in _PROVIDER_PREFIXED and key.startswith(_PROVIDER_PREFIXED[category]):
            # The Pay-i SDKs send Gemini calls as "google.<model version>": the model is the rest.
            return self._lookup_uncached(category, key.removeprefix(_PROVIDER_PREFIXED[category]))
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
