"""Governed streams: read a source under its contract, write a stream under the output contract.

`write_stream_with_contract` runs the schema gate, then starts ONE streaming query whose
`foreachBatch` does, per micro-batch: measure every rule in the same pass that writes the
passing rows to a staging folder -> write the failing rows with their reasons to the rejects
staging folder (when the run routes rejects) -> record the batch, its dataset versions and its
event in one transaction, moving the staged slices into place inside it (see `Publication`).
A slice's path is derived from (run, batch_id), or for a pipeline's checkpoint from (slice key,
batch_id), so a replayed batch rewrites the same slice and the same rows, even in a later run.

Why one module of this size: the writer's per-batch steps and `Publication` (the crash-safe
rename, record, commit) are one protocol: invariants 1-3 (measured = written, registry = files,
once per batch) hold only as long as they are read and changed together.
"""

import logging
import re
import threading
import time
import traceback
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone
from pyspark.sql import functions as F

from contracts.checks import ENFORCE, BatchVerdict, Verdict, compile_contract
from contracts.models import ContractVersion
from pipelines import storage
from pipelines.checks import MALFORMED_RULE, REASONS, BatchChecks, schema_gate
from pipelines.errors import first_line
from registry.models import BatchStatus, Dataset, EventKind, MicroBatch, RunStatus, Stage, StageStatus, VersionStatus

logger = logging.getLogger("dc43.streaming")
# The rejects column that keeps a malformed line's text, when the rejects contract declares it.
RAW_RECORD = "raw_record"
# Called after a publish's renames and before its record commits: the crash tests kill the process here.
publish_hook = None


class BatchRefused(RuntimeError):
    """A trigger arrived after the writer stopped accepting batches. Raised, not swallowed, so that Spark
    does not commit a batch nobody recorded: a resumed checkpoint replays it instead."""


class ContractError(ValueError):
    """A contract the stream names does not exist or cannot be compiled."""


def resolve_contract(contract_id, version=None):
    try:
        contract_version = ContractVersion.objects.resolve(contract_id, version)
    except ContractVersion.DoesNotExist as exc:
        raise ContractError(str(exc)) from None
    return contract_version, compile_contract(contract_version.document)


def read_stream_with_contract(spark, contract_id, version=None, **source):
    """Read a streaming source and check its schema against the input contract; returns the DataFrame.

    `source` takes the keywords of `read_stream_gated`; with a `run`, the input gate is logged to it.
    """
    return read_stream_gated(spark, contract_id, version, **source)[0]


def read_stream_gated(
    spark, contract_id, version=None, *, format="rate", options=None, path=None, schema=None, run=None
):
    """`read_stream_with_contract`, returning (DataFrame, the input gate's result) for a caller that acts on it."""
    _, compiled = resolve_contract(contract_id, version)
    reader = spark.readStream.format(format).options(**{k: str(v) for k, v in (options or {}).items()})
    if schema is not None:
        reader = reader.schema(schema)
    df = reader.load(path) if path else reader.load()
    gate = schema_gate(df.schema, compiled)
    if run is not None:
        run.log(EventKind.GATE, {**gate, "side": "input"})
    return df, gate


def block_at_gate(run, gate, stage, gate_name="schema gate"):
    """End a run `blocked` by a gate, before any streaming query starts, with the breaking differences as reason."""
    reason = f"{gate_name} blocked the stream: " + "; ".join(
        f"{d['column']}: {d['problem']} (expected {d['expected'] or 'any'}, found {d['found']})"
        for d in gate["differences"]
        if d["verdict"] == Verdict.BLOCK
    )
    run.stage(stage, StageStatus.BLOCKED, reason)
    run.stage(Stage.COMPLETE, StageStatus.BLOCKED, "no streaming query started")
    run.finish(RunStatus.of_verdict(gate["verdict"]), reason)


@dataclass
class Rejects:
    """What became of a batch's failing rows: counted per rule, and written to a staged slice when any."""

    rows: int = 0
    broken: dict = field(default_factory=dict)  # rule name -> its offending rows among the rejected
    staging: str = ""
    slice: dict | None = None  # the DatasetVersion fields of the slice, once published
    sample: list | None = None
    event_times: dict = field(default_factory=dict)  # the failing rows' oldest event times (SLAs)


@dataclass
class BatchRecord:
    """A processed micro-batch, as `BatchWriter.record` writes it to the registry."""

    batch_id: int
    started: object  # datetime
    clock: float  # perf_counter at the start, for the batch's duration
    status: str
    verdict: BatchVerdict
    timings: dict
    rejects: Rejects = field(default_factory=Rejects)
    slices: list = field(default_factory=list)
    how: dict = field(default_factory=dict)  # rule name -> "footer", "observe" or "scan"


@dataclass
class Target:
    """A dataset a stream publishes into, under a contract version."""

    dataset: Dataset
    contract_version: ContractVersion

    @classmethod
    def for_contract(cls, contract_id, version=None):
        contract_version, _ = resolve_contract(contract_id, version)
        dataset, _ = Dataset.objects.get_or_create(name=contract_id, defaults={"contract": contract_version.contract})
        return cls(dataset, contract_version)


class BatchWriter:
    """The foreachBatch function of one governed query (callable as `writer(batch_df, batch_id)`)."""

    def __init__(self, run, checks, output, rejects=None, slice_key=""):
        self.run = run
        self.slice_key = slice_key or ""
        self.checks = checks
        self.output = output
        self.rejects = rejects
        self.columns = checks.columns
        # The quarantine keeps the batch's columns its own contract lists, then says why, where and when.
        declared = compile_contract(rejects.contract_version.document).column_names if rejects else []
        self.malformed = checks.malformed_column
        self.reject_columns = [
            c for c in declared if c in self.columns and c not in (REASONS, "run_id", "batch_id", self.malformed)
        ]
        # A line that did not parse keeps its text in the quarantine, when the rejects contract has room for it.
        self.raw_column = RAW_RECORD if self.malformed and RAW_RECORD in declared else None
        # Measured from the files written when their footers could settle every rule the write must count:
        # with routing only the tolerant metric rules (the output holds no failing row), else every rule.
        # Footers are read from local files; a line that did not parse is counted on the way, never written.
        local = storage.is_local(settings.DC43_DATA_ROOT)
        if rejects is not None:
            self.plain_output = local and checks.provable(checks.metric_rule_names)
        else:
            self.plain_output = local and not self.malformed and checks.provable(checks.predicates)
        if checks.event_columns:
            # An SLA's event times are not in the counts the footers prove: they are measured on the way.
            self.plain_output = False
        self.lock = threading.Lock()
        self.stopping = False
        self.refused = None  # the batch id of a trigger refused after the stop
        self.batches_started = 0
        self.first_done = threading.Event()
        self.block = threading.Event()
        self.error = None
        self.block_reason = ""
        self.samples_taken = 0
        self.previous_started = None  # epoch seconds: when the run's last batch with rows started (frequency SLA)

    def __call__(self, batch_df, batch_id):
        with self.lock:
            if self.stopping or self.block.is_set():
                # After an enforce block nothing more may reach the output either: the stream is over.
                self.refused = batch_id
                raise BatchRefused(f"batch {batch_id} arrived after the stream stopped accepting batches")
            self.batches_started += 1
            try:
                self.process(batch_df, batch_id)
                self.first_done.set()
            except Exception as exc:
                self.error = batch_failure(batch_id, exc)
                logger.error("run %s: %s\n%s", self.run.id, self.error, traceback.format_exc())
                raise
            finally:
                # Spark calls back on pooled py4j threads: leave no database connection open on them.
                connection.close()

    def stop_accepting(self):
        """Wait for the batch in progress, then refuse new ones: every started batch gets recorded."""
        with self.lock:
            self.stopping = True

    def slice_version(self, batch_id):
        """A checkpoint's slices sort by time within it: the epoch is when the checkpoint began."""
        if self.slice_key:
            key, epoch = self.slice_key.rsplit("@", 1)
            return f"{epoch}-{key}-b{batch_id:08d}"
        return self.run.slice_version(batch_id)

    def process(self, batch_df, batch_id):
        started = timezone.now()
        clock = time.perf_counter()
        spark = batch_df.sparkSession
        fs = storage.FileSystem(spark)
        checks = self.checks
        version = self.slice_version(batch_id)
        out_final = storage.slice_path(self.output.dataset.name, version)
        out_staging = storage.staging_path(self.output.dataset.name, version)

        timings = {}
        if self.rejects is not None:
            measured, how, rejects = self.write_routed(batch_df, batch_id, version, out_staging, timings)
        else:
            measured, how = self.write_whole(batch_df, out_staging)
            rejects = Rejects()
            timings["write_output"] = round(time.perf_counter() - clock, 4)
        rows = measured["rows"]
        separate = checks.measure_separately(batch_df, rows) if rows else {}
        measured.update(separate)
        # SLAs: the batch is written when its verdict is taken, so that moment is its publish time.
        previous = self.previous_started
        if rows:
            self.previous_started = started.timestamp()
        measured.update(checks.measure_slas(measured, started.timestamp(), previous if rows else None, time.time()))
        counted_rows = how.pop("rows", "footer")
        how.update({name: counted_rows if name in checks.row_count_names else "scan" for name in separate})
        verdict = checks.judge(measured)

        if rows == 0:
            fs.delete(out_staging)
            self.record(BatchRecord(batch_id, started, clock, BatchStatus.EMPTY, verdict, timings, how=how))
            return

        status = verdict.verdict  # ok / warn / block: the batch vocabulary
        failing = measured["violations"]
        to_publish = []
        if rejects.slice:
            to_publish.append((rejects.staging, rejects.slice["path"]))
        slices = []
        if status == BatchStatus.BLOCK:
            # Enforce: the failing rows must not reach the output, so nothing of this batch does.
            fs.delete(out_staging)
        else:
            unparsed = 0 if self.rejects else measured.get(MALFORMED_RULE, 0)
            out_rows = rows - rejects.rows if self.rejects else rows - unparsed
            slices.append(
                {
                    "dataset": self.output.dataset,
                    "version": version,
                    "status": VersionStatus.WARN if failing or status == BatchStatus.WARN else VersionStatus.OK,
                    "contract_version": self.output.contract_version,
                    "row_count": out_rows,
                    "violations": 0 if self.rejects else failing - unparsed,
                    "path": out_final,
                }
            )
            to_publish.append((out_staging, out_final))
        if rejects.slice:
            slices.append(rejects.slice)
        timings["total_before_record"] = round(time.perf_counter() - clock, 4)
        self.record(
            BatchRecord(batch_id, started, clock, status, verdict, timings, rejects, slices, how),
            Publication(fs, to_publish, self.run.id.hex[:8]),
        )
        if status == BatchStatus.BLOCK:
            broken = ", ".join(
                f"{r.rule} ({r.failed} rows)" if r.failed else r.rule
                for r in verdict.failed_rules
                if r.verdict == Verdict.BLOCK
            )
            self.block_reason = f"enforce: batch {batch_id} broke error-severity rules: {broken}; the stream stopped"
            self.block.set()

    def write_whole(self, batch_df, staging):
        """Every row stays (but lines that did not parse): (measured over the batch, how each rule was established).

        When the footers could prove every rule, the batch is written plainly and measured from the files
        written (`BatchChecks.measure_written`); otherwise it is measured on its way to the files
        (`observe`), which costs the write 10-20 % (docs/benchmarks-throughput.md).
        """
        checks = self.checks
        if self.plain_output:
            batch_df.write.mode("overwrite").parquet(staging)
            return checks.measure_written(batch_df.sparkSession, staging, list(checks.predicates))
        observed, observation = checks.observe(batch_df, checks.batch_aggregates())
        written = observed.where(checks.parsed()).drop(self.malformed) if self.malformed else observed
        written.write.mode("overwrite").parquet(staging)
        measured = checks.counts_from(observation.get)
        how = dict.fromkeys(checks.predicates, "observe")
        how["rows"] = "observe"
        if measured["violations"]:
            # Which rules the failing rows broke: one aggregation over those rows only.
            measured.update(checks.rule_counts(batch_df.where(checks.failing())))
            how.update(dict.fromkeys(checks.row_rule_names, "scan"))
        return measured, how

    def write_routed(self, batch_df, batch_id, version, staging, timings):
        """Passing rows to the output, failing rows with their reasons to the rejects: (measured, how, Rejects).

        The output holds no failing row by construction, so its write measures nothing of the row rules;
        its row count (and the tolerant metric rules over its rows) come from its footers. The rejects
        write counts the failures. Each count of the batch is the sum over the two slices.
        """
        checks = self.checks
        clock = time.perf_counter()
        passing = batch_df.where(~checks.failing())
        if self.malformed:
            passing = passing.drop(self.malformed)
        if self.plain_output:
            passing.write.mode("overwrite").parquet(staging)
            measured, how = checks.measure_written(
                batch_df.sparkSession, staging, checks.metric_rule_names, count_failing=False
            )
            how["rows"] = "footer"
        else:
            observed, observation = checks.observe(passing, checks.batch_aggregates(count_failing=False))
            observed.write.mode("overwrite").parquet(staging)
            measured = checks.counts_from(observation.get)
            how = {**dict.fromkeys(checks.metric_rule_names, "observe"), "rows": "observe"}
        timings["write_output"] = round(time.perf_counter() - clock, 4)
        if measured["rows"] == 0 and batch_df.isEmpty():
            # An empty trigger (a rate source's first) costs a peek at one row, not a second write.
            return measured, how, Rejects()
        rejects = self.write_rejects(batch_df, batch_id, version)
        timings["write_rejects"] = round(time.perf_counter() - clock - timings["write_output"], 4)
        for name, failed in rejects.broken.items():
            measured[name] = measured.get(name, 0) + failed
        measured["rows"] += rejects.rows
        measured["violations"] = rejects.rows
        checks.add_event_times(measured, rejects.event_times)
        how.update(dict.fromkeys(checks.row_rule_names, "observe"))
        return measured, how, rejects

    def write_rejects(self, batch_df, batch_id, version):
        checks = self.checks
        name = self.rejects.dataset.name
        final = storage.slice_path(name, version)
        staging = storage.staging_path(name, version)
        keep = [F.col(f"`{c}`") for c in self.reject_columns]
        failing, observation = checks.observe(
            batch_df.where(checks.failing()),
            [
                F.count(F.lit(1)).alias("rejected"),
                *checks.rule_aggregates(),
                *checks.metric_aggregates(),
                *checks.event_time_aggregates(),
            ],
        )
        raw = [F.col(f"`{self.malformed}`").alias(RAW_RECORD)] if self.raw_column else []
        failing.select(
            *keep,
            checks.reasons().alias(REASONS),
            F.lit(str(self.run.id)).alias("run_id"),
            F.lit(int(batch_id)).cast("bigint").alias("batch_id"),
            *raw,
        ).write.mode("overwrite").parquet(staging)
        counts = observation.get
        rejected = int(counts.get("rejected") or 0)
        event_times = checks.event_times_from(counts)
        broken = {n: int(counts.get(checks.aliases[n]) or 0) for n in checks.row_rule_names + checks.metric_rule_names}
        if not rejected:
            storage.FileSystem(batch_df.sparkSession).delete(staging)
            return Rejects(broken=broken, event_times=event_times)
        sample = None
        wanted = settings.DC43_REJECT_SAMPLE_SIZE - self.samples_taken
        if wanted > 0:
            # A few rows for the page, read back from what was written (a tiny extra job, first batches only).
            rows = batch_df.sparkSession.read.parquet(staging).limit(wanted).collect()
            sample = [_plain(r.asDict()) for r in rows]
            self.samples_taken += len(sample)
        reject_slice = {
            "dataset": self.rejects.dataset,
            "version": version,
            "status": VersionStatus.OK,
            "contract_version": self.rejects.contract_version,
            "row_count": rejected,
            "violations": 0,
            "path": final,
        }
        return Rejects(rejected, broken, staging, reject_slice, sample, event_times)

    def record(self, batch, publication=None):
        elapsed = max(time.perf_counter() - batch.clock, 1e-6)
        verdict = batch.verdict
        metrics = {
            "rules": [
                {**r.as_dict(), **({"by": batch.how[r.rule]} if r.rule in batch.how else {})} for r in verdict.results
            ],
            "reasons": verdict.reasons,
            "timings": batch.timings,
        }
        if batch.rejects.sample:
            metrics["reject_sample"] = batch.rejects.sample
        record = (
            {
                "batch_id": batch.batch_id,
                "stream": MicroBatch.Stream.MAIN,
                "status": batch.status,
                "row_count": verdict.row_count,
                "violations": verdict.violations,
                "rejected_rows": batch.rejects.rows,
                "metrics": metrics,
                "progress": {
                    "processed_rows_per_second": round(verdict.row_count / elapsed, 2),
                    "duration_ms": round(elapsed * 1000),
                },
                "started_at": batch.started,
                "finished_at": timezone.now(),
                "slice_key": self.slice_key,
            },
            batch.slices,
            publication,
        )
        try:
            self.run.record_batch(*record)
        except BaseException:
            if publication is not None:
                publication.undo()  # rolled back: the registry still describes the earlier files
            raise
        if publication is not None:
            publication.committed()


class Publication:
    """Moves a batch's staged slices into place, inside the transaction that records them.

    A replayed slice's earlier files are renamed aside first, never deleted before the new ones are
    in: until the record commits, the registry still describes them. After the commit the aside copy
    goes; when the record fails it moves back. A crash in between leaves folders that
    `pipelines.recovery.reconcile` puts right (the aside name carries the publishing run's tag).
    """

    def __init__(self, fs, moves, tag):
        self.fs = fs
        self.moves = moves  # [(staging, final)]
        self.tag = tag
        self.done = []  # [(staging, final, aside or None)] in the order they were moved

    def __call__(self):
        try:
            for staging, final in self.moves:
                aside = None
                if self.fs.exists(final):
                    aside = storage.join(_parent(final), storage.REPLACED, f"{_name(final)}-{self.tag}")
                    self.fs.delete(aside)  # a leftover of an earlier publish that crashed: the slice is newer
                    self.fs.rename(final, aside)
                self.done.append((staging, final, aside))
                self.fs.rename(staging, final)
            if publish_hook is not None:
                publish_hook()
        except BaseException:
            self.undo()
            raise

    def committed(self):
        for _, _, aside in self.done:
            if aside:
                self.fs.delete(aside)

    def undo(self):
        """Put back what the registry still describes: the earlier files, and no new ones."""
        for staging, final, aside in reversed(self.done):
            if not self.fs.exists(staging):
                self.fs.delete(final)
            if aside:
                self.fs.rename(aside, final)
        self.done = []


class GovernedQuery:
    """A running governed stream: the Spark query and the writer that records its batches."""

    def __init__(self, query, writer):
        self.query = query
        self.writer = writer

    @property
    def blocked(self):
        return self.writer.block.is_set()

    def exception(self):
        """Why the stream failed, or None. A trigger refused after the stop is a clean end, not a failure."""
        if self.writer.error:
            return self.writer.error
        error = self.query.exception()
        if error is None or (self.writer.refused is not None and BatchRefused.__name__ in str(error)):
            return None
        return first_line(error, 500)

    def wait_for_first_batch(self, timeout):
        return self.writer.first_done.wait(timeout)

    def stop(self, settle_seconds=10.0):
        """Stop cleanly: no new batch starts, the one in progress finishes and Spark commits it, then stop."""
        self.writer.stop_accepting()
        deadline = time.monotonic() + settle_seconds
        while self.query.isActive and self.query.status.get("isTriggerActive") and time.monotonic() < deadline:
            time.sleep(0.05)
        self.query.stop()


def write_stream_with_contract(
    df,
    contract_id,
    version=None,
    *,
    run,
    run_type=ENFORCE,
    rejects=None,
    trigger=None,
    checkpoint=None,
    slice_key=None,
    malformed_column=None,
):
    """Gate the stream's schema, then start one governed streaming query.

    `trigger` takes the keyword of `DataStreamWriter.trigger` (default: a micro-batch every
    second; `{"availableNow": True}` drains a backlog and stops). `checkpoint` defaults to one of
    the run's own; a pipeline passes its checkpoint with its `slice_key` ("key@epoch"), which names
    the slices, so that a batch replayed by a later run rewrites the same slice. Rows whose
    `malformed_column` is set did not parse: they fail the `malformed_record` rule and never reach
    the output (the rejects take them when the run routes rejects). Returns a GovernedQuery, or
    None when the gate blocked the run (under `enforce`): then the run is finished `blocked`
    with the schema differences as reason and no query starts.
    """
    output = Target.for_contract(contract_id, version)
    rejects_target = Target.for_contract(*_contract_ref(rejects)) if rejects else None
    compiled = compile_contract(output.contract_version.document)
    # The malformed column is the source's bookkeeping, not a column of the stream: the gate never sees it.
    gate = schema_gate((df.drop(malformed_column) if malformed_column else df).schema, compiled)
    run.contract_version = output.contract_version
    run.schema_gate = gate
    run.save(update_fields=["contract_version", "schema_gate"])
    run.log(EventKind.GATE, {**gate, "side": "output"})
    if gate["verdict"] == Verdict.BLOCK and run_type == ENFORCE:
        block_at_gate(run, gate, Stage.GATE)
        return None
    run.stage(Stage.GATE, StageStatus.DONE, f"schema {gate['verdict']}")

    checks = BatchChecks(compiled, df.schema, run_type, malformed_column)
    writer = BatchWriter(run, checks, output, rejects_target, slice_key=slice_key)
    query = (
        df.writeStream.foreachBatch(writer)
        .queryName(f"dc43-{run.scenario}-{run.id.hex[:8]}")
        .option("checkpointLocation", checkpoint or storage.checkpoint_path(run.id))
        .trigger(**(trigger or {"processingTime": "1 second"}))
        .start()
    )
    return GovernedQuery(query, writer)


# How Spark names a file it could not read, in the text of the error it raises.
UNREADABLE_FILE = re.compile(r"(?:reading file|footer for file:?)\s+(\S+?)\.?(?=\s|$)")


def batch_failure(batch_id, exc):
    """The reason a failed batch gives: a file Spark could not read is named (its Java error runs on for pages)."""
    found = UNREADABLE_FILE.search(str(exc))
    if found:
        return f"batch {batch_id} failed: cannot read the file {found.group(1)}"
    if isinstance(exc, DatabaseError):
        # Spark does not commit the batch: the next run on the checkpoint replays it once the database is back.
        return (
            f"batch {batch_id} could not be recorded, the database failed: {type(exc).__name__}: {first_line(exc, 500)}"
        )
    return f"batch {batch_id} failed: {type(exc).__name__}: {first_line(exc, 500)}"


def _parent(path):
    return path.rstrip("/").rsplit("/", 1)[0]


def _name(path):
    return path.rstrip("/").rsplit("/", 1)[1]


def _contract_ref(ref):
    if isinstance(ref, (tuple, list)):
        return tuple(ref)
    return (ref, None)


def _plain(row):
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
