#!/usr/bin/env bash
# `make demo-cluster`: the Procfile's processes on this machine, in the foreground.
#   Redis, when none answers (the Procfile's `redis` line),
#   a Spark standalone master and worker (scripts/local-cluster.sh master|worker),
#   two web processes (daphne on 8000 and 8001) sharing Redis and the database,
#   a runner worker (DC43_RUNNER=worker) whose runs' Spark driver uses the cluster.
# Each line's output is prefixed with its name. Ctrl-C stops them all by their PIDs: SIGTERM to each, then SIGKILL
# to whatever is left of its process group (what it started: a Spark driver, executors). So does the end of any one.
# Redis: REDIS_URL when set (it must answer); otherwise the one answering on 127.0.0.1:DC43_REDIS_PORT (6379), or
# the Procfile's `redis` line, started here and stopped with the rest.
# Settings (environment): DC43_REDIS_PORT (6379), DC43_WEB1_PORT (8000), DC43_WEB2_PORT (8001),
# the DC43_CLUSTER_* of scripts/local-cluster.sh, PYTHON (.venv/bin/python), and the site's own (DATABASE_URL...).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
PYTHON=$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")
# The Procfile says `python` and `daphne`: the virtualenv's, as for an operator who activated it.
export PYTHON PATH="$(dirname "$PYTHON"):$PATH"
export DC43_REDIS_PORT=${DC43_REDIS_PORT:-6379}
export DC43_WEB1_PORT=${DC43_WEB1_PORT:-8000} DC43_WEB2_PORT=${DC43_WEB2_PORT:-8001}
export DC43_CLUSTER_PORT=${DC43_CLUSTER_PORT:-7077} DC43_CLUSTER_UI_PORT=${DC43_CLUSTER_UI_PORT:-8081}
export DC43_CLUSTER_WORKER_UI_PORT=${DC43_CLUSTER_WORKER_UI_PORT:-8082}
export DC43_SPARK_MASTER=${DC43_SPARK_MASTER:-spark://127.0.0.1:$DC43_CLUSTER_PORT}
export DC43_RUNNER=worker

say() { echo "==> $*"; }
die() { echo "ERROR: $*" >&2; exit 1; }

command -v java >/dev/null || die "java is not installed (Spark needs Java 17+); 'make demo' installs it"
redis_answers() {
  "$PYTHON" - <<'EOF'
import os, sys, redis
try:
    redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=2).ping()
except redis.RedisError as exc:
    sys.exit(f"{type(exc).__name__}: {exc}")
EOF
}
own_redis=no
if [ -n "${REDIS_URL:-}" ]; then
  redis_answers || die "Redis does not answer at $REDIS_URL. Start it, or unset REDIS_URL to let this script start one."
else
  export REDIS_URL="redis://127.0.0.1:$DC43_REDIS_PORT/0"
  if redis_answers 2>/dev/null; then
    say "using the Redis that answers at $REDIS_URL"
  else
    command -v redis-server >/dev/null || die "no Redis answers at $REDIS_URL and redis-server is not installed ('apt-get install redis-server'), or set REDIS_URL to yours."
    own_redis=yes
  fi
fi
for port in "$DC43_WEB1_PORT" "$DC43_WEB2_PORT" "$DC43_CLUSTER_PORT" "$DC43_CLUSTER_UI_PORT" "$DC43_CLUSTER_WORKER_UI_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port is taken (is 'make demo' or another demo-cluster running?)"; fi
done

pids=()
names=()
stop_all() {  # SIGTERM to each process (the runner worker stops its runs cleanly, then Spark), then SIGKILL to what is left
  trap - INT TERM EXIT
  say "stopping ${names[*]}"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 150); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  say "all stopped"
  exit "${1:-0}"
}
trap 'stop_all 130' INT
trap 'stop_all 143' TERM
trap 'stop_all $?' EXIT

start() {  # a Procfile line, by name, in a session of its own (so its group is its own to stop)
  local name=$1 line
  line=$(sed -n "s/^${name//./\\.}: *//p" Procfile)
  [ -n "$line" ] || die "no '$name' line in the Procfile"
  setsid bash -c "exec $line" > >(sed -u "s/^/$name | /") 2>&1 &
  pids+=("$!")
  names+=("$name")
  say "$name (pid $!): $line"
}

wait_for_port() {  # port, what
  for _ in $(seq 240); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  die "$2 did not open port $1"
}

if [ "$own_redis" = yes ]; then
  start redis
  wait_for_port "$DC43_REDIS_PORT" "redis-server"
fi
say "migrating the database and making sure the demo contracts and an admin account exist"
"$PYTHON" manage.py migrate --noinput
"$PYTHON" manage.py load_demo_contracts
"$PYTHON" manage.py ensure_admin

start spark-master
wait_for_port "$DC43_CLUSTER_PORT" "the Spark master"
start spark-worker
wait_for_port "$DC43_CLUSTER_WORKER_UI_PORT" "the Spark worker"
start web.1
start web.2
start worker
wait_for_port "$DC43_WEB1_PORT" "web.1"
wait_for_port "$DC43_WEB2_PORT" "web.2"
say "up: http://127.0.0.1:$DC43_WEB1_PORT/ and http://127.0.0.1:$DC43_WEB2_PORT/ (the same site), Spark master page" \
  "http://127.0.0.1:$DC43_CLUSTER_UI_PORT/; runs go to the runner worker, their executors to the Spark worker." \
  "Ctrl-C stops everything."
# Until Ctrl-C, or until one of them ends (then the others are stopped too).
wait -n "${pids[@]}" || true
say "a process ended; stopping the others"
stop_all 1
