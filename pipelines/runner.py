"""Runner threads: one per run, in the process that started it or in a runner worker (no Celery).

`start_run` resolves the pipeline's row, validates the request, records a `running` Run owned by
this process (the database refuses a second active run of a pipeline) and starts its thread. With
DC43_RUNNER=worker it records the run `queued` instead, and a `manage.py run_worker` process claims
it from the registry and starts the same thread there (`launch`). The
thread builds the stream, follows it until its window ends, its source is drained, or somebody asks
it to stop through the row, and commits the final status before `complete`. A heartbeat thread of
its own stamps the row for the whole life of the run, Spark's start-up and the stop included.

Why one module of this size: a run's life (start, follow, stop, finish, beat) is one state machine
whose steps share the run's row and its locks; split, each half would have to re-check what the
other just did. The commands and pages only call `start_run`, `stop_run`, `wait_for` and `is_active`; the worker
calls `launch`.
"""

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from contracts.checks import ENFORCE, RunType, Verdict
from pipelines.errors import first_line
from registry.models import ACTIVE_STATUSES, EventKind, Run, RunMode, RunStatus, Stage, StageStatus, owner_fields
from registry.pipelines import DEFAULT_TRIGGER, Pipeline, SourceFormat, transform_problem

logger = logging.getLogger("dc43.runner")
MIN_SECONDS, MAX_SECONDS = 1, 3600
HEARTBEAT_SECONDS = 5
STOP_POLL_SECONDS = 0.5
# How often the runner looks at its own query (blocked, failed, drained): cheap, so often, to stop an
# enforce run before Spark plans another batch.
WATCH_SECONDS = 0.1
FIRST_BATCH_TIMEOUT = 120
# How often a process that does not run a run reads its row while waiting for it to end.
FOLLOW_SECONDS = 0.2
# How long a run (and the command following it) keeps trying while the database is unreachable (a restart).
DATABASE_RETRY_SECONDS = 60
# What the read stage says once the source passed its input gate, by the gate's verdict.
INPUT_GATE_DETAIL = {
    Verdict.OK: "source matches the input contract",
    Verdict.WARN: "source differs from the input contract without breaking it",
    Verdict.BLOCK: "source breaks the input contract; observed, the run goes on",
}
_runners = {}
_runners_lock = threading.Lock()


class RunRefused(ValueError):
    """A start the site refuses now (not a bad request): the pipeline runs already, or the site is full."""

    def __init__(self, message, active_run=None):
        super().__init__(message)
        self.active_run = active_run


@dataclass(frozen=True)
class RunRequest:
    pipeline: Pipeline
    mode: str
    seconds: int | None
    run_type: str

    @property
    def trigger(self):
        if self.mode == RunMode.AVAILABLE_NOW:
            return {"availableNow": True}
        # A window or an open-ended run needs a cadence: the pipeline's, or the default one.
        return self.pipeline.trigger if "processingTime" in self.pipeline.trigger else dict(DEFAULT_TRIGGER)


def check_run_request(key, *, seconds=None, mode=None, run_type=None):
    """Validate a run request against the pipeline's row; raises ValueError naming the valid choices."""
    if run_type is not None and run_type not in RunType.values:
        raise ValueError(f"unknown run_type {run_type!r}; choose one of: {', '.join(RunType.values)}")
    if mode is not None and mode not in RunMode.values:
        raise ValueError(f"unknown mode {mode!r}; choose one of: {', '.join(RunMode.values)}")
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, int) or not MIN_SECONDS <= seconds <= MAX_SECONDS
    ):
        raise ValueError(f"seconds must be a whole number from {MIN_SECONDS} to {MAX_SECONDS}, got {seconds!r}")
    pipeline = Pipeline.objects.filter(key=key).first() if isinstance(key, str) else None
    if pipeline is None:
        keys = ", ".join(Pipeline.objects.values_list("key", flat=True))
        raise ValueError(f"unknown pipeline {key!r}; choose one of: {keys}")
    if seconds is not None and mode not in (None, RunMode.WINDOW):
        raise ValueError(f"seconds apply to a window run only, not to {mode!r}")
    if mode is None:
        if seconds is not None or pipeline.default_seconds:
            mode = RunMode.WINDOW
        elif pipeline.trigger.get("availableNow"):
            mode = RunMode.AVAILABLE_NOW
        else:
            mode = RunMode.UNTIL_STOPPED
    if mode == RunMode.WINDOW:
        seconds = seconds or pipeline.default_seconds
        if not seconds:
            raise ValueError(f"a window run of {key} needs seconds: the pipeline has no default_seconds")
    if mode == RunMode.AVAILABLE_NOW and pipeline.source_format == SourceFormat.RATE:
        raise ValueError(f"{key} reads a rate source, which is never drained: run it for a window or until stopped")
    return RunRequest(pipeline, mode, seconds if mode == RunMode.WINDOW else None, run_type or pipeline.run_type)


def start_run(key, *, seconds=None, mode=None, run_type=None, user=None, via="python"):
    """Validate, record a `running` Run owned by this process, start its thread, return the Run.

    With DC43_RUNNER=worker the Run is recorded `queued`, without an owner, and a runner worker
    starts it. Raises ValueError for a bad request and RunRefused when the pipeline has an active
    (queued or running) run or the site already has DC43_MAX_ACTIVE_RUNS active runs; nothing is
    recorded then.
    """
    request = check_run_request(key, seconds=seconds, mode=mode, run_type=run_type)
    pipeline = request.pipeline
    # A run of this pipeline whose process died (kill -9, a crashed host) must not hold the pipeline: its start
    # is where it is found, as the site's start-up finds every such run.
    Run.objects.filter(pipeline=pipeline).mark_interrupted_orphans()
    limit = settings.DC43_MAX_ACTIVE_RUNS
    # Queued runs count: the limit is kept where a start can be refused with its reason, and workers
    # then claim without agreeing among themselves on how many run.
    active = Run.objects.active().count()
    if active >= limit:
        raise RunRefused(f"the site already runs {active} runs (DC43_MAX_ACTIVE_RUNS={limit}); stop one or wait")
    queued = settings.DC43_RUNNER == "worker"
    where = {"status": RunStatus.QUEUED, "queued_at": timezone.now()} if queued else owner_fields()
    try:
        with transaction.atomic():
            run = Run.objects.create(
                pipeline=pipeline,
                scenario=pipeline.key,
                run_type=request.run_type,
                mode=request.mode,
                requested_seconds=request.seconds,
                started_by=user if getattr(user, "is_authenticated", False) else None,
                started_via=via,
                **where,
            )
    except IntegrityError:
        # The constraint one_active_run_per_pipeline: another start won, in this process or another.
        running = pipeline.active_run()
        where = f": {running.get_absolute_url()}" if running else ""
        raise RunRefused(f"pipeline {pipeline.key} already has an active run{where}", running) from None
    started = {"scenario": pipeline.key, "run_type": run.run_type, "seconds": run.requested_seconds, "mode": run.mode}
    run.log(EventKind.STARTED, {**started, "queued": True} if queued else started)
    if not queued:
        launch(run)
    return run


def launch(run):
    """Start the runner thread of a run this process owns (just started, or claimed from the queue)."""
    pipeline = run.pipeline
    request = RunRequest(pipeline, run.mode, run.requested_seconds, run.run_type)
    runner = Runner(run, pipeline, request.trigger)
    with _runners_lock:
        _runners[run.id] = runner
    runner.start()
    return runner


def run_pipeline(key, **kwargs):
    """Start a run and wait for it: returns the finished Run. Bad input raises ValueError, recording nothing."""
    run = start_run(key, **kwargs)
    wait_for(run)
    run.refresh_from_db()
    return run


def run_streaming_scenario(key, seconds=None, run_type=None, user=None, via="python"):
    """A windowed run of a demo scenario (a pipeline), waited for: the README's first example."""
    return run_pipeline(key, seconds=seconds, run_type=run_type, user=user, via=via)


def runner_for(run):
    with _runners_lock:
        return _runners.get(getattr(run, "id", run))


def wait_for(run, timeout=None):
    """Wait until the run has ended (its thread here, or its row when a worker runs it); False on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while is_active(run):
        runner = runner_for(run)
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        if runner is not None:
            runner.join(left)
        else:
            time.sleep(min(FOLLOW_SECONDS, left) if left is not None else FOLLOW_SECONDS)
    return True


def is_active(run):
    """Whether the run goes on: its thread, when this process runs it; otherwise its row (a worker runs it)."""
    runner = runner_for(run)
    if runner is not None:
        return runner.is_alive()
    return Run.objects.filter(pk=getattr(run, "pk", run), status__in=ACTIVE_STATUSES).exists()


def stop_run(run, by):
    """Ask for a clean stop, through the row, so that it works whichever process owns the run."""
    if not isinstance(run, Run):
        run = Run.objects.get(pk=run)
    asked = run.request_stop(by)
    runner = runner_for(run)
    if runner is not None:
        runner.wake.set()  # this process owns it: no need to wait for the next poll
    return asked


def retry_database(action, seconds=DATABASE_RETRY_SECONDS):
    """`action()`, tried again on a fresh connection while the database is unreachable, for up to `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return action()
        except DatabaseError:
            if time.monotonic() > deadline:
                raise
            logger.warning("the database is unreachable; trying again", exc_info=True)
            connection.close()
            time.sleep(1)


def database_reason(exc):
    """A run's reason for an error of the registry's database, naming it as such."""
    return f"the database failed: {type(exc).__name__}: {first_line(exc, 500)}"


def heartbeat_seconds():
    # Several beats fit in the timeout, so one slow beat never gets a live run swept.
    return max(0.2, min(HEARTBEAT_SECONDS, settings.DC43_HEARTBEAT_TIMEOUT / 4))


def resolve_transform(dotted):
    """The transform function, only from the allowed modules (a row edited after it was checked is checked again)."""
    problem = transform_problem(dotted)
    if problem:
        raise ValueError(f"transform: {problem}")
    return import_string(dotted)


class Heartbeat(threading.Thread):
    """Stamps the run's row with the database's clock every few seconds, from start to end of the run.

    A beat that finds the run no longer running (a sweep marked it interrupted) tells the runner,
    which then stops its query without recording anything more.
    """

    def __init__(self, runner):
        super().__init__(name=f"dc43-beat-{runner.record.id.hex[:8]}", daemon=True)
        self.runner = runner
        self.stopping = threading.Event()

    def run(self):
        try:
            while True:
                self.beat()
                if self.stopping.wait(heartbeat_seconds()):
                    return
        finally:
            connection.close()

    def beat(self):
        try:
            alive = self.runner.record.beat()
        except Exception:
            logger.warning("run %s: heartbeat failed; trying again", self.runner.record.id, exc_info=True)
            connection.close()  # the next beat reconnects
            return
        if not alive:
            self.runner.abandon()

    def stop(self):
        self.stopping.set()
        self.join(heartbeat_seconds() + 30)


class Runner(threading.Thread):
    def __init__(self, run, pipeline, trigger):
        super().__init__(name=f"dc43-run-{run.id.hex[:8]}", daemon=True)
        self.record = run
        self.pipeline = pipeline
        self.trigger = trigger
        self.wake = threading.Event()  # cuts a wait short: a stop asked, or the run abandoned
        self.stopped_by = ""
        self.abandoned = threading.Event()
        self.query = None
        self.spark = None
        self.temporary_checkpoint = None
        self.last_poll = 0.0
        self.pins = {}  # {contract field: (id, version)}, resolved once when the run starts

    def abandon(self):
        """Somebody else finished the run (a sweep): stop the query, record and publish nothing more."""
        if not self.abandoned.is_set():
            logger.warning("run %s was finished by somebody else; stopping its query", self.record.id)
        self.abandoned.set()
        self.wake.set()

    def run(self):
        heartbeat = Heartbeat(self)
        heartbeat.start()
        try:
            self.execute()
        except Exception as exc:
            logger.exception("run %s failed", self.record.id)
            self.stop_query()
            if isinstance(exc, DatabaseError):
                reason = database_reason(exc)
            elif type(exc).__name__ in ("SourceError", "ContractError"):
                reason = str(exc)
            else:
                reason = f"{type(exc).__name__}: {exc}"
            if not self.abandoned.is_set():
                retry_database(lambda: self.record.finish(RunStatus.FAILED, reason))
        finally:
            heartbeat.stop()
            self.drop_temporary_checkpoint()
            with _runners_lock:
                _runners.pop(self.record.id, None)
            connection.close()

    def execute(self):
        # Spark comes in here, on the runner's thread: pages that import the runner never start a JVM.
        from pipelines.progress import follow
        from pipelines.sources import read_source, trigger_millis
        from pipelines.spark import get_spark
        from pipelines.streaming import block_at_gate, resolve_contract

        run, pipeline = self.record, self.pipeline
        close_old_connections()
        run.stage(Stage.SETUP, StageStatus.ACTIVE, "starting Spark")
        self.spark = spark = get_spark()
        run.record_spark(spark.sparkContext)
        run.stage(Stage.SETUP, StageStatus.DONE, f"Spark {spark.version} on {run.spark_master}, {run.spark_app_id}")
        if self.stop_before_query():
            return
        run.stage(Stage.READ, StageStatus.ACTIVE, self.source_label())
        self.pins = run.pin_contracts()
        _, compiled_input = resolve_contract(*self.pins["input_contract"])
        every = trigger_millis(self.trigger)
        try:
            source = read_source(
                spark,
                compiled_input,
                format=pipeline.source_format,
                path=pipeline.source_location() or None,
                options=pipeline.source_options,
                # A rate source's rows are counted from now (a queued run's wait is not theirs), a trigger's worth at a time.
                paced=(every, time.time() * 1000) if every else None,
            )
        except ValueError as exc:
            run.stage(Stage.READ, StageStatus.FAILED, str(exc))
            raise
        gate = source.gate
        run.log(EventKind.GATE, {**gate, "side": "input"})
        if gate["verdict"] == Verdict.BLOCK and run.run_type == ENFORCE:
            return block_at_gate(run, gate, Stage.READ, "input schema gate")
        shaped = resolve_transform(pipeline.transform)(source.df) if pipeline.transform else source.df
        run.stage(Stage.READ, StageStatus.DONE, INPUT_GATE_DETAIL[gate["verdict"]])
        if self.stop_before_query():
            return
        self.query = self.start_query(shaped, source.malformed_column)
        if self.query is None:
            return  # the gate blocked the run and finished it
        follow(spark, self.query.query, run)
        run.stage(Stage.STREAMING, StageStatus.ACTIVE, self.streaming_label())
        self.watch()

    def start_query(self, df, malformed_column):
        from pipelines import storage
        from pipelines.recovery import reconcile
        from pipelines.streaming import write_stream_with_contract

        run, pipeline = self.record, self.pipeline
        output_id, output_version = self.pins["output_contract"]
        rejects = self.pins["rejects_contract"]
        # What a crashed publish left in the datasets this run writes is put right before it writes there.
        reconcile([output_id, *([rejects[0]] if rejects else [])], self.spark, run)
        extra = {}
        if pipeline.is_file_source:
            # A landing folder is read once across runs: every run of the pipeline resumes its checkpoint.
            pipeline.ensure_epoch()
            extra = {"checkpoint": pipeline.checkpoint_location(), "slice_key": pipeline.slice_key()}
            run.checkpoint = extra["checkpoint"]
        else:
            # A rate source has nothing to resume: a checkpoint of the run's own, removed when it ends.
            run.checkpoint = self.temporary_checkpoint = storage.checkpoint_path(run.id)
        if malformed_column:
            extra["malformed_column"] = malformed_column
        run.save(update_fields=["checkpoint"])
        return write_stream_with_contract(
            df,
            output_id,
            output_version,
            run=run,
            run_type=run.run_type,
            rejects=rejects,
            trigger=self.trigger,
            **extra,
        )

    def source_label(self):
        pipeline = self.pipeline
        if pipeline.is_file_source:
            return f"{pipeline.source_format} files from {pipeline.source_path}"
        rate = pipeline.source_options.get("rowsPerSecond")
        return f"rate source, {rate} rows/s" if rate else "rate source"

    def streaming_label(self):
        run = self.record
        if run.mode == RunMode.WINDOW:
            return f"window of {run.requested_seconds} s"
        if run.mode == RunMode.AVAILABLE_NOW:
            return "until the files waiting now are read"
        return "until stopped"

    def poll(self):
        """Read the row: True when the run must stop (asked to, or finished by somebody else)."""
        try:
            status, asked, by = (
                Run.objects.filter(pk=self.record.pk)
                .values_list("status", "stop_requested_at", "stop_requested_by")
                .get()
            )
        except Exception:
            logger.warning("run %s: could not read its row; trying again", self.record.id, exc_info=True)
            connection.close()
            return self.abandoned.is_set() or bool(self.stopped_by)
        if status != RunStatus.RUNNING:
            self.abandon()
        elif asked:
            self.stopped_by = by or "somebody"
        return self.abandoned.is_set() or bool(self.stopped_by)

    def stop_before_query(self):
        """Between steps of the start: a stop asked now ends the run before any query starts."""
        if not self.poll():
            return False
        if not self.abandoned.is_set():
            self.record.stage(Stage.STREAMING, StageStatus.SKIPPED, f"stopped by {self.stopped_by} before it started")
            self.record.finish(reason=f"stopped by {self.stopped_by}")
        return True

    def watch(self):
        """Wait until the first micro-batch is through (Spark's start-up and the query's planning are not
        the run's time), then let the stream flow for its window, until it is drained, or until it is
        stopped; then stop it cleanly and derive the final status from the batches."""
        query, run = self.query, self.record
        started = time.monotonic()
        while not query.wait_for_first_batch(STOP_POLL_SECONDS):
            if self.should_stop() or time.monotonic() - started > FIRST_BATCH_TIMEOUT:
                break
        deadline = time.monotonic() + run.requested_seconds if run.mode == RunMode.WINDOW else None
        while not self.should_stop():
            left = WATCH_SECONDS if deadline is None else min(WATCH_SECONDS, deadline - time.monotonic())
            if left <= 0:
                break
            self.wake.wait(left)
            self.wake.clear()
        self.stop_query()
        if self.abandoned.is_set():
            return  # finished by somebody else: its `complete` is out, nothing more is said
        error = query.exception()
        if error:
            retry_database(lambda: run.stage(Stage.STREAMING, StageStatus.FAILED, error))
            retry_database(lambda: run.finish(RunStatus.FAILED, error))
            return
        status = run.derived_status()
        if status == RunStatus.BLOCKED:
            reason = query.writer.block_reason
        elif self.stopped_by:
            reason = f"stopped by {self.stopped_by}"
        else:
            reason = ""
        run.stage(Stage.STREAMING, StageStatus.DONE, f"{query.writer.batches_started} micro-batches")
        run.stage(Stage.COMPLETE, StageStatus.DONE, status)
        run.finish(status, reason)

    def should_stop(self):
        query = self.query
        if query.blocked or query.exception() is not None or not query.query.isActive:  # drained
            return True
        now = time.monotonic()
        if now - self.last_poll < STOP_POLL_SECONDS:
            return self.abandoned.is_set() or bool(self.stopped_by)
        self.last_poll = now
        return self.poll()

    def stop_query(self):
        if self.query is not None:
            from pipelines.progress import unfollow

            try:
                self.query.stop()
            except Exception:
                logger.warning("run %s: stopping the query failed", self.record.id, exc_info=True)
            unfollow(self.query.query)

    def drop_temporary_checkpoint(self):
        path = self.temporary_checkpoint
        if not path:
            return
        from pipelines import storage

        try:
            storage.remove_checkpoint(path.rsplit("/", 1)[0], self.spark)  # <root>/<run id>/main: the run's folder
        except Exception:
            logger.warning("run %s: could not remove its checkpoint %s", self.record.id, path, exc_info=True)
