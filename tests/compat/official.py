"""Run code with the *official* Pay-i SDK (``payi==0.1.0a183``) against our live server, in a subprocess.

Both SDKs import as ``payi``, so the official one runs in its own interpreter: ``python -S -P`` (no site-packages,
so neither our editable ``src/`` nor the venv is on the path) with ``PYTHONPATH`` = the directory the SDK was
installed into (it holds its dependencies too). Where that directory is:

- ``$PAYI_TEST_OFFICIAL_SDK`` (``scripts/_test_deps.sh`` installs it and sets this), or
- ``.cache/official-payi`` in the repository. Install it with
  ``.venv/bin/python -m pip install --target .cache/official-payi payi==0.1.0a183 httpx==0.28.1``.

Tests skip (with that hint) only when the variable is unset and the directory is missing.

The snippet runs with these names defined, and sets ``result`` to anything JSON-serialisable::

    client          Payi(_strict_response_validation=True), PAYI_API_KEY / PAYI_BASE_URL pointing at the server
    payi            the official package
    dump(model)     a response model (or a list / page of them) as plain JSON data
    attempt(fn, *a, **kw)  calls fn; returns {"ok": dump(value)} or {"error": class name, "status": ..., "body": ...}

Example::

    limit = run_official(live, "result = dump(client.limits.create(limit_name='x', max=1).limit)")
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any, Protocol

import pytest

ENV_VAR = "PAYI_TEST_OFFICIAL_SDK"
VERSION = "0.1.0a183"
REPO = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO / ".cache" / "official-payi"
_MARKER = "\x1e--payi-official-result--\x1e"

_PRELUDE = '''
import importlib.util, json, os, sys
import payi
from payi import Payi

_sdk_dir = os.path.realpath(os.environ["PAYI_TEST_OFFICIAL_SDK_DIR"])
assert os.path.realpath(payi.__file__).startswith(_sdk_dir + os.sep), ("not the official SDK", payi.__file__)
assert importlib.util.find_spec("payi_server") is None, "our server package must not be importable here"
assert payi.__version__ == "0.1.0-alpha.183", payi.__version__

client = Payi(_strict_response_validation=True)


def dump(value):
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {k: dump(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [dump(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "__iter__"):
        return [dump(v) for v in value]
    return str(value)


def attempt(fn, *args, **kwargs):
    try:
        return {"ok": dump(fn(*args, **kwargs))}
    except payi.APIStatusError as exc:
        return {"error": type(exc).__name__, "status": exc.status_code, "body": exc.body}
    except payi.APIError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}

result = None
'''

_EPILOGUE = f'''
sys.stdout.write({_MARKER!r} + json.dumps(result, default=str) + "\\n")
'''


class LiveServer(Protocol):
    """What the harness needs of the ``live`` fixture."""

    url: str

    @property
    def app_key(self) -> str: ...


def official_sdk_dir() -> Path:
    """The official SDK's directory; skips the test when it is not installed (and fails if misconfigured)."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        path = Path(configured)
        if not (path / "payi" / "__init__.py").is_file():
            pytest.fail(f"{ENV_VAR}={configured} does not hold the official payi SDK")
        return path
    if (DEFAULT_DIR / "payi" / "__init__.py").is_file():
        return DEFAULT_DIR
    pytest.skip(
        f"official payi SDK not installed: set {ENV_VAR}, run scripts/_test_deps.sh, or "
        f"`.venv/bin/python -m pip install --target .cache/official-payi payi=={VERSION} httpx==0.28.1`"
    )


def _child_env(sdk: Path, base_url: str, api_key: str, extra: dict[str, str] | None) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "SYSTEMROOT", "TMPDIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(
        {
            "PYTHONPATH": str(sdk),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONIOENCODING": "utf-8",
            "PAYI_TEST_OFFICIAL_SDK_DIR": str(sdk),
            "PAYI_API_KEY": api_key,
            "PAYI_BASE_URL": base_url,
            "NO_PROXY": "*",
        }
    )
    env.update(extra or {})
    return env


def run_official(
    live: LiveServer,
    code: str,
    *,
    api_key: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> Any:
    """Run ``code`` with the official SDK against ``live`` and return the ``result`` it set (JSON-decoded).

    ``api_key`` defaults to the live server's first application key; ``env`` adds variables for the child.
    A failing snippet fails the test with its stderr.
    """
    sdk = official_sdk_dir()
    program = _PRELUDE + "\n" + textwrap.dedent(code) + "\n" + _EPILOGUE
    with tempfile.TemporaryDirectory(prefix="payi-official-") as cwd:
        proc = subprocess.run(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-S", "-P", "-c", program],
            cwd=cwd,
            env=_child_env(sdk, live.url, api_key or live.app_key, env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    if proc.returncode != 0 or _MARKER not in proc.stdout:
        pytest.fail(
            f"official SDK snippet failed (exit {proc.returncode})\n--- stdout\n{proc.stdout[-4000:]}\n"
            f"--- stderr\n{proc.stderr[-8000:]}",
            pytrace=False,
        )
    return json.loads(proc.stdout.rsplit(_MARKER, 1)[1])
