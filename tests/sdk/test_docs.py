"""The examples in the SDK's docstrings run (doctest), so the docs cannot fall behind the code."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import payi

# Modules owned by the instrumentation work are documented and tested there.
NOT_HERE = ("payi.lib.instrument", "payi.lib.units", "payi.lib.providers")
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(payi.__path__, prefix="payi.")
    if not info.name.startswith(NOT_HERE)
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("PAYI_API_KEY", "PAYI_BASE_URL", "PAYI_CUSTOM_HEADERS"):
        monkeypatch.delenv(variable, raising=False)
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
