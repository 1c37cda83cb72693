#!/usr/bin/env bash
# Check (and where possible install) what the site needs from the system.
#   scripts/prereqs.sh           Python 3.11+ and Java 17+ (Spark)
#   scripts/prereqs.sh browser   also Chromium, for the browser tests
set -euo pipefail

say() { printf '==> %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_install() {
  can_apt || return 1
  say "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 \
    || { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null; }
}

PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null 2>&1 || die "Python 3.11+ is required ($PYTHON not found)."
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || die "Python 3.11+ is required; $PYTHON is $("$PYTHON" -V 2>&1). Set PYTHON=/path/to/python3.11."
say "python: $("$PYTHON" -V 2>&1)"

java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ] 2>/dev/null; then
  apt_install openjdk-17-jre-headless || die "Java 17+ is required for Spark and could not be installed; install openjdk-17-jre-headless."
fi
[ "$(java_major)" -ge 17 ] || die "Java 17+ is required for Spark; found $(java -version 2>&1 | head -1)."
say "java: $(java -version 2>&1 | head -1)"

if [ "${1:-}" = browser ]; then
  if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium || die "Chromium is required for the browser tests and could not be installed; install Debian's chromium package."
  fi
  say "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -1)"
fi
