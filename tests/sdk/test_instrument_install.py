"""Which providers ``payi_instrument`` patches: an SDK that is missing (or half installed) is skipped quietly."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import importlib.abc, logging, sys

    class Hide(importlib.abc.MetaPathFinder):  # these packages behave as if not installed
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {hidden!r}:
                raise ModuleNotFoundError(name)
            return None

    sys.meta_path.insert(0, Hide())
    logging.basicConfig(level=logging.WARNING)
    from payi.lib.instrument import payi_instrument
    from payi.lib._instrumentor import ACTIVE
    payi_instrument(config={{"offline_instrumentation": {{"file_name": "/dev/null"}}}})
    print(sorted({{key.split(":")[0] for key in ACTIVE.patched}}))
    """
)


def run(hidden: set[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYI_")}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT.format(hidden=hidden)], capture_output=True, text=True, env=env, timeout=60
    )


def test_botocore_without_boto3_is_skipped_quietly() -> None:
    done = run({"boto3"})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "could not instrument" not in done.stderr
    patched = done.stdout.strip()
    assert "botocore" not in patched and "openai._base_client" in patched and "google.genai.models" in patched


def test_every_provider_missing_is_fine() -> None:
    done = run({"boto3", "botocore", "openai", "anthropic", "google"})
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.strip() == "['concurrent.futures']"
