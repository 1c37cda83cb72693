"""Runner threads: one per run, in the process that started it (no Celery, no worker process).

`start_run` records the Run and returns at once; the thread builds the stream, keeps the
run's heartbeat fresh, closes the window, and commits the final status before `complete`.
"""

import logging
import threading
import time

from django.db import close_old_connections, connection
from django.utils.module_loading import import_string

from contracts.checks import ENFORCE, Verdict
from pipelines.catalog import DEMO_VERSION, INPUT_CONTRACT, OUTPUT_CONTRACT, RATE_OPTIONS, SCENARIOS, check_run_request
from registry.models import EventKind, Run, RunStatus, Stage, StageStatus, owner_fields

logger = logging.getLogger("dc43.runner")
HEARTBEAT_SECONDS = 5
FIRST_BATCH_TIMEOUT = 120
# What the read stage says once the source passed its input gate, by the gate's verdict.
INPUT_GATE_DETAIL = {
    Verdict.OK: "source matches the input contract",
    Verdict.WARN: "source differs from the input contract without breaking it",
    Verdict.BLOCK: "source breaks the input contract; observed, the run goes on",
}
_runners = {}
_runners_lock = threading.Lock()


def start_run(key, *, seconds=None, run_type=None, user=None, via="user"):
    """Validate, record a `running` Run owned by this process, start its thread, return the Run."""
    scenario, seconds, run_type = check_run_request(key, seconds, run_type)
    run = Run.objects.create(
        scenario=scenario.key,
        run_type=run_type,
        requested_seconds=seconds,
        started_by=user if getattr(user, "is_authenticated", False) else None,
        started_via=via,
        **owner_fields(),
    )
    run.log(EventKind.STARTED, {"scenario": scenario.key, "run_type": run_type, "seconds": seconds})
    runner = Runner(run)
    with _runners_lock:
        _runners[run.id] = runner
    runner.start()
    return run


def run_streaming_scenario(key, seconds=None, run_type=None, user=None, via="python"):
    """Run a scenario and wait for it: returns the finished Run. Bad input raises ValueError, recording nothing."""
    run = start_run(key, seconds=seconds, run_type=run_type, user=user, via=via)
    wait_for(run)
    run.refresh_from_db()
    return run


def runner_for(run):
    with _runners_lock:
        return _runners.get(getattr(run, "id", run))


def wait_for(run, timeout=None):
    runner = runner_for(run)
    if runner is not None:
        runner.join(timeout)
        return not runner.is_alive()
    return True


def stop_run(run, reason):
    """Ask a run of this process to stop; it ends `interrupted` with the reason."""
    runner = runner_for(run)
    if runner is not None:
        runner.request_stop(reason)


class Runner(threading.Thread):
    def __init__(self, run):
        super().__init__(name=f"dc43-run-{run.id.hex[:8]}", daemon=True)
        self.record = run
        self.stop_requested = threading.Event()
        self.stop_reason = ""
        self.query = None
        self.last_beat = 0.0

    def request_stop(self, reason):
        self.stop_reason = reason
        self.stop_requested.set()

    def run(self):
        try:
            self.execute()
        except Exception as exc:
            logger.exception("run %s failed", self.record.id)
            self.stop_query()
            self.record.finish(RunStatus.FAILED, f"{type(exc).__name__}: {exc}")
        finally:
            with _runners_lock:
                _runners.pop(self.record.id, None)
            connection.close()

    def execute(self):
        # Spark comes in here, on the runner's thread: pages that import the runner never start a JVM.
        from pipelines.progress import follow
        from pipelines.spark import get_spark
        from pipelines.streaming import block_at_gate, read_stream_gated, write_stream_with_contract

        run = self.record
        scenario = SCENARIOS[run.scenario]
        close_old_connections()
        run.stage(Stage.SETUP, StageStatus.ACTIVE, "starting Spark")
        spark = get_spark()
        run.stage(Stage.SETUP, StageStatus.DONE, f"Spark {spark.version}")
        run.stage(Stage.READ, StageStatus.ACTIVE, f"rate source, {RATE_OPTIONS['rowsPerSecond']} rows/s")
        events, gate = read_stream_gated(
            spark, INPUT_CONTRACT, DEMO_VERSION, format="rate", options=RATE_OPTIONS, run=run
        )
        if gate["verdict"] == Verdict.BLOCK and run.run_type == ENFORCE:
            return block_at_gate(run, gate, Stage.READ, "input schema gate")
        shaped = import_string(scenario.transform)(events)
        run.stage(Stage.READ, StageStatus.DONE, INPUT_GATE_DETAIL[gate["verdict"]])
        if self.stop_requested.is_set():
            return self.finish_interrupted()
        self.query = write_stream_with_contract(
            shaped, OUTPUT_CONTRACT, DEMO_VERSION, run=run, run_type=run.run_type, rejects=scenario.rejects_contract
        )
        if self.query is None:
            return  # the gate blocked the run and finished it
        follow(spark, self.query.query, run)
        run.stage(Stage.STREAMING, StageStatus.ACTIVE, f"window of {run.requested_seconds} s")
        self.watch()

    def watch(self):
        """Wait until the first micro-batch is through (Spark's start-up and the query's planning are not
        the run's time), then let the stream flow for the requested seconds, then stop it cleanly."""
        query, run = self.query, self.record
        started = time.monotonic()
        while not query.wait_for_first_batch(0.5):
            self.beat()
            if self.should_stop() or time.monotonic() - started > FIRST_BATCH_TIMEOUT:
                break
        deadline = time.monotonic() + run.requested_seconds
        while time.monotonic() < deadline and not self.should_stop():
            self.stop_requested.wait(min(0.25, max(deadline - time.monotonic(), 0)))
            self.beat()
        self.stop_query()
        error = query.exception()
        if error:
            run.stage(Stage.STREAMING, StageStatus.FAILED, error)
            run.finish(RunStatus.FAILED, error)
        elif self.stop_requested.is_set():
            self.finish_interrupted()
        else:
            status = run.derived_status()
            reason = query.writer.block_reason if status == RunStatus.BLOCKED else ""
            run.stage(Stage.STREAMING, StageStatus.DONE, f"{query.writer.batches_started} micro-batches")
            run.stage(Stage.COMPLETE, StageStatus.DONE, status)
            run.finish(status, reason)

    def should_stop(self):
        query = self.query
        return (
            self.stop_requested.is_set() or query.blocked or query.exception() is not None or not query.query.isActive
        )

    def finish_interrupted(self):
        self.record.stage(Stage.STREAMING, StageStatus.FAILED, self.stop_reason)
        self.record.finish(RunStatus.INTERRUPTED, self.stop_reason or "stopped")

    def stop_query(self):
        if self.query is not None:
            from pipelines.progress import unfollow

            try:
                self.query.stop()
            except Exception:
                logger.warning("run %s: stopping the query failed", self.record.id, exc_info=True)
            unfollow(self.query.query)

    def beat(self):
        now = time.monotonic()
        if now - self.last_beat >= HEARTBEAT_SECONDS:
            self.record.beat()
            self.last_beat = now
