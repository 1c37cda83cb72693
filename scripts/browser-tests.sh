#!/usr/bin/env bash
# The browser tests in their own pytest run (Playwright's event loop must not leak into async tests).
# Collecting no browser test is a failure like any other (pytest exits 5).
set -euo pipefail
PY=${1:-.venv/bin/python}
scripts/prereqs.sh browser
echo "==> tests: real Chromium"
exec "$PY" -m pytest -m browser
