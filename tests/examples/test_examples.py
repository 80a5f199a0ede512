"""Every script in ``examples/`` runs unchanged against our live server and the fake provider upstream, with our
SDK and with the official one (``payi==0.1.0a183``, see ``tests/compat/official.py``).

Only environment variables differ from a real deployment: ``PAYI_API_KEY`` / ``PAYI_BASE_URL`` name our server,
and ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL`` / ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` point the providers' own
clients at the fake (which checks SigV4 for Bedrock).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.compat.official import official_sdk_dir
from tests.sdk.instrument_env import InstrumentEnv, fake_config, ienv

__all__ = ["fake_config", "ienv"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = {
    "openai_ingest.py": ("ingest", "example_openai", "system.openai", 2),
    "openai_proxy.py": ("proxy", "example_openai_proxy", "system.openai", 1),
    "anthropic_ingest.py": ("ingest", "example_anthropic", "system.anthropic", 2),
    "anthropic_proxy.py": ("proxy", "example_anthropic_proxy", "system.anthropic", 1),
    "bedrock_ingest.py": ("ingest", "example_bedrock", "system.aws.bedrock", 2),
    "bedrock_proxy.py": ("proxy", "example_bedrock_proxy", "system.aws.bedrock", 1),
}
# The official SDK sends boto3's endpoint to the Bedrock proxy without its port (scheme://host), so it can reach only
# a provider on the default port: the fake's loopback port is lost. Against real AWS (port 443) it works.
NOT_WITH_OFFICIAL = {"bedrock_proxy.py"}


def test_the_folder_holds_the_documented_scripts() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(SCRIPTS)
    readme = (EXAMPLES / "README.md").read_text()
    for name in SCRIPTS:
        assert f"`{name}`" in readme
    for variable in (
        "PAYI_API_KEY",
        "PAYI_BASE_URL",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    ):
        assert variable in readme


def _interpreter(sdk: str) -> tuple[list[str], dict[str, str]]:
    """The command prefix and extra environment that run a script with our SDK or the official one."""
    if sdk == "ours":
        return [sys.executable], {}
    # no site: our editable install (a .pth file) stays off the path; the official SDK's directory comes first,
    # the venv's packages (openai, anthropic, boto3) after it
    path = os.pathsep.join([str(official_sdk_dir()), sysconfig.get_paths()["purelib"]])
    return [sys.executable, "-S", "-P"], {"PYTHONPATH": path}


@pytest.mark.slow
@pytest.mark.parametrize("sdk", ["ours", "official"])
def test_every_example_runs_against_our_server(ienv: InstrumentEnv, tmp_path: Path, sdk: str) -> None:
    command, extra_env = _interpreter(sdk)
    scripts = {k: v for k, v in SCRIPTS.items() if sdk == "ours" or k not in NOT_WITH_OFFICIAL}
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PAYI_", "OPENAI_", "ANTHROPIC_", "AWS_"))
        },
        "PAYI_API_KEY": ienv.key,
        "PAYI_BASE_URL": ienv.live.url,
        "PAYI_SPOOL_DIR": str(tmp_path / "spool"),
        "OPENAI_API_KEY": "sk-fake-openai",
        "OPENAI_BASE_URL": ienv.openai_direct,
        "ANTHROPIC_API_KEY": "sk-ant-fake",
        "ANTHROPIC_BASE_URL": ienv.fake_url,
        "AWS_ACCESS_KEY_ID": "AKIDFAKE",
        "AWS_SECRET_ACCESS_KEY": "fake-secret",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": ienv.fake_url,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        **extra_env,
    }
    running = {
        name: subprocess.Popen(
            [*command, str(EXAMPLES / name)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in scripts
    }
    outputs = {name: proc.communicate(timeout=90) for name, proc in running.items()}
    for name, (out, err) in outputs.items():
        assert running[name].returncode == 0, f"{name}:\n{err}"
        assert "answer:" in out, name
        cost = re.search(r"cost \(USD\): (\S+)", out)
        assert cost is not None and float(cost.group(1)) > 0, f"{name}:\n{out}"
    rows = ienv.recorded(sum(count for *_, count in scripts.values()))
    for name, (source, use_case, category, count) in scripts.items():
        mine = [r for r in rows if r["use_case_name"] == use_case]
        assert len(mine) == count, (name, [(r["use_case_name"], r["source"], r["category"]) for r in rows])
        assert all(
            r["source"] == source and r["category"] == category and r["user_id"] == "example-user"
            for r in mine
        ), name
    assert all(r.sigv4_valid for r in ienv.fake.requests if r.endpoint.startswith("bedrock."))
    assert not list((tmp_path / "spool").rglob("*.jsonl"))
