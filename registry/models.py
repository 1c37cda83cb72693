"""The run registry: runs, their micro-batches, the datasets they publish, and the event log.

These model names are the public audit API. Records are evidence: the admin
shows them read-only, and only the verbs below change them.

Why one module of this size: the verbs that change a run (log, stage, record_batch, finish)
share one transaction discipline (sequence numbers written with the rows they describe), and
reading them side by side is how that discipline is kept. Everything else has a module of its
own: wake-ups (wakeups.py), lineage (lineage.py), the run summary (summary.py), pipelines (pipelines.py).
"""

import os
import re
import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.urls import reverse
from django.utils import timezone

from contracts.checks import RunType, Verdict, compile_contract, rule_keys, worst
from contracts.identifiers import validate_identifier
from contracts.models import Contract, ContractVersion
from registry import anomalies, lineage
from registry.summary import batch_summary
from registry.wakeups import notify

HOSTNAME = socket.gethostname()
# Seconds two readings of one process's start time may differ by (see `process_started_at`).
OWNER_START_SLACK = 2


class RunFinished(RuntimeError):
    """A batch arrived for a run that is no longer running: recording it would rewrite a finished run's story."""


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    OK = "ok"
    WARN = "warn"
    BLOCKED = "blocked"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @classmethod
    def of_verdict(cls, verdict):
        """The status of a run whose data's worst verdict is `verdict`: a run is `blocked` by a `block`."""
        return {Verdict.OK: cls.OK, Verdict.WARN: cls.WARN, Verdict.BLOCK: cls.BLOCKED}[verdict]


# A queued run holds its pipeline as a running one does: both are active, neither has ended.
ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


# A micro-batch says the verdict of its rows, or that it had none.
BatchStatus = models.TextChoices("BatchStatus", [(v.name, v.value) for v in Verdict] + [("EMPTY", "empty")])


class EventKind(models.TextChoices):
    """What a run's event log holds: the live page renders each kind."""

    STARTED = "started"
    CLAIMED = "claimed"
    STAGE = "stage"
    GATE = "gate"
    BATCH = "batch"
    MILESTONE = "milestone"
    STOP_REQUESTED = "stop_requested"
    ANOMALY = "anomaly"
    COMPLETE = "complete"
    REQUEUED = "requeued"


class RestartCause(models.TextChoices):
    """Why a run was put back in the queue for its pipeline: its worker shut down, or died."""

    SHUTDOWN = "shutdown", "its worker shut down"
    INTERRUPTED = "interrupted", "its worker died"


class RunMode(models.TextChoices):
    """How long a run goes on: a window of seconds, until someone stops it, or until the source is drained."""

    WINDOW = "window"
    UNTIL_STOPPED = "until-stopped"
    AVAILABLE_NOW = "available-now"


class Stage(models.TextChoices):
    """The steps of a run, in order, as its page names them."""

    SETUP = "setup", "Setup"
    READ = "read", "Read"
    GATE = "gate", "Schema gate"
    STREAMING = "streaming", "Streaming"
    COMPLETE = "complete", "Complete"


class StageStatus(models.TextChoices):
    PENDING = "pending"
    ACTIVE = "active"
    DONE = "done"
    BLOCKED = "blocked"
    FAILED = "failed"
    SKIPPED = "skipped"


# A published slice passed (ok) or carries rows that broke a non-blocking rule (warn): a blocked batch publishes none.
VersionStatus = models.TextChoices("VersionStatus", [(v.name, v.value) for v in Verdict if v != Verdict.BLOCK])


class Dataset(models.Model):
    # The name is a folder under the data root and part of URLs: the same safe characters as a contract id.
    name = models.CharField(max_length=200, unique=True, validators=[validate_identifier])
    contract = models.ForeignKey(Contract, null=True, blank=True, on_delete=models.PROTECT, related_name="datasets")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("dataset-detail", args=[self.name])


def owner_fields():
    """This process as the owner of a run, alive now: the row is born with them, never unowned."""
    return {
        "owner_host": HOSTNAME,
        "owner_pid": os.getpid(),
        "owner_started_at": process_started_at(os.getpid()),
        # The heartbeat thread restamps it with the database's clock at once.
        "heartbeat_at": timezone.now(),
    }


def process_started_at(pid):
    """When process `pid` of this host started (from /proc), or None where /proc cannot tell.

    With host and pid it names a process for good: a pid is reused, a (pid, start time) pair is not.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
    except (OSError, StopIteration):
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    ticks = int(stat.rpartition(")")[2].split()[19])
    seconds = int(boot.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    return datetime.fromtimestamp(seconds, tz=UTC)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunQuerySet(models.QuerySet):
    def orphans(self):
        """(run, reason) for each running run whose owner is gone (see `Run.orphan_reason`)."""
        # Heartbeats are stamped with the database's clock, so they are judged by it too: hosts' clocks may differ.
        for run in self.filter(status=RunStatus.RUNNING).annotate(db_now=Now()):
            reason = run.orphan_reason(run.db_now)
            if reason:
                yield run, reason

    def orphaned(self):
        return self.filter(id__in=[run.id for run, _ in self.orphans()])

    def mark_interrupted_orphans(self):
        """Mark runs whose process died as `interrupted`, each with its reason; returns those it marked.

        Only the sweeps call this (start-up, the serving process's timer, `manage.py sweep_runs`):
        a page never writes. The `complete` event each mark appends is what open pages then show.
        """
        return [run for run, reason in list(self.orphans()) if run.interrupt(reason)]

    def active(self):
        return self.filter(status__in=ACTIVE_STATUSES)

    def claim_next(self):
        """Take the oldest queued run for this process, or None: the registry is the runner workers' queue.

        SKIP LOCKED lets several workers claim at once on PostgreSQL, each passing over the row
        another one holds; SQLite ignores it (one worker there, see `run_worker`).
        """
        with transaction.atomic():
            run = (
                self.select_for_update(skip_locked=True)
                .filter(status=RunStatus.QUEUED)
                .order_by("queued_at", "id")
                .first()
            )
            if run is not None:
                run.claim()
        return run

    def with_rejects(self, since=None, until=None):
        """Runs that quarantined rows (started in a period), each with `quarantined`, its rows sent to the rejects.

        Asked per run of the period, of the batches that quarantined rows (`batch_run_rejected` holds their
        counts): no join of every batch to every run, and no DISTINCT over whole run rows.
        """
        rejected = MicroBatch.objects.filter(run=models.OuterRef("pk"), rejected_rows__gt=0)
        total = rejected.order_by().values("run").annotate(n=models.Sum("rejected_rows")).values("n")
        runs = self.filter(models.Exists(rejected))
        if since:
            runs = runs.filter(started_at__gte=since)
        if until:
            runs = runs.filter(started_at__lt=until)
        return runs.annotate(quarantined=models.Subquery(total))


class Run(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scenario = models.CharField(max_length=64)
    run_type = models.CharField(max_length=16, choices=RunType.choices, default=RunType.OBSERVE)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    reason = models.TextField(blank=True)
    mode = models.CharField(max_length=16, choices=RunMode.choices, default=RunMode.WINDOW)
    requested_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="The window (window runs only).")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    started_via = models.CharField(max_length=16, default="user", help_text="user, command or python")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    owner_host = models.CharField(max_length=255, default="", blank=True)
    owner_pid = models.PositiveIntegerField(null=True, blank=True)
    owner_started_at = models.DateTimeField(
        null=True, blank=True, help_text="When the owner process started: with host and pid, it names the process."
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    stop_requested_by = models.CharField(max_length=200, blank=True)
    checkpoint = models.CharField(max_length=1024, blank=True, help_text="The checkpoint location the run used.")
    contract_version = models.ForeignKey(
        ContractVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="runs",
        help_text="The output contract version the run was checked against.",
    )
    input_contract_version = models.ForeignKey(
        ContractVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="input_runs",
        help_text="The input contract version the run resolved at its start.",
    )
    rejects_contract_version = models.ForeignKey(
        ContractVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rejects_runs",
        help_text="The rejects contract version the run resolved at its start.",
    )
    schema_gate = models.JSONField(
        default=dict, blank=True, help_text="Schema snapshot and differences found at the gate."
    )
    last_seq = models.PositiveIntegerField(default=0, help_text="Sequence number of the newest RunEvent.")
    pipeline = models.ForeignKey(
        "registry.Pipeline", null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
    queued_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the run was queued for a runner worker (started_at: when one claimed it).",
    )
    spark_master = models.CharField(max_length=255, blank=True, help_text="The Spark master the run's session used.")
    spark_app_id = models.CharField(max_length=255, blank=True, help_text="The Spark application id of its session.")
    restart_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="restarts",
        help_text="The run this one resumes: it was stopped by a worker's shutdown or interrupted by its death.",
    )
    restart_cause = models.CharField(max_length=16, choices=RestartCause.choices, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["status", "-started_at"], name="run_status_started"),
            models.Index(fields=["scenario", "-started_at"], name="run_scenario_started"),
            models.Index(fields=["scenario", "status", "-started_at"], name="run_scenario_status_started"),
            models.Index(fields=["-started_at"], name="run_started"),
        ]
        permissions = [("start_run", "Can start pipeline runs")]
        constraints = [
            # The database, not only Python, refuses a second active run of a pipeline.
            models.UniqueConstraint(
                fields=["pipeline"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_active_run_per_pipeline",
            ),
        ]

    def __str__(self):
        return f"{self.scenario} {self.started_at:%Y-%m-%d %H:%M:%S} ({self.status})"

    def get_absolute_url(self):
        return reverse("run-detail", args=[self.id])

    @property
    def is_running(self):
        return self.status == RunStatus.RUNNING

    @property
    def is_queued(self):
        return self.status == RunStatus.QUEUED

    @property
    def is_active(self):
        """Queued or running: it has not ended, so its page is live and it may be stopped."""
        return self.status in ACTIVE_STATUSES

    @property
    def stopping(self):
        """Asked to stop, and not finished yet: the batch in flight is being recorded."""
        return self.is_running and self.stop_requested_at is not None

    @property
    def queue_wait(self):
        """How long the run waited for a runner worker (so far, while queued); None when it never queued."""
        if not self.queued_at:
            return None
        return (self.started_at if not self.is_queued else timezone.now()) - self.queued_at

    @property
    def queue_wait_seconds(self):
        wait = self.queue_wait
        return None if wait is None else max(wait.total_seconds(), 0)

    @property
    def owner_label(self):
        return f"pid {self.owner_pid} on {self.owner_host}" if self.owner_pid else ""

    @property
    def started_by_label(self):
        if self.started_by_id:
            return self.started_by.get_username()
        return self.started_via

    @property
    def duration(self):
        if self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def version_prefix(self):
        """Dataset versions of this run start with its start time, so they sort by time."""
        return f"{self.started_at:%Y%m%dT%H%M%S%fZ}-{self.id.hex[:8]}"

    def slice_version(self, batch_id):
        return f"{self.version_prefix}-b{batch_id:06d}"

    def pin_contracts(self):
        """Resolve the pipeline's contract references once, at the start, and record what they named.

        A range (`shop.orders@^1`) picks the newest active version in it now; the whole run keeps that
        version even if another is activated while it streams. Returns {field: (id, version) or None}.
        `contract_version` is set by the output gate, with the pinned output version: it says what the
        output was checked against, so a run blocked at its input gate has none.
        """
        pins = self.pipeline.resolve_contracts()
        self.input_contract_version = pins["input_contract"]
        self.rejects_contract_version = pins["rejects_contract"]
        self.save(update_fields=["input_contract_version", "rejects_contract_version"])
        return {field: (cv.contract.contract_id, cv.version) if cv else None for field, cv in pins.items()}

    def claim(self):
        """This process takes the queued run (call with its row locked): it runs now, owned and beating."""
        now = timezone.now()
        fields = {**owner_fields(), "status": RunStatus.RUNNING, "started_at": now, "heartbeat_at": now}
        for name, value in fields.items():
            setattr(self, name, value)
        Run.objects.filter(pk=self.pk).update(**fields)
        waited = (now - self.queued_at).total_seconds() if self.queued_at else 0
        self.append_event(
            EventKind.CLAIMED, {"host": self.owner_host, "pid": self.owner_pid, "waited": round(waited, 3)}
        )

    def record_spark(self, spark_context):
        """Where the run's Spark work goes: the master and the application its session belongs to."""
        self.spark_master, self.spark_app_id = spark_context.master or "", spark_context.applicationId or ""
        Run.objects.filter(pk=self.pk).update(spark_master=self.spark_master, spark_app_id=self.spark_app_id)

    def requeue(self, cause):
        """Queue a new run of this one's pipeline, same mode and type, that resumes from its checkpoint.

        Called once the run has ended. Returns the new run, or None when the pipeline already has an
        active run again (somebody started one meanwhile). Both runs get an event, and the new one's
        `restart_of` names this one.
        """
        with transaction.atomic():
            try:
                with transaction.atomic():
                    restart = Run.objects.create(
                        pipeline_id=self.pipeline_id,
                        scenario=self.scenario,
                        run_type=self.run_type,
                        mode=self.mode,
                        requested_seconds=self.requested_seconds,
                        started_by_id=self.started_by_id,
                        started_via=self.started_via,
                        status=RunStatus.QUEUED,
                        queued_at=timezone.now(),
                        restart_of=self,
                        restart_cause=cause,
                    )
            except IntegrityError:
                return None
            why = RestartCause(cause).label
            self.append_event(EventKind.REQUEUED, {"run": str(restart.pk), "cause": cause, "why": why})
            restart.append_event(
                EventKind.STARTED,
                {
                    "scenario": restart.scenario,
                    "run_type": restart.run_type,
                    "seconds": restart.requested_seconds,
                    "mode": restart.mode,
                    "queued": True,
                    "restart_of": str(self.pk),
                    "why": why,
                },
            )
        return restart

    @property
    def restarts_after_interruption(self):
        """A continuous run a runner worker hosted is put back in the queue when that worker dies, once:
        a run that was itself such a restart is not (a pipeline that kills its worker must not loop)."""
        return (
            self.mode == RunMode.UNTIL_STOPPED
            and self.pipeline_id is not None
            and self.queued_at is not None
            and self.restart_cause != RestartCause.INTERRUPTED
        )

    def beat(self):
        """Say the owner is alive, by the database's clock; False when the run is no longer running."""
        return bool(Run.objects.filter(pk=self.pk, status=RunStatus.RUNNING).update(heartbeat_at=Now()))

    def request_stop(self, by):
        """Ask the run's owner, in whatever process, to stop it cleanly; True the first time it is asked.

        The owner polls the row: the batch in flight finishes and is recorded, then the run ends
        with the verdict of its data and a reason that says who stopped it. A queued run has no
        owner yet: it ends here, and no worker will claim it (its row is locked meanwhile).
        """
        with transaction.atomic():
            queued = Run.objects.select_for_update().filter(pk=self.pk, status=RunStatus.QUEUED).exists()
            asked = Run.objects.filter(pk=self.pk, status__in=ACTIVE_STATUSES, stop_requested_at__isnull=True).update(
                stop_requested_at=timezone.now(), stop_requested_by=str(by)[:200]
            )
            if asked:
                self.append_event(EventKind.STOP_REQUESTED, {"by": str(by)})
            if asked and queued:
                self.finish(RunStatus.OK, f"stopped by {by} while queued, before it started")
        self.refresh_from_db(
            fields=["status", "reason", "finished_at", "stop_requested_at", "stop_requested_by", "last_seq"]
        )
        return bool(asked)

    def append_event(self, kind, payload=None):
        """Append to the run's event log with the next sequence number; call inside a transaction."""
        if kind not in EventKind.values:
            raise ValueError(f"unknown event kind {kind!r}; one of: {', '.join(EventKind.values)}")
        Run.objects.filter(pk=self.pk).update(last_seq=F("last_seq") + 1)
        self.last_seq = Run.objects.filter(pk=self.pk).values_list("last_seq", flat=True).get()
        event = RunEvent.objects.create(run=self, seq=self.last_seq, kind=kind, payload=payload or {})
        alerts.on_event(self, event)  # the alerts outbox is written in this same transaction
        transaction.on_commit(lambda: notify(self.id, event.seq))
        if lineage.enabled():  # off, lineage costs an event nothing
            transaction.on_commit(lambda: lineage.heard(self.id, event.seq, kind))
        return event

    def log(self, kind, payload=None):
        """Append an event in its own transaction."""
        with transaction.atomic():
            return self.append_event(kind, payload)

    def stage(self, stage, status, detail=""):
        """Log that a step of the run is active, done, failed or blocked, and why."""
        if stage not in Stage.values or status not in StageStatus.values:
            raise ValueError(f"unknown stage {stage!r} or stage status {status!r}")
        return self.log(EventKind.STAGE, {"stage": stage, "status": status, "detail": str(detail)})

    def derived_status(self):
        """The final status follows from the batches: never forced."""
        statuses = set(self.batches.values_list("status", flat=True)) - {BatchStatus.EMPTY}
        return RunStatus.of_verdict(worst(statuses))

    def finish(self, status=None, reason=""):
        """Commit the final state, then publish `complete`: the page never sees an unfinished 'complete'."""
        with transaction.atomic():
            locked = Run.objects.select_for_update().get(pk=self.pk)
            if locked.status not in ACTIVE_STATUSES:
                self.status, self.reason, self.finished_at = locked.status, locked.reason, locked.finished_at
                return False
            self.status = status or self.derived_status()
            self.reason = reason or self.reason
            self.finished_at = timezone.now()
            self.heartbeat_at = self.finished_at
            Run.objects.filter(pk=self.pk).update(
                status=self.status, reason=self.reason, finished_at=self.finished_at, heartbeat_at=self.heartbeat_at
            )
            self.append_event(EventKind.COMPLETE, {"status": self.status, "reason": self.reason})
        return True

    def interrupt(self, reason):
        """End the run `interrupted`; a continuous run of a dead worker goes back to the queue (see below)."""
        with transaction.atomic():
            ended = self.finish(RunStatus.INTERRUPTED, reason)
            if ended and self.restarts_after_interruption:
                self.requeue(RestartCause.INTERRUPTED)
        return ended

    def orphan_reason(self, now=None):
        """Why this running run's owner is gone, or "" while it may be alive: a dead pid on this
        host, or a heartbeat older than DC43_HEARTBEAT_TIMEOUT anywhere."""
        if self.status != RunStatus.RUNNING:
            return ""
        now = now or timezone.now()
        owner = f"pid {self.owner_pid} on {self.owner_host}" if self.owner_pid else "its process"
        last_sign = self.heartbeat_at or self.started_at
        if last_sign < now - timedelta(seconds=settings.DC43_HEARTBEAT_TIMEOUT):
            return f"no heartbeat from {owner} for {int((now - last_sign).total_seconds())} s"
        if self.owner_host != HOSTNAME or not self.owner_pid:
            return ""
        if self.owner_pid != os.getpid() and not pid_alive(self.owner_pid):
            return f"its process ({owner}) is no longer running"
        if self.owner_started_at:
            started = process_started_at(self.owner_pid)
            # /proc's boot time may move by a second; a reused pid started long after the owner did.
            if started and abs((started - self.owner_started_at).total_seconds()) > OWNER_START_SLACK:
                return f"its process ({owner}, started {self.owner_started_at:%Y-%m-%d %H:%M:%S}) is gone; the pid now names another process"
        return ""

    def raise_sla_breaches(self, micro_batch):
        """Open (or keep open) the pipeline's SLA alert when the batch breached an SLA; call in its transaction."""
        breached = [
            r
            for r in (micro_batch.metrics or {}).get("rules") or []
            if isinstance(r, dict) and r.get("kind") == "sla" and r.get("verdict") not in (None, BatchStatus.OK)
        ]
        if breached:
            detail = "; ".join(
                f"batch {micro_batch.batch_id}: {r['rule']} measured {r['value']} {r['unit']} "
                f"(at most {r['threshold']} {r['unit']})"
                for r in breached
            )
            alerts.raise_alert(self, alerts.Transition.SLA_BREACH, detail[:500])

    def record_batch(self, batch, slices=(), publish=None):
        """Record a micro-batch, the dataset versions it published and its event, in one transaction.

        `batch` holds MicroBatch fields (batch_id, status, counts, metrics...), `slices` the
        DatasetVersion fields of each slice written. `publish` runs inside the transaction, after
        the rows are saved and before the commit, to move the slices into place: when it fails,
        nothing is recorded. The batch's rule results (`metrics["rules"]`) become `RuleResult`
        rows in the same transaction. A replayed batch (same run, stream and batch_id) updates the
        same rows, replaces its rule results, and appends no second event. With a `slice_key` in `batch` the batch is found by
        (slice_key, stream, batch_id): replayed by a new run, it moves to that run with its dataset
        versions, `replaced_run` naming the run that recorded it first, and is counted once.
        Raises RunFinished when the run is no longer running. Returns (micro_batch, created here).
        """
        batch = dict(batch)
        stream, batch_id = batch.pop("stream", MicroBatch.Stream.MAIN), batch.pop("batch_id")
        slice_key = batch.get("slice_key", "")
        # A checkpointed slice is one across runs: a replay in a new run finds the batch where an earlier run left it.
        key = {"slice_key": slice_key} if slice_key else {"run": self}
        key.update(stream=stream, batch_id=batch_id)
        with transaction.atomic():
            # Locks the run row for the batch: a run finished meanwhile (a sweep, a stop) takes no more batches.
            status, contract_version_id = Run.objects.select_for_update().filter(pk=self.pk).values_list(
                "status", "contract_version_id"
            ).first() or (None, None)
            if status != RunStatus.RUNNING:
                raise RunFinished(f"run {self.pk} is {status}: batch {batch_id} is not recorded")
            earlier = MicroBatch.objects.filter(run=self, stream=stream).exclude(batch_id=batch_id)
            had_rows = earlier.filter(row_count__gt=0).exists()
            had_rejects = earlier.filter(rejected_rows__gt=0).exists()
            found = MicroBatch.objects.select_for_update().filter(**key).first()
            moved = found is not None and found.run_id != self.pk
            batch["run"] = self
            if moved:
                # Replayed by a new run: the batch moves here, and says which run recorded it first.
                batch["replaced_run_id"] = found.replaced_run_id or found.run_id
            micro_batch, created = MicroBatch.objects.update_or_create(**key, defaults=batch)
            changed = found is not None and any(
                getattr(found, f) != getattr(micro_batch, f)
                for f in ("status", "row_count", "violations", "rejected_rows")
            )
            output = None
            for fields in slices:
                fields = dict(fields)
                dataset = fields.pop("dataset")
                if output is None and getattr(fields.get("contract_version"), "pk", None) == contract_version_id:
                    output = dataset
                DatasetVersion.objects.update_or_create(
                    dataset=dataset,
                    version=fields.pop("version"),
                    defaults={**fields, "run": self, "micro_batch": micro_batch},
                )
            RuleResult.record(micro_batch, contract_version_id, output)
            if created or moved or changed:
                self.raise_sla_breaches(micro_batch)
            found = []
            if (created or moved or changed) and micro_batch.row_count and contract_version_id:
                found = watch(micro_batch, contract_version_id)
                if any(a["severity"] == "error" for a in found) and micro_batch.status == BatchStatus.OK:
                    # The contract asked for it: an anomaly of severity error counts against the batch.
                    micro_batch.status = BatchStatus.WARN
                    MicroBatch.objects.filter(pk=micro_batch.pk).update(status=micro_batch.status)
            if publish is not None:
                publish()
            if created or moved or changed:
                # A replay that changed nothing tells the page nothing new; one that did must show.
                self.append_event(EventKind.BATCH, {**micro_batch.event_payload(), "replayed": not created})
            for anomaly in found:
                self.append_event(EventKind.ANOMALY, anomaly)
            if created or moved:
                if micro_batch.row_count and not had_rows:
                    self.append_event(
                        EventKind.MILESTONE,
                        {
                            "milestone": "first_rows",
                            "batch_id": micro_batch.batch_id,
                            "text": f"first rows arrived in batch {micro_batch.batch_id}",
                        },
                    )
                if micro_batch.rejected_rows and not had_rejects:
                    self.append_event(
                        EventKind.MILESTONE,
                        {
                            "milestone": "first_quarantine",
                            "batch_id": micro_batch.batch_id,
                            "text": f"the reject sink activated at batch {micro_batch.batch_id}",
                        },
                    )
        return micro_batch, created or moved

    def totals(self):
        agg = self.batches.aggregate(
            rows=models.Sum("row_count"),
            violations=models.Sum("violations"),
            rejected=models.Sum("rejected_rows"),
            batches=models.Count("id"),
        )
        return {key: value or 0 for key, value in agg.items()}


class MicroBatchQuerySet(models.QuerySet):
    def of_run(self, run_id):
        """A run's batches in the order Spark ran them."""
        return self.filter(run_id=run_id).order_by("stream", "batch_id")

    def summary(self, run_id):
        """A run's totals, per-rule figures, quarantine reasons and reject sample: see `batch_summary`."""
        return batch_summary(self.filter(run_id=run_id), RuleResult.objects.filter(run_id=run_id))


class MicroBatch(models.Model):
    class Stream(models.TextChoices):
        MAIN = "main"
        REJECTS = "rejects"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="batches")
    stream = models.CharField(max_length=16, choices=Stream.choices, default=Stream.MAIN)
    batch_id = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=BatchStatus.choices)
    row_count = models.PositiveBigIntegerField(default=0)
    violations = models.PositiveBigIntegerField(default=0, help_text="Rows that broke at least one rule.")
    rejected_rows = models.PositiveBigIntegerField(default=0, help_text="Rows routed to the rejects dataset.")
    metrics = models.JSONField(default=dict, blank=True, help_text="Per-rule measurements.")
    progress = models.JSONField(default=dict, blank=True, help_text="Spark progress figures of the batch.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    slice_key = models.CharField(
        max_length=200,
        blank=True,
        db_index=True,
        help_text="pipeline@checkpoint epoch: the batch's identity across the runs of one checkpoint.",
    )
    replaced_run = models.ForeignKey(
        Run,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The run that first recorded this batch, when a later run replayed it.",
    )

    objects = MicroBatchQuerySet.as_manager()

    class Meta:
        ordering = ["run", "stream", "batch_id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "stream", "batch_id"], name="unique_run_stream_batch"),
            models.UniqueConstraint(
                fields=["slice_key", "stream", "batch_id"],
                condition=~models.Q(slice_key=""),
                name="unique_slice_stream_batch",
            ),
        ]
        indexes = [
            # The batches that quarantined rows: a run page's reasons and sample, the audit's runs with rejects.
            # (Holding the counts, a run's quarantined rows are summed from the index alone.)
            models.Index(
                fields=["run", "stream", "batch_id"],
                include=["rejected_rows"],
                condition=models.Q(rejected_rows__gt=0),
                name="batch_run_rejected",
            ),
        ]
        verbose_name_plural = "micro-batches"

    def __str__(self):
        return f"batch {self.batch_id} of {self.run_id} ({self.status})"

    def event_payload(self):
        return {
            "stream": self.stream,
            "batch_id": self.batch_id,
            "status": self.status,
            "rows": self.row_count,
            "violations": self.violations,
            "rejected": self.rejected_rows,
            "micro_batch": self.pk,
        }


class RuleResultQuerySet(models.QuerySet):
    def failing(self):
        return self.filter(failed__gt=0)

    def of_rule(self, rule, dataset=None, contract=None):
        """One rule's results, on a dataset (by name or row) or under a contract (by id or row)."""
        results = self.filter(rule=rule)
        # A name is looked up in a subquery, not a join: the database then knows which range of the
        # (dataset or contract, rule, recorded_at) index to read, in its order.
        if isinstance(dataset, str):
            dataset = models.Subquery(Dataset.objects.filter(name=dataset).values("pk")[:1])
        if dataset is not None:
            results = results.filter(dataset=dataset)
        if isinstance(contract, str):
            contract = models.Subquery(Contract.objects.filter(contract_id=contract).values("pk")[:1])
        if contract is not None:
            results = results.filter(contract=contract)
        return results


class RuleResult(models.Model):
    """One rule's result on one micro-batch: `MicroBatch.metrics["rules"]` as rows, for the ORM to add up.

    `rule` is the rule's key across contract versions (`contracts.rules.rule_key`: column, kind and
    a digest of the definition), so "how often did this rule fail this month" is one query even
    when the contract moved on meanwhile; `name` is what the version called it (the word a
    quarantined row carries). Written by `Run.record_batch` in the batch's transaction; a replay
    replaces them. `contract` repeats `contract_version.contract` so a contract's history of one
    rule reads one index range.
    """

    # No index of their own: (run, rule) and (batch, rule) below start with them.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="rule_results", db_index=False)
    batch = models.ForeignKey(MicroBatch, on_delete=models.CASCADE, related_name="rule_results", db_index=False)
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.PROTECT, related_name="rule_results")
    contract = models.ForeignKey(Contract, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    contract_version = models.ForeignKey(
        ContractVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="rule_results"
    )
    rule = models.CharField(max_length=200, help_text="The rule's key, the same across unchanged contract versions.")
    name = models.CharField(max_length=200, help_text="The rule's name in this contract version.")
    position = models.PositiveSmallIntegerField(default=0, help_text="Where the contract version lists it.")
    column = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=32)
    level = models.CharField(max_length=8, help_text="row, metric or skipped")
    failed = models.PositiveBigIntegerField(default=0, help_text="Rows that broke the rule.")
    measured = models.FloatField(null=True, blank=True, help_text="The metric's value, for metric rules.")
    threshold = models.JSONField(null=True, blank=True)
    unit = models.CharField(max_length=16, blank=True)
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    severity = models.CharField(max_length=16, blank=True)
    skipped_reason = models.TextField(blank=True)
    note = models.TextField(blank=True)
    recorded_at = models.DateTimeField()

    objects = RuleResultQuerySet.as_manager()

    class Meta:
        ordering = ["batch", "position"]
        constraints = [models.UniqueConstraint(fields=["batch", "rule"], name="unique_batch_rule")]
        indexes = [
            # A run's figures per rule (its page, its summary): how many batches measured each rule...
            models.Index(fields=["run", "rule"], name="ruleresult_run_rule"),
            # ... and what failed: a long run's few failures, read without its many passes.
            models.Index(
                fields=["run", "rule"],
                include=["failed", "verdict", "level", "name", "batch"],
                condition=models.Q(failed__gt=0) | ~models.Q(verdict="ok"),
                name="ruleresult_run_failing",
            ),
            # A rule's history under a contract: the rule page, the contract page's trends.
            models.Index(fields=["contract", "rule", "-recorded_at"], name="ruleresult_contract_rule"),
            # The audit's "how often did this rule fail on this dataset, since when": failures only.
            models.Index(
                fields=["dataset", "rule", "recorded_at"],
                include=["failed", "contract_version"],
                condition=models.Q(failed__gt=0),
                name="ruleresult_dataset_failing",
            ),
            # A rule's failures under a contract: its last failure, and when (under which version) failures started.
            models.Index(
                fields=["contract", "rule", "recorded_at"],
                condition=models.Q(failed__gt=0),
                name="ruleresult_contract_failing",
            ),
            # A rule's worst batches.
            models.Index(
                fields=["contract", "rule", "-failed"], condition=models.Q(failed__gt=0), name="ruleresult_worst"
            ),
        ]

    def __str__(self):
        return f"{self.rule} on batch {self.batch_id}: {self.verdict}"

    @classmethod
    def record(cls, micro_batch, contract_version_id=None, dataset=None):
        """Replace a batch's rule results with those its metrics list; call inside its transaction."""
        cls.objects.filter(batch=micro_batch).delete()
        contract_version = None
        if contract_version_id:
            contract_version = ContractVersion.objects.select_related("contract").get(pk=contract_version_id)
            if dataset is None:
                dataset = Dataset.objects.filter(name=contract_version.contract.contract_id).first()
        rules = [r for r in (micro_batch.metrics or {}).get("rules") or [] if isinstance(r, dict)]
        fields = rule_result_fields(rules, contract_version.document if contract_version else None)
        cls.objects.bulk_create(
            cls(
                run_id=micro_batch.run_id,
                batch=micro_batch,
                dataset=dataset,
                contract_id=contract_version.contract_id if contract_version else None,
                contract_version=contract_version,
                recorded_at=micro_batch.finished_at,
                **f,
            )
            for f in fields
        )


def rule_result_fields(rules, document=None):
    """RuleResult fields of each rule a batch's metrics list (the dicts `contracts.verdicts.RuleResult.as_dict` makes).

    Metrics written before rule keys existed name a rule only: its key, threshold and unit are then
    those of the same-named rule of the contract version `document` (the data migration reads old
    batches this way).
    """
    known = legacy_definitions(document) if document and any("key" not in r for r in rules) else {}
    rows, keys = [], set()
    for position, r in enumerate(rules):
        name = str(r.get("rule") or "")
        key, threshold, unit = known.get(name, (None, None, None))
        key = r.get("key") or key or re.sub(r"[^A-Za-z0-9_.-]", "_", f"{r.get('column') or 'table'}.{name}")
        base, n = key, 2
        while key in keys:  # never two results of one rule for one batch
            key, n = f"{base}.{n}", n + 1
        keys.add(key)
        value = r.get("value")
        skipped = bool(r.get("skipped"))
        rows.append(
            {
                "rule": key[:200],
                "name": name[:200],
                "position": position,
                "column": str(r.get("column") or "")[:200],
                "kind": str(r.get("kind") or "")[:32],
                "level": str(r.get("level") or ("skipped" if skipped else "row"))[:8],
                "failed": max(int(r.get("failed") or 0), 0),
                "measured": float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None,
                "threshold": r.get("threshold", threshold),
                "unit": str(r.get("unit") or unit or "")[:16],
                "verdict": r.get("verdict") if r.get("verdict") in Verdict.values else Verdict.OK,
                "severity": str(r.get("severity") or "")[:16],
                "skipped_reason": str(r.get("note") or "not run") if skipped else "",
                "note": "" if skipped else str(r.get("note") or ""),
            }
        )
    return rows


def watch(micro_batch, contract_version_id):
    """The anomalies the batch's contract asks to watch for, found at this batch: event payloads.

    Each series is the watched figure of the contract's last non-empty batches up to this one,
    read from RuleResult through its (contract, rule, recorded_at) index: see registry/anomalies.py.
    """
    cv = ContractVersion.objects.only("document", "contract_id").get(pk=contract_version_id)
    wanted = anomalies.settings_of(cv.document, settings.DC43_ANOMALY_DEFAULTS)
    if not wanted:
        return []
    mine = list(micro_batch.rule_results.exclude(level="skipped").order_by("position"))
    if not mine:
        return []
    found = []
    for setting in wanted:
        for result in watched_results(setting, mine):
            size = max(int(setting["window"]) * 2 + 1, int(setting["order"]) + 1)
            history = list(
                RuleResult.objects.filter(
                    contract_id=cv.contract_id,
                    rule=result.rule,
                    recorded_at__lte=result.recorded_at,
                    batch__row_count__gt=0,
                )
                .order_by("-recorded_at")
                .values_list("failed", "batch__row_count")[:size]
            )
            history.reverse()
            if setting["metric"] == "rowCount":
                series = [float(rows) for _, rows in history]
            else:
                series = [failed / rows for failed, rows in history]
            anomaly = anomalies.latest_anomaly(series, setting)
            if anomaly is None:
                continue
            found.append(
                {
                    "stream": micro_batch.stream,
                    "batch_id": micro_batch.batch_id,
                    "micro_batch": micro_batch.pk,
                    "metric": setting["metric"],
                    "rule": "" if setting["metric"] == "rowCount" else result.name,
                    "column": result.column if setting["metric"] == "nullRate" else "",
                    "value": anomaly.value,
                    "lower": anomaly.lower,
                    "upper": anomaly.upper,
                    "strategy": anomaly.strategy,
                    "severity": "error" if setting.get("severity") == "error" else "warning",
                }
            )
    return found


def watched_results(setting, results):
    """The batch's results whose series a setting watches: one for rowCount (every rule sees the rows)."""
    if setting["metric"] == "rowCount":
        return results[:1]
    if setting["metric"] == "nullRate":
        picked = [r for r in results if r.kind == "not_null"]
        return [r for r in picked if r.column == setting["column"]] if setting.get("column") else picked
    picked = [r for r in results if r.level == "row"]
    return [r for r in picked if r.name == setting["rule"]] if setting.get("rule") else picked


LEGACY_DEFINITIONS = {}


def legacy_definitions(document):
    """{rule name: (key, threshold, unit)} of a contract document's rules; {} when it does not compile."""
    from contracts.odcs import fingerprint

    digest = fingerprint(document)
    if digest not in LEGACY_DEFINITIONS:
        try:
            compiled = compile_contract(document)
        except (ValueError, KeyError, TypeError):
            LEGACY_DEFINITIONS[digest] = {}
        else:
            LEGACY_DEFINITIONS[digest] = {
                rule.name: (key, rule.threshold, rule.unit)
                for rule, key in zip(compiled.rules, rule_keys(compiled.rules), strict=True)
            }
    return LEGACY_DEFINITIONS[digest]


# Read only when asked for: with them, every version of a listing carries its contract's whole
# ODCS document and its run's schema snapshot (a 100,000-version listing parsed gigabytes of JSON).
BULKY_RELATED_FIELDS = ("contract_version__document", "contract_version__lint", "run__schema_gate")


class DatasetVersionQuerySet(models.QuerySet):
    def published_under(self, dataset_name):
        """Which versions of a dataset were published, under which contract version, with what status."""
        # By the dataset's id, not a join on its name: the database then knows which range of the
        # (dataset, created_at) index to read, newest first, and stops after a slice's last row.
        dataset = Dataset.objects.filter(name=dataset_name).values("pk")[:1]
        return (
            self.filter(dataset=models.Subquery(dataset))
            .select_related("contract_version__contract", "run")
            .defer(*BULKY_RELATED_FIELDS)
            .order_by("-created_at", "-version")
        )

    def validated_against(self, contract_id, version=None):
        """Dataset versions checked against a contract (optionally one version of it), newest first."""
        # By the contract versions' ids, not a join on the contract: the database then reads the range of
        # the (contract version, created_at) index a period asks for, and a count by status reads nothing else.
        checked_by = ContractVersion.objects.filter(contract__contract_id=contract_id)
        if version:
            checked_by = checked_by.filter(version=version)
        return (
            self.filter(contract_version__in=models.Subquery(checked_by.order_by().values("pk")))
            .select_related("dataset", "contract_version", "run")
            .defer(*BULKY_RELATED_FIELDS)
            .order_by("-created_at", "-pk")
        )


class DatasetVersion(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=128, help_text="Sorts by time: run start, run id, batch id.")
    status = models.CharField(max_length=8, choices=VersionStatus.choices)
    contract_version = models.ForeignKey(
        ContractVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="dataset_versions"
    )
    row_count = models.PositiveBigIntegerField()
    violations = models.PositiveBigIntegerField(default=0)
    path = models.CharField(max_length=1024)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="dataset_versions")
    micro_batch = models.ForeignKey(MicroBatch, on_delete=models.CASCADE, related_name="dataset_versions")
    created_at = models.DateTimeField(default=timezone.now)
    files_missing_at = models.DateTimeField(
        null=True, blank=True, help_text="When the recovery sweep found this version's files gone."
    )

    objects = DatasetVersionQuerySet.as_manager()

    class Meta:
        ordering = ["dataset", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["dataset", "version"], name="unique_dataset_version")]
        indexes = [
            models.Index(fields=["dataset", "-created_at"], name="version_dataset_created"),
            # A run page's "published N versions in these folders", from the index alone at 10k batches a run.
            models.Index(fields=["run", "dataset"], include=["path"], name="version_run_dataset"),
            # "which versions were checked against this contract version in a period, with what status"
            models.Index(
                fields=["contract_version", "-created_at"], include=["status"], name="version_contract_created"
            ),
        ]

    def __str__(self):
        return f"{self.dataset.name}@{self.version}"


class RunEvent(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="unique_run_seq")]

    def __str__(self):
        return f"{self.run_id} #{self.seq} {self.kind}"


from registry import alerts  # noqa: E402  (listens to the event log; needs Run above)
from registry.pipelines import Pipeline  # noqa: E402, F401  (a module of its own; needs RunType above)
