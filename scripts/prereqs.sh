#!/usr/bin/env bash
# Check (and where possible install) what the site needs from the system.
#   scripts/prereqs.sh           Python 3.11+ with venv, and Java 17+ (Spark)
#   scripts/prereqs.sh browser   also Chromium, for the browser tests
#   scripts/prereqs.sh redis     also redis-server, for the tests that start their own and make demo-cluster
# Installing needs root and apt-get (Debian, Ubuntu); elsewhere, or with DC43_NO_INSTALL=1, it says what
# to install and stops.
set -euo pipefail

say() { printf '==> %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

can_apt() { [ -z "${DC43_NO_INSTALL:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_updated=
apt_install() {
  can_apt || return 1
  say "installing $* with apt-get"
  if [ -z "$apt_updated" ]; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1
}

# --- Python 3.11+ that can make a virtual environment ---
PYTHON=${PYTHON:-python3}
python_ok() { command -v "$PYTHON" >/dev/null 2>&1 && "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
if ! python_ok; then
  apt_install python3 python3-venv || true
  python_ok || die "Python 3.11+ is required and could not be installed; $PYTHON is $("$PYTHON" -V 2>/dev/null || echo 'not found'). Install Python 3.11 or newer, or run with PYTHON=/path/to/python3.11."
fi
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  apt_install python3-venv || true
  "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 \
    || die "$PYTHON cannot create virtual environments (no ensurepip); install the python3-venv package."
fi
say "python: $("$PYTHON" -V 2>&1)"

# --- Java 17+ for Spark ---
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
java_ok() { command -v java >/dev/null 2>&1 && [ "$(java_major)" -ge 17 ] 2>/dev/null; }
if ! java_ok; then
  for package in openjdk-17-jre-headless openjdk-21-jre-headless default-jre-headless; do
    apt_install "$package" && java_ok && break
  done
  java_ok || die "Java 17+ is required for Spark and could not be installed; found: $(java -version 2>&1 | head -1 || echo 'no java'). Install OpenJDK 17 or 21 (e.g. apt-get install openjdk-17-jre-headless) or put it on PATH."
fi
say "java: $(java -version 2>&1 | head -1)"

# --- Chromium, only for the browser tests ---
if [ "${1:-}" = browser ]; then
  if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium || die "Chromium is required for the browser tests and could not be installed; install Debian's chromium package."
  fi
  say "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -1)"
fi

# --- redis-server, for the tests that start one of their own and for make demo-cluster ---
if [ "${1:-}" = redis ]; then
  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server || die "redis-server is required for the multi-process tests and make demo-cluster and could not be installed; install Redis (e.g. apt-get install redis-server)."
  fi
  say "redis: $(redis-server --version 2>/dev/null | head -1)"
fi
