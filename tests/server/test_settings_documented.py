"""Every setting in the README's configuration table works in the form the README documents, and every value
that is not a working one stops start-up with one line naming the variable."""

from __future__ import annotations

import builtins
import os
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from payi_server.cli import app
from payi_server.settings import ENV_PREFIX, Settings, SettingsError, load_settings

README = Path(__file__).resolve().parents[2] / "README.md"
_ROW = re.compile(r"^\| `(PAYI_SERVER_[A-Z0-9_]+)` \| (.*?) \| (.*) \|$")


def _table() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in README.read_text().splitlines():
        found = _ROW.match(line)
        if found:
            rows[found.group(1)] = (found.group(2), found.group(3))
    return rows


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    return monkeypatch


def test_the_table_and_the_settings_name_the_same_variables() -> None:
    documented = set(_table())
    fields = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert documented == fields, (sorted(fields - documented), sorted(documented - fields))


def test_every_documented_default_is_the_default(clean_env: pytest.MonkeyPatch) -> None:
    """Each default the table spells as a value (`...`) is accepted in that form and is the default."""
    defaults = load_settings()
    checked = 0
    for name, (default, _meaning) in _table().items():
        literal = re.fullmatch(r"`([^`]*)`", default)
        if not literal:
            continue  # "(none)", "generated", "provider hosts", "SQLite `<data dir>/payi.db`"
        clean_env.setenv(name, literal.group(1))
        field = name[len(ENV_PREFIX):].lower()
        assert getattr(load_settings(), field) == getattr(defaults, field), name
        clean_env.delenv(name)
        checked += 1
    assert checked >= 25


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("api.openai.com,*.openai.azure.com", ("api.openai.com", "*.openai.azure.com")),  # as the README says
        (" api.openai.com , *.openai.azure.com ,", ("api.openai.com", "*.openai.azure.com")),
        ('["api.openai.com", "*.openai.azure.com"]', ("api.openai.com", "*.openai.azure.com")),
        ("gateway.internal", ("gateway.internal",)),
    ],
)
def test_provider_hosts_comma_list_or_json_array(clean_env: pytest.MonkeyPatch, value: str, expected: tuple[str, ...]) -> None:
    clean_env.setenv("PAYI_SERVER_PROVIDER_HOSTS", value)
    assert load_settings().provider_hosts == expected


@pytest.mark.parametrize("value", ["", ",", "[]", '["a", 1]', "[not json", "api.openai.com,has space.com"])
def test_provider_hosts_that_name_nothing_usable_are_refused(clean_env: pytest.MonkeyPatch, value: str) -> None:
    clean_env.setenv("PAYI_SERVER_PROVIDER_HOSTS", value)
    with pytest.raises(SettingsError, match="PAYI_SERVER_PROVIDER_HOSTS"):
        load_settings()


_URL_SETTINGS = {
    "PAYI_SERVER_OPENAI_BASE_URL": "https://gateway.example.com/v1",
    "PAYI_SERVER_ANTHROPIC_BASE_URL": "https://api.anthropic.com",
    "PAYI_SERVER_AZURE_OPENAI_BASE_URL": "https://acme.openai.azure.com",
    "PAYI_SERVER_AZURE_ANTHROPIC_BASE_URL": "https://acme.services.ai.azure.com/anthropic",
    "PAYI_SERVER_AWS_BEDROCK_BASE_URL": "https://bedrock-runtime.us-east-1.amazonaws.com",
    "PAYI_SERVER_OTEL_ENDPOINT": "http://collector:4318/v1/traces",
    "PAYI_SERVER_REDIS_URL": "redis://127.0.0.1:6379/0",
    "PAYI_SERVER_DATABASE_URL": "postgresql://user@host:5432/db",
}


@pytest.mark.parametrize("name", sorted(_URL_SETTINGS))
def test_every_url_setting_is_checked(clean_env: pytest.MonkeyPatch, name: str) -> None:
    clean_env.setenv(name, _URL_SETTINGS[name])
    load_settings()
    for bad in ("notaurl", "ftp://host/x", "https://", "http:///path", "https://exa mple.com", "//host"):
        clean_env.setenv(name, bad)
        with pytest.raises(SettingsError) as info:
            load_settings()
        message = str(info.value)
        assert name in message and "\n" not in message, message


def test_documented_database_url_forms(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for value in (f"sqlite:///{tmp_path}/path.db", "postgresql://user@host:5432/db", "postgres://u:p@h/db"):
        clean_env.setenv("PAYI_SERVER_DATABASE_URL", value)
        assert load_settings().database_url == value


def test_serve_with_a_bad_url_says_so_in_one_line(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve"], env={"PAYI_SERVER_OPENAI_BASE_URL": "notaurl",
                                                     "PAYI_SERVER_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "PAYI_SERVER_OPENAI_BASE_URL" in lines[0], result.output
    assert not (tmp_path / "payi.db").exists()  # nothing created


def test_otel_endpoint_without_the_otel_extra_is_one_line_at_start(clean_env: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_otel(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("opentelemetry"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    clean_env.setenv("PAYI_SERVER_OTEL_ENDPOINT", "http://collector:4318/v1/traces")
    load_settings()  # the extra is installed here
    clean_env.setattr(builtins, "__import__", no_otel)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "PAYI_SERVER_OTEL_ENDPOINT" in message and "otel" in message and "\n" not in message
