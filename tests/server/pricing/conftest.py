"""Fixtures shared by the pricing tests: the seed and a catalog built from it, once per session."""

from __future__ import annotations

import pytest

from payi_server.pricing.catalog import Catalog, PriceVersion
from payi_server.pricing.seed import load_seed


@pytest.fixture(scope="session")
def seed_rows() -> list[PriceVersion]:
    return load_seed()


@pytest.fixture(scope="session")
def catalog(seed_rows: list[PriceVersion]) -> Catalog:
    return Catalog(seed_rows)
