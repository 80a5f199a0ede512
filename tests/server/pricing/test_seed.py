"""The managed catalog built from genai-prices: shape of the rows, name resolution and price versions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from genai_prices import Usage
from genai_prices import data as genai_data
from genai_prices.types import ModelPrice, TimeOfDateConstraint

from payi_server.pricing.cost import price_units
from payi_server.pricing.catalog import LARGE_CONTEXT_SUFFIX, Catalog, PriceVersion, UnitPrice
from payi_server.pricing.seed import BASE_START, load_seed, seed_version

T = datetime(2025, 9, 1, tzinfo=UTC)

MANAGED_CATEGORIES = {
    "system.openai",
    "system.azureopenai",
    "system.anthropic",
    "system.aws.bedrock",
    "system.google.vertex",
    "system.azure",
    "system.databricks.aws",
    "system.databricks.azure",
    "system.databricks.google",
    "system.databricks.databricks",
}

BASE_UNITS = {
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
    "web_search_request",
}


def _prices(row: PriceVersion | None, unit: str) -> tuple[Decimal | None, Decimal | None]:
    assert row is not None
    price = row.units[unit]
    return price.input_price, price.output_price


# --- the rows --------------------------------------------------------------------------------------------------


def test_every_managed_category_is_seeded(catalog: Catalog) -> None:
    assert set(catalog.categories()) == MANAGED_CATEGORIES


def test_rows_are_well_formed(seed_rows: list[PriceVersion]) -> None:
    seen: set[tuple[str, str, datetime]] = set()
    for row in seed_rows:
        key = (row.category, row.resource.lower(), row.start_timestamp)
        assert key not in seen, key
        seen.add(key)
        assert row.start_timestamp.tzinfo is UTC
        assert row.start_timestamp >= BASE_START
        assert row.source.startswith("genai-prices:")
        for unit, price in row.units.items():
            assert unit.removesuffix(LARGE_CONTEXT_SUFFIX) in BASE_UNITS, unit
            assert price.input_price is not None or price.output_price is not None
            for value in (price.input_price, price.output_price):
                assert value is None or (isinstance(value, Decimal) and value.is_finite() and value >= 0)
                # the store keeps unit prices as NUMERIC(38, 18)
                assert value is None or int(value.as_tuple().exponent) >= -18


def test_no_alias_is_claimed_by_two_resources(seed_rows: list[PriceVersion]) -> None:
    """Within one lookup rank (a fallback provider's names are tried after the category's own)."""
    claims: dict[tuple[str, int, str], set[str]] = {}
    names = {(row.category, row.rank, row.resource.lower()) for row in seed_rows}
    for row in seed_rows:
        for alias in row.aliases:
            claims.setdefault((row.category, row.rank, alias), set()).add(row.resource)
    assert {key: owners for key, owners in claims.items() if len(owners) > 1} == {}
    assert {key for key in claims if key in names} == set()


def test_prices_are_per_single_unit_and_exact(catalog: Catalog) -> None:
    haiku = catalog.resolve("system.anthropic", "claude-haiku-4-5", T)
    # genai-prices: $1 / $5 per million tokens, $0.10 cache read, $1.25 5-minute write, $2 1-hour write,
    # $10 per thousand web searches
    assert _prices(haiku, "text") == (Decimal("0.000001"), Decimal("0.000005"))
    assert _prices(haiku, "text_cache_read") == (Decimal("0.0000001"), None)
    assert _prices(haiku, "text_cache_write") == (Decimal("0.00000125"), None)
    assert _prices(haiku, "text_cache_write_1h") == (Decimal("0.000002"), None)
    assert _prices(haiku, "reasoning") == (None, Decimal("0.000005"))  # reasoning is billed as output
    assert _prices(haiku, "vision") == (Decimal("0.000001"), None)  # images at the input price
    assert _prices(haiku, "web_search_request") == (None, Decimal("0.01"))


def test_separate_modality_prices_win_over_text(catalog: Catalog) -> None:
    image_model = catalog.resolve("system.openai", "gpt-image-1", T)
    assert _prices(image_model, "vision") == (Decimal("0.00001"), None)  # $10/M image input vs $5/M text
    assert _prices(image_model, "text") == (Decimal("0.000005"), Decimal("0.00004"))
    realtime = catalog.resolve("system.openai", "gpt-realtime", T)
    assert _prices(realtime, "audio") == (Decimal("0.000032"), Decimal("0.000064"))
    assert _prices(realtime, "audio_cache_read") == (Decimal("0.0000004"), None)
    flash_image = catalog.resolve("system.google.vertex", "gemini-2.5-flash-image", T)
    assert _prices(flash_image, "image") == (None, Decimal("0.00003"))


def test_audio_never_falls_back_to_the_text_price(catalog: Catalog) -> None:
    gpt4o = catalog.resolve("system.openai", "gpt-4o", T)
    assert gpt4o is not None
    assert "audio" not in gpt4o.units


def test_video_is_priced_as_text_only_for_google_models(catalog: Catalog) -> None:
    pro = catalog.resolve("system.google.vertex", "gemini-2.5-pro", T)
    assert _prices(pro, "video") == (Decimal("0.00000125"), None)
    gpt4o = catalog.resolve("system.openai", "gpt-4o", T)
    assert gpt4o is not None
    assert "video" not in gpt4o.units


def test_tiered_prices_become_large_context_units(catalog: Catalog) -> None:
    sonnet = catalog.resolve("system.anthropic", "claude-sonnet-4-5", T)
    assert sonnet is not None
    assert sonnet.large_context_threshold == 200_000
    # base $3 / $15; above 200k input tokens $6 / $22.50, cache read $0.60, writes $7.50 (5m) and $12 (1h)
    assert _prices(sonnet, "text") == (Decimal("0.000003"), Decimal("0.000015"))
    assert _prices(sonnet, "text_large_context") == (Decimal("0.000006"), Decimal("0.0000225"))
    assert _prices(sonnet, "text_cache_read_large_context") == (Decimal("0.0000006"), None)
    assert _prices(sonnet, "text_cache_write_large_context") == (Decimal("0.0000075"), None)
    assert _prices(sonnet, "text_cache_write_1h_large_context") == (Decimal("0.000012"), None)
    assert "web_search_request_large_context" not in sonnet.units


def test_flat_priced_long_context_models_price_large_context_units_flat(catalog: Catalog) -> None:
    # claude-opus-4-7 has a 1M window and one price whatever the prompt size: the SDK still tags >=200k prompts
    opus = catalog.resolve("system.anthropic", "claude-opus-4-7", T)
    assert opus is not None
    assert opus.large_context_threshold is None
    assert opus.units["text_large_context"] == opus.units["text"]
    # a 200k-window model cannot receive such prompts: no large-context units, so a stray one stays unknown
    haiku = catalog.resolve("system.anthropic", "claude-haiku-4-5", T)
    assert haiku is not None
    assert "text_large_context" not in haiku.units


def test_context_window_and_deprecation_are_carried(catalog: Catalog) -> None:
    gpt4o = catalog.resolve("system.openai", "gpt-4o", T)
    assert gpt4o is not None
    assert gpt4o.max_input_units == 128_000
    assert gpt4o.deprecated is False
    flash = catalog.resolve("system.google.vertex", "gemini-2.0-flash", T)
    assert flash is not None
    assert flash.deprecated is True


def test_bedrock_resources_are_named_by_model_id(catalog: Catalog) -> None:
    names = {
        row.resource
        for row in catalog.versions("system.aws.bedrock", "anthropic.claude-3-haiku-20240307-v1:0")
    }
    assert names == {"anthropic.claude-3-haiku-20240307-v1:0"}
    for name in ("amazon.nova-pro-v1:0", "meta.llama3-70b-instruct-v1:0"):
        assert catalog.resource_name("system.aws.bedrock", name) == name
    # genai-prices' own id is kept as an alias
    assert (
        catalog.resource_name("system.aws.bedrock", "regional.anthropic.claude-3-haiku-20240307-v1:0")
        == "anthropic.claude-3-haiku-20240307-v1:0"
    )


def test_azure_openai_uses_azure_prices_then_openai(catalog: Catalog) -> None:
    # Azure lists o3 at $2 / $8 with no earlier price; OpenAI's own o3 started at $10 / $40
    o3 = catalog.resolve("system.azureopenai", "o3", datetime(2025, 5, 1, tzinfo=UTC))
    assert o3 is not None
    assert o3.resource == "o3-2025-04-16"
    assert _prices(o3, "text") == (Decimal("0.000002"), Decimal("0.000008"))
    gpt4o = catalog.resolve("system.azureopenai", "gpt-4o", T)  # not in genai-prices' Azure list
    assert gpt4o is not None
    assert gpt4o.source == "genai-prices:openai/gpt-4o"
    assert catalog.resolve("system.azureopenai", "phi-4", T) is None  # Foundry model, not Azure OpenAI


def test_azure_foundry_serves_azure_models_and_claude(catalog: Catalog) -> None:
    phi = catalog.resolve("system.azure", "phi-4", T)
    assert _prices(phi, "text") == (Decimal("0.000000125"), Decimal("0.0000005"))
    claude = catalog.resolve("system.azure", "claude-sonnet-4-5", T)
    assert claude is not None
    assert claude.source == "genai-prices:anthropic/claude-sonnet-4-5"
    assert catalog.resolve("system.azure", "gpt-4o", T) is None


def test_vertex_serves_gemini_and_claude(catalog: Catalog) -> None:
    claude = catalog.resolve("system.google.vertex", "claude-sonnet-4-5@20250929", T)
    assert claude is not None
    assert claude.source == "genai-prices:google/claude-sonnet-4-5"
    # not in Google's list: borrowed from Anthropic, as genai-prices' fallback does
    sonnet5 = catalog.resolve("system.google.vertex", "claude-sonnet-5@20260101", T)
    assert sonnet5 is not None
    assert sonnet5.source == "genai-prices:anthropic/claude-sonnet-5"


def test_databricks_is_seeded_for_every_cloud(catalog: Catalog) -> None:
    for cloud in ("aws", "azure", "google", "databricks"):
        row = catalog.resolve(f"system.databricks.{cloud}", "databricks-gpt-oss-120b", T)
        assert _prices(row, "text") == (Decimal("0.00000015"), Decimal("0.0000006"))


def test_deepseek_time_of_day_prices_are_not_borrowed_into_azure(catalog: Catalog) -> None:
    # genai-prices' DeepSeek entries carry DeepSeek-platform peak/off-peak prices with off-peak as the base; on
    # Azure Foundry that would underprice peak hours, so such calls are unpriced (reported), never underpriced.
    for hour in (3, 20):
        assert catalog.resolve("system.azure", "deepseek-chat", datetime(2025, 9, 1, hour, tzinfo=UTC)) is None


def test_unit_prices_agree_with_genai_prices(seed_rows: list[PriceVersion]) -> None:
    """Every row prices a plain request exactly as genai-prices does (time-of-day models aside)."""
    providers = {provider.id: provider for provider in genai_data.providers}
    checked = 0
    for row in seed_rows:
        provider_id, model_id = row.source.removeprefix("genai-prices:").split("/", 1)
        provider = providers[provider_id]
        model = next(m for m in provider.models if m.id == model_id)
        timed = not isinstance(model.prices, ModelPrice) and any(
            isinstance(c.constraint, TimeOfDateConstraint) for c in model.prices
        )
        text = row.units.get("text")
        if timed or text is None or text.input_price is None or text.output_price is None:
            continue
        cached = 400 if "text_cache_read" in row.units else 0
        written = 100 if "text_cache_write" in row.units else 0
        units = {"text": {"input": 1000 - cached - written, "output": 300}}
        if cached:
            units["text_cache_read"] = {"input": cached}
        if written:
            units["text_cache_write"] = {"input": written}
        usage = Usage(
            input_tokens=1000, output_tokens=300, cache_read_tokens=cached, cache_write_tokens=written
        )
        expected = model.calc_price(
            usage, provider, genai_request_timestamp=row.start_timestamp + timedelta(hours=1)
        )
        cost = price_units(units, row.units)
        assert (cost.input, cost.output) == (expected.input_price, expected.output_price), row
        checked += 1
    assert checked > 500


def test_load_seed_returns_a_fresh_list() -> None:
    first = load_seed()
    first.clear()
    assert len(load_seed()) > 500


def test_seed_version_is_a_stable_content_hash() -> None:
    version = seed_version()
    assert re.fullmatch(r"[0-9a-f]{64}", version)
    assert seed_version() == version


# --- resolution ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "name", "resource"),
    [
        ("system.openai", "gpt-4o", "gpt-4o"),
        ("system.openai", "gpt-4o-2024-08-06", "gpt-4o"),  # alias (equals clause)
        ("system.openai", "GPT-4o-2024-08-06", "gpt-4o"),  # names are case-insensitive
        ("system.openai", "gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # its own resource, its own price
        ("system.openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("system.openai", "gpt-4o-audio-preview-2024-12-17", "gpt-4o-audio-preview"),  # prefix
        ("system.anthropic", "claude-3-5-haiku-20241022", "claude-3-5-haiku-latest"),  # prefix
        ("system.anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("system.anthropic", "claude-opus-5-20260101", "claude-opus-5"),  # regex clause
        ("system.google.vertex", "gemini-2.5-pro-preview-06-05", "gemini-2.5-pro"),  # and-clause
        (
            "system.google.vertex",
            "gemini-2.5-pro-preview-tts",
            "gemini-2.5-pro-tts",
        ),  # ... which excludes tts
        (
            "system.aws.bedrock",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0",
        ),
        (
            "system.aws.bedrock",
            "us.anthropic.claude-3-haiku-20240307-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0",
        ),
        (
            "system.aws.bedrock",
            "eu.anthropic.claude-3-haiku-20240307-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0",
        ),
        ("system.aws.bedrock", "us.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
        ("system.aws.bedrock", "apac.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
        ("system.aws.bedrock", "us.meta.llama3-70b-instruct-v1:0", "meta.llama3-70b-instruct-v1:0"),
        ("system.aws.bedrock", "us.anthropic.claude-sonnet-4-6", "anthropic.claude-sonnet-4-6-v1:0"),
        # a global profile is priced as such (genai-prices: global is 10% cheaper than in-region)
        (
            "system.aws.bedrock",
            "global.anthropic.claude-sonnet-4-6",
            "global.anthropic.claude-sonnet-4-6-v1:0",
        ),
        (
            "system.aws.bedrock",
            "global.anthropic.claude-3-haiku-20240307-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0",
        ),
        (
            "system.aws.bedrock",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0",
            "amazon.nova-pro-v1:0",
        ),
    ],
)
def test_names_resolve(catalog: Catalog, category: str, name: str, resource: str) -> None:
    row = catalog.resolve(category, name, T)
    assert row is not None
    assert row.resource == resource


@pytest.mark.parametrize(
    ("category", "name"),
    [
        ("system.openai", "gpt-4o-2099-01-01"),  # no prefix rule for gpt-4o: never guess a price
        ("system.openai", "claude-3-haiku-20240307"),  # right model, wrong category
        ("system.anthropic", "us.claude-3-haiku-20240307"),  # region prefixes are a Bedrock thing
        ("system.aws.bedrock", "xx.amazon.unknown-v1:0"),
        ("custom.negotiated", "gpt-4o"),
    ],
)
def test_unknown_names_do_not_resolve(catalog: Catalog, category: str, name: str) -> None:
    assert catalog.resolve(category, name, T) is None
    assert catalog.resource_name(category, name) is None
    assert catalog.versions(category, name) == ()


def test_global_and_regional_bedrock_prices_differ(catalog: Catalog) -> None:
    regional = catalog.resolve("system.aws.bedrock", "us.anthropic.claude-sonnet-4-6", T)
    global_ = catalog.resolve("system.aws.bedrock", "global.anthropic.claude-sonnet-4-6-v1:0", T)
    assert _prices(regional, "text") == (Decimal("0.0000033"), Decimal("0.0000165"))
    assert _prices(global_, "text") == (Decimal("0.000003"), Decimal("0.000015"))


def test_versions_follow_the_event_time(catalog: Catalog) -> None:
    # OpenAI cut o3 from $10 / $40 to $2 / $8 on 2025-06-10 (midnight UTC)
    versions = catalog.versions("system.openai", "o3")
    assert [v.start_timestamp for v in versions] == [BASE_START, datetime(2025, 6, 10, tzinfo=UTC)]
    before = catalog.resolve("system.openai", "o3-2025-04-16", datetime(2025, 6, 9, 23, 59, 59, tzinfo=UTC))
    at_cut = catalog.resolve("system.openai", "o3-2025-04-16", datetime(2025, 6, 10, tzinfo=UTC))
    assert _prices(before, "text") == (Decimal("0.00001"), Decimal("0.00004"))
    assert _prices(at_cut, "text") == (Decimal("0.000002"), Decimal("0.000008"))


def test_version_lookup_accepts_naive_utc_and_other_zones(catalog: Catalog) -> None:
    naive = catalog.resolve("system.openai", "o3", datetime(2025, 6, 10, 0, 30))
    assert naive is not None
    assert naive.start_timestamp == datetime(2025, 6, 10, tzinfo=UTC)
    # 2025-06-10 01:00 at UTC+02:00 is still June 9th in UTC: the old price
    early = catalog.resolve(
        "system.openai", "o3", datetime(2025, 6, 10, 1, tzinfo=timezone(timedelta(hours=2)))
    )
    assert early is not None
    assert early.start_timestamp == BASE_START


def test_nothing_resolves_before_the_first_version(catalog: Catalog) -> None:
    assert catalog.resolve("system.openai", "gpt-4o", datetime(2019, 12, 31, 23, 59, tzinfo=UTC)) is None
    assert catalog.resolve("system.openai", "gpt-4o", BASE_START) is not None


def test_a_catalog_built_from_custom_rows_resolves_them() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = [
        PriceVersion("custom.negotiated", "my-model", start, {"text": UnitPrice(Decimal("1e-6"), None)}),
        PriceVersion(
            "custom.negotiated",
            "my-model",
            start + timedelta(days=30),
            {"text": UnitPrice(Decimal("2e-6"), None)},
            match_prefixes=("my-model-",),
        ),
    ]
    catalog = Catalog(rows)
    assert catalog.resolve("custom.negotiated", "my-model", start - timedelta(seconds=1)) is None
    assert _prices(catalog.resolve("custom.negotiated", "my-model", start), "text")[0] == Decimal("1e-6")
    later = catalog.resolve("custom.negotiated", "my-model-v2", start + timedelta(days=31))
    assert _prices(later, "text")[0] == Decimal("2e-6")


def test_name_cache_is_bounded() -> None:
    catalog = Catalog(load_seed(), cache_size=8)
    for i in range(100):
        assert catalog.resource_name("system.openai", f"unknown-{i}") is None
    assert catalog._lookup.cache_info().currsize == 8
    assert catalog.resource_name("system.openai", "gpt-4o-2024-08-06") == "gpt-4o"
