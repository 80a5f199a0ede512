"""Model names resolve as genai-prices resolves them (issue 12): every name its match clauses list, in every managed
category, as sent, upper-cased and with compact dates (``gpt-5.2-20251211``), including names genai-prices finds
through a fallback provider (Claude on Vertex and Azure)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from genai_prices import data as genai_data

from payi_server.pricing.catalog import Catalog, dashed_dates

from ...conftest import Running
from .reference import PROVIDER_OF, equals_names, genai_model

NOW = datetime.now(UTC)


def _compact(name: str) -> str:
    return re.sub(r"-(20\d\d)-(\d\d)-(\d\d)(?=$|[-:])", r"-\1\2\3", name)


def _names(provider_id: str) -> set[str]:
    providers = {p.id: p for p in genai_data.providers}
    provider = providers[provider_id]
    models = list(provider.models)
    for fallback in provider.fallback_model_providers or []:
        models.extend(providers[fallback].models)
    names: set[str] = set()
    for model in models:
        for name in {model.id, *equals_names(model.match)}:
            names |= {name, name.upper(), _compact(name)}
    return names


def _shadowed(category: str, provider_id: str) -> set[str]:
    """Ids of fallback models that one of the category's own models has already (one resource per name)."""
    providers = {p.id: p for p in genai_data.providers}
    own = {m.id.lower() for m in providers[provider_id].models}
    return {
        m.id.lower()
        for fallback in providers[provider_id].fallback_model_providers or []
        for m in providers[fallback].models
        if m.id.lower() in own
    }


def test_every_listed_name_resolves_to_the_model_genai_prices_prices_it_with(catalog: Catalog) -> None:
    checked = compact = shadowed = 0
    for category, provider_id in PROVIDER_OF.items():
        hidden = _shadowed(category, provider_id)
        for name in sorted(_names(provider_id)):
            expected = genai_model(category, name)
            if expected is None:
                continue  # names genai-prices does not price in this category (ours may: see docs/pricing.md)
            version = catalog.resolve(category, name, NOW)
            if expected[0] != provider_id and expected[1].lower() in hidden:
                # Listed difference: genai-prices found a fallback provider's model whose id one of the category's
                # own models has; a category holds one resource per name, so such a name is priced by the own model
                # when its clauses match, else unpriced (never priced by another provider's model of that name).
                assert version is None or version.source.startswith(f"genai-prices:{provider_id}/"), (name, version)
                shadowed += 1
                continue
            assert version is not None, (category, name, expected)
            assert version.source == f"genai-prices:{expected[0]}/{expected[1]}", (category, name, version.source)
            checked += 1
            compact += dashed_dates(name.lower()) != name.lower()
    assert checked > 1_000 and compact > 50 and shadowed < 100, (checked, compact, shadowed)


def test_compact_dates_price_like_dashed_ones(catalog: Catalog) -> None:
    dashed = catalog.resolve("system.openai", "gpt-5.2-2025-12-11", NOW)
    assert dashed is not None and dashed.resource == "gpt-5.2"
    assert catalog.resolve("system.openai", "gpt-5.2-20251211", NOW) is dashed
    assert catalog.resolve("system.openai", "GPT-5.2-20251211", NOW) is dashed
    # not a calendar day: left as sent, and unpriced (genai-prices does not price it either)
    assert dashed_dates("gpt-5.2-20251311") == "gpt-5.2-20251311"
    assert genai_model("system.openai", "gpt-5.2-20251311") is None
    assert catalog.resolve("system.openai", "gpt-5.2-20251311", NOW) is None
    # a Bedrock version suffix after the date, and a cross-region prefix
    bedrock = catalog.resolve("system.aws.bedrock", "us.anthropic.claude-3-haiku-20240307-v1:0", NOW)
    assert bedrock is not None and bedrock.resource == "anthropic.claude-3-haiku-20240307-v1:0"


async def test_ingest_prices_a_compact_date_like_the_dashed_one(running: Running) -> None:
    results = []
    for name in ("gpt-5.2-2025-12-11", "gpt-5.2-20251211"):
        body = {"category": "system.openai", "resource": name, "units": {"text": {"input": 1000, "output": 10}}}
        response = await running.client.post("/api/v1/ingest", json=body, headers=running.headers())
        assert response.status_code == 200, response.text
        results.append(response.json()["xproxy_result"])
    assert "unknown_units" not in results[1] and results[1]["cost"]["total"]["base"] > 0
    assert results[0]["resource_id"] == results[1]["resource_id"]
    assert results[0]["cost"] == results[1]["cost"]


def test_vertex_names_the_sdks_send_with_a_google_prefix_resolve_to_the_model(catalog: Catalog) -> None:
    """Both Pay-i SDKs ingest Gemini calls as ``google.<model version>`` in ``system.google.vertex``."""
    for model in ("gemini-2.5-flash", "gemini-2.0-flash", "gemini-1.5-pro"):
        bare = catalog.resolve("system.google.vertex", model, NOW)
        assert bare is not None, model
        assert catalog.resolve("system.google.vertex", "google." + model, NOW) is bare
    assert catalog.resolve("system.google.vertex", "google.no-such-model", NOW) is None
    assert catalog.resolve("system.google.vertex", "google.", NOW) is None
    # only there: another category keeps the name as sent
    assert catalog.resolve("system.openai", "google.gpt-4o", NOW) is None
