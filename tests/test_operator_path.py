"""A new operator's path, as the docs write it: every path a doc names exists, the README's CLI lines run as
written (``payi-server`` on PATH the documented way), every command the docs name exists, and every ``--help``
reads cleanly (no ``--help <bool>``)."""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from payi_server.cli import app

from .server.conftest_helpers import cli_env

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "examples" / "README.md"]

# Paths the docs name that are not in the repository, each for a reason.
NOT_IN_THE_REPOSITORY = {
    "data/secret.key": "generated at first start",
    "./data/": "created at first start",
    "./data": "created at first start",
    ".cache/litellm-venv": "created by the LiteLLM benchmark",
    "litellm/proxy/schema.prisma": "a file of the LiteLLM package, named in the comparison",
}
_EXTENSIONS = (".py", ".md", ".json", ".yaml", ".yml", ".mjs", ".sh", ".toml", ".txt", ".html", ".js", ".css", ".cfg")


def _named_paths(text: str) -> Iterator[str]:
    for token in re.findall(r"`([^`\s]+)`", text) + re.findall(r"\]\(([^)\s#]+)", text):
        if token.startswith(("/", "http:", "https:", "$")) or any(c in token for c in "<>*{}=:"):
            continue
        if "/" in token and (token.endswith("/") or token.endswith(_EXTENSIONS)):
            yield token


def test_every_path_a_doc_names_exists() -> None:
    missing = []
    checked = 0
    for doc in DOCS:
        for token in _named_paths(doc.read_text()):
            if token in NOT_IN_THE_REPOSITORY:
                continue
            bases = [ROOT, doc.parent, ROOT / "src" / "payi_server", ROOT / "src" / "payi", ROOT / "src"]
            checked += 1
            if not any((base / token).exists() for base in bases):
                missing.append(f"{doc.relative_to(ROOT)}: {token}")
    assert not missing, missing
    assert checked > 40


def test_docs_point_only_inside_the_repository() -> None:
    for doc in DOCS:
        text = doc.read_text()
        assert "../shared" not in text and "/work/" not in text, doc


def test_the_wire_contract_is_in_docs() -> None:
    text = (ROOT / "docs" / "wire-protocol.md").read_text()
    for topic in ("xProxy-api-key", "xproxy_result", "xproxy_error", "/api/v1/ingest", "xProxy-Provider-BaseUri",
                  "xProxy-Limit-IDs", "/api/v1/proxy/"):
        assert topic in text, topic
    assert "docs/wire-protocol.md" in (ROOT / "README.md").read_text()


# --- --help ------------------------------------------------------------------------------------------------------
def _commands(group: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if hasattr(group, "commands"):  # a group (typer's own click, not necessarily click.Group)
        for name, command in group.commands.items():
            yield from _commands(command, (*path, name))


def test_no_help_shows_a_type_for_a_flag() -> None:
    root = typer.main.get_command(app)
    runner = CliRunner()
    seen = 0
    for path in _commands(root):
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, (path, result.output)
        assert re.search(r"--help\s+Show this message", result.output), (path, result.output)
        seen += 1
    assert seen > 20


# --- the README's CLI lines ---------------------------------------------------------------------------------------
def _readme_cli_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n((?:[^`]*\n)*?)```\n\n## Configuration", text)
    assert block, "the README's key-management block moved"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if "payi-server" in line]


def _variants(line: str, with_options: bool) -> list[list[str]]:
    """The README's notation: ``a | b`` are alternatives of one command, ``[...]`` an optional part."""
    commands = []
    first, *others = [part.strip() for part in line.split(" | ")]
    for part in [first, *("payi-server " + other for other in others)]:
        text = re.sub(r"\[([^\]]+)\]", r"\1" if with_options else "", part)
        commands.append(shlex.split(text))
    return commands


@pytest.mark.parametrize("with_options", [False, True], ids=["bare", "every-option"])
def test_the_readmes_cli_lines_run_as_written(tmp_path: Path, with_options: bool) -> None:
    env = {**cli_env(f"sqlite:///{tmp_path}/payi.db", tmp_path), "COLUMNS": "80"}
    runner = CliRunner()
    lines = _readme_cli_lines()
    assert len(lines) >= 6
    key_ids = itertools.count(4)  # a fresh database: keys 1-3 at first use, 4-5 billing-prod's, 6 the regenerated
    ran = 0
    for line in lines:
        for argv in _variants(line, with_options):
            assert argv[0] == "payi-server", line
            args = [str(next(key_ids)) if a == "KEY_ID" else a for a in argv[1:]]
            if args[:2] == ["apps", "delete"]:
                continue  # run last, below: later lines use the application
            result = runner.invoke(app, args, env=env)
            assert result.exit_code == 0, (argv, result.output)
            ran += 1
    deleted = runner.invoke(app, ["apps", "delete", "billing-prod"], env=env)
    assert deleted.exit_code == 0, deleted.output
    assert ran >= 7


def test_payi_server_is_on_path_the_documented_way(tmp_path: Path) -> None:
    """The README: ``./scripts/serve`` installs into ``.venv``; ``source .venv/bin/activate`` puts ``payi-server``
    on PATH. The test's own environment is that venv."""
    readme = (ROOT / "README.md").read_text()
    assert "source .venv/bin/activate" in readme
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / "payi-server").exists()
    env = {**os.environ, **cli_env(f"sqlite:///{tmp_path}/payi.db", tmp_path),
           "PATH": f"{venv_bin}{os.pathsep}/usr/bin:/bin"}
    done = subprocess.run(["bash", "-c", "payi-server apps list --json"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"name":"default"' in done.stdout


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_every_command_a_doc_names_exists(doc: Path) -> None:
    root = typer.main.get_command(app)
    assert hasattr(root, "commands")
    text = doc.read_text()
    code = "\n".join(re.findall(r"```[a-z]*\n(.*?)```", text, re.S) + re.findall(r"`([^`\n]+)`", text))
    for found in re.finditer(r"payi-server ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)", code):
        words = found.group(1).split()
        command = root.commands.get(words[0])
        assert command is not None, f"{doc.name}: payi-server {words[0]}"
        if hasattr(command, "commands") and len(words) > 1:
            assert words[1] in command.commands, f"{doc.name}: payi-server {' '.join(words)}"
