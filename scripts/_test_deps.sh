# Sourced by scripts/test: what the tests need beyond the Python packages of the project.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The official Pay-i SDK, installed into its own directory: the wire-compatibility tests run it in a
# subprocess (it imports as `payi`, like ours).
OFFICIAL="$ROOT/.cache/official-payi"
if [ ! -f "$OFFICIAL/.installed-0.1.0a183" ]; then
  echo "installing the official payi==0.1.0a183 SDK into .cache/official-payi" >&2
  rm -rf "$OFFICIAL"
  "$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check --target "$OFFICIAL" \
    "payi==0.1.0a183" "httpx==0.28.1"
  touch "$OFFICIAL/.installed-0.1.0a183"
fi
export PAYI_TEST_OFFICIAL_SDK="$OFFICIAL"
