#!/usr/bin/env bash
# A Spark standalone master and one worker on 127.0.0.1, from the jars pip's pyspark ships.
#   scripts/local-cluster.sh start|stop|status   both daemons in the background (pid files in DC43_CLUSTER_DIR)
#   scripts/local-cluster.sh master|worker       one daemon in the foreground: the Procfile's spark-* lines
# Then run the site with DC43_SPARK_MASTER=spark://127.0.0.1:$DC43_CLUSTER_PORT (default 7077).
# Settings (environment): DC43_CLUSTER_PORT (7077), DC43_CLUSTER_UI_PORT (8081, the master's page),
# DC43_CLUSTER_WORKER_UI_PORT (8082), DC43_CLUSTER_CORES (2), DC43_CLUSTER_MEMORY (1g, for executors),
# DC43_CLUSTER_DIR (var/cluster: pids, logs, the worker's work folder), PYTHON (.venv/bin/python).
set -euo pipefail
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
PORT=${DC43_CLUSTER_PORT:-7077}
UI_PORT=${DC43_CLUSTER_UI_PORT:-8081}
WORKER_UI_PORT=${DC43_CLUSTER_WORKER_UI_PORT:-8082}
CORES=${DC43_CLUSTER_CORES:-2}
MEMORY=${DC43_CLUSTER_MEMORY:-1g}
DIR=${DC43_CLUSTER_DIR:-var/cluster}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

spark_home() {
  "$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))'
}

alive() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

# The daemon in the foreground, as this process (exec): a supervisor or a test holding its PID holds Java's.
run_daemon() {  # master|worker
  SPARK_HOME=$(spark_home)
  # The worker starts executors through Spark's launcher, which needs SPARK_HOME and the Scala version.
  export SPARK_HOME SPARK_SCALA_VERSION=2.13 SPARK_LOCAL_IP=127.0.0.1
  PYSPARK_PYTHON=$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")
  export PYSPARK_PYTHON
  case $1 in
    master)
      exec java -Xmx512m -cp "$SPARK_HOME/jars/*" org.apache.spark.deploy.master.Master \
        --host 127.0.0.1 --port "$PORT" --webui-port "$UI_PORT" ;;
    worker)
      mkdir -p "$DIR/work"
      exec java -Xmx512m -cp "$SPARK_HOME/jars/*" org.apache.spark.deploy.worker.Worker \
        --host 127.0.0.1 --cores "$CORES" --memory "$MEMORY" --webui-port "$WORKER_UI_PORT" \
        --work-dir "$DIR/work" "spark://127.0.0.1:$PORT" ;;
  esac
}

launch() {  # master|worker, in the background
  local name=$1
  if alive "$name"; then echo "$name is already running (pid $(cat "$DIR/$name.pid"))"; return; fi
  nohup "$SELF" "$name" >"$DIR/$name.log" 2>&1 &
  echo $! >"$DIR/$name.pid"
  echo "$name started (pid $!, log $DIR/$name.log)"
}

wait_for_port() {  # port, what
  for _ in $(seq 120); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "ERROR: $2 did not open port $1; see its log in $DIR" >&2
  return 1
}

case "${1:-}" in
  start)
    command -v java >/dev/null || { echo "ERROR: java is not installed (Spark needs Java 17+)" >&2; exit 1; }
    launch master
    wait_for_port "$PORT" "the master"
    launch worker
    wait_for_port "$WORKER_UI_PORT" "the worker"
    echo "cluster up: DC43_SPARK_MASTER=spark://127.0.0.1:$PORT (master page http://127.0.0.1:$UI_PORT/)"
    ;;
  stop)
    for name in worker master; do
      if alive "$name"; then
        pid=$(cat "$DIR/$name.pid"); kill "$pid"
        for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        echo "$name stopped (pid $pid)"
      fi
      rm -f "$DIR/$name.pid"
    done
    ;;
  status)
    for name in master worker; do
      if alive "$name"; then echo "$name: running (pid $(cat "$DIR/$name.pid"))"; else echo "$name: stopped"; fi
    done
    ;;
  master|worker)
    command -v java >/dev/null || { echo "ERROR: java is not installed (Spark needs Java 17+)" >&2; exit 1; }
    run_daemon "$1" ;;
  *)
    echo "usage: $0 start|stop|status|master|worker" >&2; exit 2 ;;
esac
