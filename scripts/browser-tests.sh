#!/usr/bin/env bash
# The browser tests in their own pytest run (Playwright's event loop must not leak into async tests).
# Until a test is marked `browser` there is nothing to run, and this says so.
set -euo pipefail
PY=${1:-.venv/bin/python}

set +e
listed=$("$PY" -m pytest -m browser --collect-only -q 2>&1)
status=$?
set -e
if [ "$status" = 5 ]; then
  echo "==> browser tests: none are marked yet, nothing to run"
  exit 0
elif [ "$status" != 0 ]; then
  printf '%s\n' "$listed" >&2
  echo "ERROR: collecting the browser tests failed" >&2
  exit "$status"
fi
scripts/prereqs.sh browser
echo "==> tests: real Chromium"
exec "$PY" -m pytest -m browser
