"""The docs keep up with the code: every setting is documented in the README."""

from __future__ import annotations

from pathlib import Path

from payi_server.settings import ENV_PREFIX, Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_in_the_readme() -> None:
    text = README.read_text()
    missing = [ENV_PREFIX + name.upper() for name in Settings.model_fields if f"`{ENV_PREFIX}{name.upper()}`" not in text]
    assert not missing, f"settings missing from README.md's configuration table: {missing}"


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one() -> None:
    text = README.read_text()
    assert "./scripts/serve" in text and "./scripts/test" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "./scripts/test" in ci
