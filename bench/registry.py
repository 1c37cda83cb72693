"""Registry at scale: the run, dataset, rule and audit pages over 100k runs, 2M micro-batches (6M rule results)
and 1M dataset versions.

python bench/registry.py [--smoke] [--database-url URL] [--regenerate] [--rounds N]

The registry is bulk-loaded once (COPY on PostgreSQL) and reused by later runs while it still has
the right size. Pages are timed through the real views, in process, with Django's test Client and a
signed-in user: the whole middleware stack, the ORM and the templates run as they do behind daphne,
while the socket and the ASGI server, whose cost does not grow with the registry, stay out of the
figure. Each page is requested many times in interleaved rounds (the machine is shared and noisy);
the table shows p50/p95 and the queries one request costs, then EXPLAIN ANALYZE of every query of
every page, and a check that no narrow question reads a big table whole (a seq scan).
"""

import math
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from common import ROOT, Results, parser, setup_django, table

DEFAULT_URL = os.environ.get("DC43_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dc43_bench")
TARGET_MS = 50.0  # issue 14: every page and audit question at 100k runs, 2M batches, 1M versions
RULE_TARGET_MS = 50.0  # issue 16: a rule's history (its page, the audit's per-rule question) over 6M rule results
RULE_PAGES = ("rule_page", "audit_rule_history")
BIG_RUN = uuid.UUID("0b16b16b-0000-4000-8000-00000000b16b")  # the run with 10k batches
DATA_VERSION = "dc43-bench-registry-3"  # the big run's owner_host: data of another generator is made again
TIME_BUDGET_S = 20.0  # per page: slow pages get fewer rounds (at least MIN_SAMPLES) so the script ends
MIN_SAMPLES = 3
BIG_TABLES = (
    "registry_run",
    "registry_microbatch",
    "registry_datasetversion",
    "registry_runevent",
    "registry_ruleresult",
)
OUTPUT, REJECTS = "demo.streaming.events_processed", "demo.streaming.events_rejects"


@dataclass(frozen=True)
class Sizes:
    runs: int
    batches: int
    versions: int
    big_run_batches: int
    days: int


FULL = Sizes(runs=100_000, batches=2_000_000, versions=1_000_000, big_run_batches=10_000, days=180)
SMOKE = Sizes(runs=200, batches=4_000, versions=2_000, big_run_batches=600, days=30)


# --- generation ------------------------------------------------------------------------------------

RUN_COLUMNS = (
    "id",
    "scenario",
    "run_type",
    "status",
    "reason",
    "requested_seconds",
    "started_by_id",
    "started_via",
    "started_at",
    "finished_at",
    "owner_host",
    "owner_pid",
    "heartbeat_at",
    "contract_version_id",
    "schema_gate",
    "last_seq",
    "mode",
    "stop_requested_by",
    "checkpoint",
    "restart_cause",
    "spark_master",
    "spark_app_id",
)
BATCH_COLUMNS = (
    "id",
    "run_id",
    "stream",
    "batch_id",
    "status",
    "row_count",
    "violations",
    "rejected_rows",
    "metrics",
    "progress",
    "started_at",
    "finished_at",
    "slice_key",
)
VERSION_COLUMNS = (
    "id",
    "dataset_id",
    "version",
    "status",
    "contract_version_id",
    "row_count",
    "violations",
    "path",
    "run_id",
    "micro_batch_id",
    "created_at",
)
EVENT_COLUMNS = ("id", "run_id", "seq", "kind", "payload", "created_at")
RESULT_COLUMNS = (
    "id",
    "run_id",
    "batch_id",
    "dataset_id",
    "contract_id",
    "contract_version_id",
    "rule",
    "name",
    "position",
    "column",
    "kind",
    "level",
    "failed",
    "measured",
    "threshold",
    "unit",
    "verdict",
    "severity",
    "skipped_reason",
    "note",
    "recorded_at",
)

RULES = [  # three of the demo output contract's rules, as BatchChecks records them (name, kind, column)
    ("value.required", "not_null", "value"),
    ("value.mustBeGreaterOrEqualTo", "compare", "value"),
    ("quality_flag.enum", "in_set", "quality_flag"),
]
FAILING_RULE = "value.mustBeGreaterOrEqualTo"
SNAPSHOT = (
    '[{"name": "timestamp", "type": "timestamp", "nullable": false}, '
    '{"name": "value", "type": "bigint", "nullable": false}, '
    '{"name": "quality_flag", "type": "string", "nullable": false}]'
)
VALUE_MISSING = (
    '{"column": "value", "expected": "bigint, required", "found": "missing", "verdict": "block", '
    '"problem": "required column is missing"}'
)


def rules_json(failed=0, verdict="warn"):
    parts = []
    for name, kind, column in RULES:
        bad = failed if name == FAILING_RULE else 0
        value = "0" if kind == "compare" else "null"
        parts.append(
            f'{{"rule": "{name}", "column": "{column}", "kind": "{kind}", "level": "row", "failed": {bad}, '
            f'"value": {value}, "passed": {"false" if bad else "true"}, "verdict": "{verdict if bad else "ok"}", '
            f'"severity": "error", "skipped": false, "note": ""}}'
        )
    return "[" + ", ".join(parts) + "]"


RULES_OK = rules_json()


EPOCH = datetime(1970, 1, 1)


def stamp(ts):
    """Epoch seconds as Django stores an aware UTC datetime on SQLite; PostgreSQL reads it in its UTC session."""
    return (EPOCH + timedelta(seconds=ts)).isoformat(" ")


class Generator:
    """A registry as months of the three demo scenarios leave it, made reproducible by a fixed seed.

    Scenarios, statuses and batch counts follow skewed distributions; one run has `big_run_batches`
    batches. The totals are exact: every non-empty batch publishes a version of the output dataset,
    a batch with quarantined rows also one of the rejects dataset, and the versions quota is met by
    choosing which batches carry rows with selection sampling.
    """

    def __init__(self, sizes, now, ids):
        self.sizes = sizes
        self.now = now.timestamp()
        self.ids = ids  # contract versions, datasets and users made beforehand
        self.rng = random.Random(43)
        self.batch_pk = 0
        self.version_pk = 0
        self.event_pk = 0
        self.result_pk = 0

    def results(self, sink, hex_id, batch_pk, failed, verdict, at):
        """The batch's RuleResult rows, as Run.record_batch writes them."""
        ids = self.ids
        for position, (name, kind, column) in enumerate(RULES):
            bad = failed if name == FAILING_RULE else 0
            self.result_pk += 1
            sink.add(
                "results",
                (
                    self.result_pk,
                    hex_id,
                    batch_pk,
                    ids["output_dataset"],
                    ids["output_contract"],
                    ids["output_cv"],
                    ids["rule_keys"][name],
                    name,
                    position,
                    column,
                    kind,
                    "row",
                    bad,
                    bad,
                    "0" if kind == "compare" else "null",
                    "rows",
                    verdict if bad else "ok",
                    "error",
                    "",
                    "",
                    at,
                ),
            )

    def plan(self):
        rng, sizes = self.rng, self.sizes
        span = sizes.days * 86400
        plans = []
        for _i in range(sizes.runs - 1):
            scenario = rng.choices(
                ["streaming-valid", "streaming-dq-rejects", "streaming-schema-break"], [0.55, 0.30, 0.15]
            )[0]
            plans.append(
                {
                    "scenario": scenario,
                    "started": self.now - 3600 - rng.random() * span,
                    "enforce": rng.random() < 0.3,
                    "batches": 0,
                }
            )
        plans.sort(key=lambda p: p["started"])
        # No run is left running: the runs list would mark it interrupted once its heartbeat aged,
        # changing the data between two runs of the benchmark.
        big = {
            "scenario": "streaming-dq-rejects",
            "started": self.now - span / 9,
            "enforce": False,
            "big": True,
            "batches": self.sizes.big_run_batches,
            "id": BIG_RUN,
        }
        plans.append(big)
        streaming = [p for p in plans if p["scenario"] != "streaming-schema-break" and not p.get("big")]
        weights = [min(max(rng.lognormvariate(math.log(14), 1.0), 1), 5000) for _ in streaming]
        budget = sizes.batches - big["batches"]
        factor = budget / sum(weights)
        for p, w in zip(streaming, weights, strict=False):
            p["batches"] = max(1, round(w * factor))
        residual = budget - sum(p["batches"] for p in streaming)
        while residual:
            p = rng.choice(streaming)
            step = 1 if residual > 0 else -1
            if p["batches"] + step >= 1:
                p["batches"] += step
                residual -= step
        for p in plans:
            p.setdefault("id", uuid.UUID(int=rng.getrandbits(128), version=4))
            fate = rng.random()
            p["fate"] = (
                ("failed" if fate < 0.02 else "interrupted" if fate < 0.03 else "done") if p["batches"] else "blocked"
            )
        # Quotas: batches with quarantined rows (two versions) and batches with rows only (one version).
        big_rejected = sum(1 for b in range(1, big["batches"]) if b % 4 == 1)
        big_versions = 2 * big_rejected + (big["batches"] - 1 - big_rejected)
        reject_pool = sum(p["batches"] for p in streaming if p["scenario"] == "streaming-dq-rejects")
        self.rejected_left = round(0.15 * reject_pool)
        self.reject_pool_left = reject_pool
        self.single_left = sizes.versions - big_versions - 2 * self.rejected_left
        self.single_pool_left = sum(p["batches"] for p in streaming) - self.rejected_left
        assert 0 <= self.single_left <= self.single_pool_left, (self.single_left, self.single_pool_left)
        return plans

    def batch_kind(self, plan, batch_id):
        """'rejected', 'rows' or 'empty', meeting the quotas exactly (selection sampling)."""
        rng = self.rng
        if plan.get("big"):
            return "empty" if batch_id == 0 else "rejected" if batch_id % 4 == 1 else "rows"
        if plan["scenario"] == "streaming-dq-rejects":
            pick = rng.random() * self.reject_pool_left < self.rejected_left
            self.reject_pool_left -= 1
            if pick:
                self.rejected_left -= 1
                return "rejected"
        pick = rng.random() * self.single_pool_left < self.single_left
        self.single_pool_left -= 1
        if pick:
            self.single_left -= 1
            return "rows"
        return "empty"

    def rows(self, sink):
        """Feed every row of the registry to `sink.add(table, row)`."""
        for plan in self.plan():
            self.run(plan, sink)
        assert self.rejected_left == 0 and self.single_left == 0

    def run(self, plan, sink):
        rng, ids = self.rng, self.ids
        run_id = plan["id"]
        hex_id = run_id.hex
        enforce = plan["enforce"]
        started = plan["started"]
        started_dt = EPOCH + timedelta(seconds=started)
        prefix = f"{started_dt:%Y%m%dT%H%M%S%fZ}-{hex_id[:8]}"
        run_type = "enforce" if enforce else "observe"
        events = []

        def event(kind, payload, at):
            events.append((kind, payload, at))

        t = started
        event("started", f'{{"scenario": "{plan["scenario"]}", "run_type": "{run_type}", "seconds": 60}}', stamp(t))
        event("stage", '{"stage": "setup", "status": "active", "detail": "starting Spark"}', stamp(t + 0.1))
        event("stage", '{"stage": "setup", "status": "done", "detail": "Spark 4.0"}', stamp(t + 2.5))
        event("stage", '{"stage": "read", "status": "active", "detail": "rate source, 6 rows/s"}', stamp(t + 2.6))
        event(
            "gate",
            '{"verdict": "ok", "differences": [], "contract": "demo.streaming.events@0.1.0", "side": "input"}',
            stamp(t + 3.0),
        )
        event(
            "stage",
            '{"stage": "read", "status": "done", "detail": "source matches the input contract"}',
            stamp(t + 3.0),
        )
        contract = f"{OUTPUT}@0.1.0"
        if plan["fate"] == "blocked":
            gate = f'{{"verdict": "block", "differences": [{VALUE_MISSING}], "snapshot": {SNAPSHOT}, "contract": "{contract}"}}'
            event("gate", gate[:-1] + ', "side": "output"}', stamp(t + 3.4))
            event(
                "stage",
                '{"stage": "gate", "status": "blocked", "detail": "value: required column is missing"}',
                stamp(t + 3.4),
            )
            event(
                "stage",
                '{"stage": "complete", "status": "blocked", "detail": "no streaming query started"}',
                stamp(t + 3.5),
            )
            reason = "schema gate: required column `value` is missing"
            status, finished = "blocked", t + 3.5
            event("complete", f'{{"status": "blocked", "reason": "{reason}"}}', stamp(finished))
            self.emit_run(sink, plan, run_type, status, reason, finished, gate, events)
            return
        gate = f'{{"verdict": "ok", "differences": [], "snapshot": {SNAPSHOT}, "contract": "{contract}"}}'
        event("gate", gate[:-1] + ', "side": "output"}', stamp(t + 3.4))
        event("stage", '{"stage": "gate", "status": "done", "detail": "schema ok"}', stamp(t + 3.4))
        event("stage", '{"stage": "streaming", "status": "active", "detail": "window of 60 s"}', stamp(t + 3.5))
        t += 4.0
        rejects_run = plan["scenario"] == "streaming-dq-rejects"
        statuses = set()
        had_rows = had_rejects = False
        samples = 0
        n = plan["batches"]
        block_last = enforce and not rejects_run and plan["fate"] == "done" and rng.random() < 0.05
        for batch_id in range(n):
            pk = self.batch_pk = self.batch_pk + 1
            kind = self.batch_kind(plan, batch_id)
            begin = t
            duration = 0.05 + rng.random() * 0.4
            t += max(duration, 1.0 + rng.random() * 0.2)  # one trigger a second
            begin_s, end_s = stamp(begin), stamp(begin + duration)
            rows = violations = rejected = 0
            if kind == "empty":
                status = "block" if block_last and batch_id == n - 1 else "empty"
                if status == "block":
                    rows = violations = 1 + rng.randrange(20)
            else:
                rows = 1 + int(rng.lognormvariate(math.log(300), 1.2))
                if kind == "rejected":
                    rejected = violations = 1 + rng.randrange(max(1, rows // 4))
                elif not rejects_run and rng.random() < 0.02:
                    violations = 1 + rng.randrange(max(1, rows // 10))
                status = "warn" if violations else "ok"
            statuses.add(status)
            if violations:
                verdict = "block" if status == "block" else "warn"
                metrics = (
                    f'{{"rules": {rules_json(violations, verdict)}, "reasons": {{"{FAILING_RULE}": {violations}}}, '
                    f'"timings": {{"write_output": {duration * 0.6:.4f}, "total_before_record": {duration:.4f}}}'
                )
            else:
                metrics = (
                    f'{{"rules": {RULES_OK}, "reasons": {{}}, '
                    f'"timings": {{"write_output": {duration * 0.6:.4f}, "total_before_record": {duration:.4f}}}'
                )
            if rejected and samples < 5:
                take = min(5 - samples, rejected)
                samples += take
                sample = ", ".join(
                    f'{{"timestamp": "{begin_s}", "value": {-(k + 1)}, "quality_flag": "warning", '
                    f'"reject_reasons": ["{FAILING_RULE}"], "run_id": "{run_id}", "batch_id": {batch_id}}}'
                    for k in range(take)
                )
                metrics += f', "reject_sample": [{sample}]'
            metrics += "}"
            progress = (
                f'{{"processed_rows_per_second": {rows / duration:.2f}, "duration_ms": {round(duration * 1000)}}}'
            )
            self.results(sink, hex_id, pk, violations, "block" if status == "block" else "warn", end_s)
            sink.add(
                "batches",
                (
                    pk,
                    hex_id,
                    "main",
                    batch_id,
                    status,
                    rows,
                    violations,
                    rejected,
                    metrics,
                    progress,
                    begin_s,
                    end_s,
                    "",
                ),
            )
            version = f"{prefix}-b{batch_id:06d}"
            if rows - rejected > 0 and status != "block":
                self.version_pk += 1
                v_status = "warn" if violations and not rejects_run else "ok"
                sink.add(
                    "versions",
                    (
                        self.version_pk,
                        ids["output_dataset"],
                        version,
                        v_status,
                        ids["output_cv"],
                        rows - rejected,
                        0 if rejects_run else violations,
                        f"var/data/{OUTPUT}/{version}",
                        hex_id,
                        pk,
                        end_s,
                    ),
                )
            if rejected:
                self.version_pk += 1
                sink.add(
                    "versions",
                    (
                        self.version_pk,
                        ids["rejects_dataset"],
                        version,
                        "ok",
                        ids["rejects_cv"],
                        rejected,
                        0,
                        f"var/data/{REJECTS}/{version}",
                        hex_id,
                        pk,
                        end_s,
                    ),
                )
            event(
                "batch",
                f'{{"stream": "main", "batch_id": {batch_id}, "status": "{status}", "rows": {rows}, '
                f'"violations": {violations}, "rejected": {rejected}, "micro_batch": {pk}, "replayed": false}}',
                end_s,
            )
            if rows and not had_rows and status != "block":
                had_rows = True
                event(
                    "milestone",
                    f'{{"milestone": "first_rows", "batch_id": {batch_id}, '
                    f'"text": "first rows arrived in batch {batch_id}"}}',
                    end_s,
                )
            if rejected and not had_rejects:
                had_rejects = True
                event(
                    "milestone",
                    f'{{"milestone": "first_quarantine", "batch_id": {batch_id}, '
                    f'"text": "the reject sink activated at batch {batch_id}"}}',
                    end_s,
                )
        finished = t
        if plan["fate"] == "failed":
            status, reason = "failed", f"batch {n} failed: Py4JJavaError: executor lost (container killed by YARN)"
            event("stage", '{"stage": "streaming", "status": "failed", "detail": "executor lost"}', stamp(finished))
        elif plan["fate"] == "interrupted":
            status, reason = "interrupted", "its process (pid 4242 on worker-3) is no longer running"
        else:
            status = "blocked" if "block" in statuses else "warn" if "warn" in statuses else "ok"
            reason = (
                f"enforce: batch {n - 1} broke error-severity rules: {FAILING_RULE}; the stream stopped"
                if status == "blocked"
                else ""
            )
            event("stage", f'{{"stage": "streaming", "status": "done", "detail": "{n} batches"}}', stamp(finished))
            event("stage", f'{{"stage": "complete", "status": "done", "detail": "{status}"}}', stamp(finished))
        event("complete", f'{{"status": "{status}", "reason": "{reason}"}}', stamp(finished))
        self.emit_run(sink, plan, run_type, status, reason, finished, gate, events)

    def emit_run(self, sink, plan, run_type, status, reason, finished, gate, events):
        rng, ids = self.rng, self.ids
        hex_id = plan["id"].hex
        user = rng.choice(ids["users"]) if rng.random() < 0.6 else None
        via = "user" if user else rng.choice(["command", "python"])
        end = stamp(finished) if finished is not None else None
        heartbeat = end or stamp(self.now)
        host = DATA_VERSION if plan.get("big") else "worker-3"
        sink.add(
            "runs",
            (
                hex_id,
                plan["scenario"],
                run_type,
                status,
                reason,
                60,
                user,
                via,
                stamp(plan["started"]),
                end,
                host,
                4242,
                heartbeat,
                ids["output_cv"],
                gate,
                len(events),
                "window",
                "",
                "",
                "",
                "",
                "",
            ),
        )
        for seq, (kind, payload, at) in enumerate(events, start=1):
            self.event_pk += 1
            sink.add("events", (self.event_pk, hex_id, seq, kind, payload, at))


TABLES = {
    "runs": ("registry_run", RUN_COLUMNS),
    "batches": ("registry_microbatch", BATCH_COLUMNS),
    "versions": ("registry_datasetversion", VERSION_COLUMNS),
    "events": ("registry_runevent", EVENT_COLUMNS),
    "results": ("registry_ruleresult", RESULT_COLUMNS),
}
LOAD_ORDER = ("runs", "batches", "results", "versions", "events")


def copy_text(value):
    if value is None:
        return "\\N"
    if isinstance(value, str):
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        return value
    return str(value)


def quoted(columns):
    return ", ".join(f'"{c}"' for c in columns)  # `column` is a reserved word


class CopySink:
    """PostgreSQL: one COPY per table, each on its own connection, all four streaming at once.

    Foreign keys are not checked row by row during the load (session_replication_role = replica,
    as pg_restore --disable-triggers does, which needs a superuser such as the default URL's
    postgres): the generator writes consistent rows, and `check_integrity` verifies it after.
    """

    FLUSH = 1 << 20

    def __init__(self, conninfo):
        import psycopg

        self.conns, self.copies, self.buffers, self.sizes = {}, {}, {}, {}
        self.counts = dict.fromkeys(TABLES, 0)
        self.open = ExitStack()
        for name, (db_table, columns) in TABLES.items():
            conn = self.conns[name] = psycopg.connect(**conninfo)
            conn.execute("SET session_replication_role = replica")
            conn.execute("SET TIME ZONE 'UTC'")
            conn.execute("SET synchronous_commit = off")
            copy = conn.cursor().copy(f"COPY {db_table} ({quoted(columns)}) FROM STDIN")
            self.copies[name] = self.open.enter_context(copy)
            self.buffers[name], self.sizes[name] = [], 0

    def add(self, name, row):
        line = "\t".join(map(copy_text, row)) + "\n"
        buffer = self.buffers[name]
        buffer.append(line)
        self.sizes[name] += len(line)
        self.counts[name] += 1
        if self.sizes[name] > self.FLUSH:
            self.copies[name].write("".join(buffer))
            buffer.clear()
            self.sizes[name] = 0

    def close(self):
        for name in LOAD_ORDER:
            self.copies[name].write("".join(self.buffers[name]))
        self.open.close()  # ends every COPY
        for name in LOAD_ORDER:
            self.conns[name].commit()
            self.conns[name].close()


class InsertSink:
    """Any other database (SQLite in smoke mode): batched INSERTs through Django's connection, in one transaction."""

    def __init__(self):
        self.rows = {name: [] for name in TABLES}
        self.counts = dict.fromkeys(TABLES, 0)

    def add(self, name, row):
        self.rows[name].append(row)
        self.counts[name] += 1

    def close(self):
        from django.db import connection, transaction

        with transaction.atomic(), connection.cursor() as cursor:
            for name in LOAD_ORDER:
                db_table, columns = TABLES[name]
                sql = f"INSERT INTO {db_table} ({quoted(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
                rows = self.rows[name]
                for start in range(0, len(rows), 5000):
                    cursor.executemany(sql, rows[start : start + 5000])


# --- the database ----------------------------------------------------------------------------------


def ensure_database(url):
    """Create the benchmark's PostgreSQL database when it does not exist yet."""
    import dj_database_url
    import psycopg

    conf = dj_database_url.parse(url)
    params = {
        "host": conf["HOST"] or "127.0.0.1",
        "port": conf["PORT"] or 5432,
        "user": conf["USER"] or "postgres",
        "dbname": "postgres",
    }
    if conf.get("PASSWORD"):
        params["password"] = conf["PASSWORD"]
    with psycopg.connect(**params, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [conf["NAME"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{conf["NAME"]}"')
            print(f"created database {conf['NAME']}")


def registry_size():
    from django.db import connection

    with connection.cursor() as cursor:
        sizes = {}
        for name, (db_table, _) in TABLES.items():
            cursor.execute(f"SELECT COUNT(*) FROM {db_table}")
            sizes[name] = cursor.fetchone()[0]
    return sizes


def holds_expected_data(sizes):
    """The data of an earlier run is reused when it has the right size and is recent enough for the audit's week."""
    from registry.models import Run

    have = registry_size()
    want = {"runs": sizes.runs, "batches": sizes.batches, "versions": sizes.versions, "results": 3 * sizes.batches}
    if any(have[k] != v for k, v in want.items()) or not have["events"]:
        return False, have
    big = Run.objects.filter(pk=BIG_RUN).first()
    newest = Run.objects.order_by("-started_at").values_list("started_at", flat=True).first()
    from django.utils import timezone

    fresh = newest and newest > timezone.now() - timedelta(days=2)
    same = big and big.owner_host == DATA_VERSION and big.batches.count() == sizes.big_run_batches
    return bool(same and fresh), have


def wipe():
    from django.db import connection

    from registry.models import Dataset

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "TRUNCATE registry_runevent, registry_ruleresult, registry_datasetversion, registry_microbatch, registry_run "
                "RESTART IDENTITY CASCADE"
            )
        else:
            for name in reversed(LOAD_ORDER):
                cursor.execute(f"DELETE FROM {TABLES[name][0]}")
    Dataset.objects.all().delete()


def reference_rows():
    """Contract versions (the demo contracts), the two datasets and a few people who start runs."""
    from django.contrib.auth import get_user_model

    from contracts.demo import load_demo_contracts
    from contracts.models import Contract, ContractVersion
    from registry.models import Dataset

    load_demo_contracts(Contract, ContractVersion)
    output_cv = ContractVersion.objects.resolve(OUTPUT, "0.1.0")
    rejects_cv = ContractVersion.objects.resolve(REJECTS, "0.1.0")
    output, _ = Dataset.objects.get_or_create(name=OUTPUT, defaults={"contract": output_cv.contract})
    rejects, _ = Dataset.objects.get_or_create(name=REJECTS, defaults={"contract": rejects_cv.contract})
    User = get_user_model()
    users = []
    for name in ("amira", "bastien", "chen", "dagny", "emeka", "bench"):
        user, _ = User.objects.get_or_create(username=name)
        users.append(user.pk)
    return {
        "output_cv": output_cv.pk,
        "output_contract": output_cv.contract_id,
        "rule_keys": output_cv.rule_keys(),
        "rejects_cv": rejects_cv.pk,
        "output_dataset": output.pk,
        "rejects_dataset": rejects.pk,
        "users": users[:-1],
    }


def generate(sizes):
    from django.core.management.color import no_style
    from django.db import connection
    from django.utils import timezone

    from registry.models import DatasetVersion, MicroBatch, RuleResult, RunEvent

    wipe()
    ids = reference_rows()
    clock = time.perf_counter()
    if connection.vendor == "postgresql":
        params = connection.get_connection_params()
        sink = CopySink({k: v for k, v in params.items() if k in ("host", "port", "user", "password", "dbname")})
    else:
        sink = InsertSink()
    Generator(sizes, timezone.now(), ids).rows(sink)
    sink.close()
    loaded = time.perf_counter() - clock
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [MicroBatch, DatasetVersion, RunEvent, RuleResult]):
            cursor.execute(sql)
        if connection.vendor == "postgresql":
            check_integrity(cursor)
            for db_table, _ in TABLES.values():
                cursor.execute(f"VACUUM (ANALYZE) {db_table}")
        else:
            cursor.execute("ANALYZE")
    counts = ", ".join(f"{n:,} {name}" for name, n in sink.counts.items())
    print(
        f"generated {counts} in {loaded:.1f} s (+{time.perf_counter() - clock - loaded:.1f} s checks, vacuum, analyze)"
    )


def check_integrity(cursor):
    """The rows were loaded without per-row foreign key checks: check every reference once, by anti-join."""
    checks = [
        ("registry_microbatch", "run_id", "registry_run"),
        ("registry_datasetversion", "run_id", "registry_run"),
        ("registry_datasetversion", "micro_batch_id", "registry_microbatch"),
        ("registry_runevent", "run_id", "registry_run"),
        ("registry_ruleresult", "batch_id", "registry_microbatch"),
    ]
    for child, column, parent in checks:
        cursor.execute(
            f"SELECT COUNT(*) FROM {child} c WHERE NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = c.{column})"
        )
        orphans = cursor.fetchone()[0]
        assert orphans == 0, f"{orphans} rows of {child} point to no {parent}"


# --- what is measured ------------------------------------------------------------------------------


def cursor_at(queryset, field, depth):
    """The keyset cursor a reader reaches after paging `depth` rows down (looked up once, not timed)."""
    from registry.pages import cursor

    item = queryset.order_by(f"-{field}", "-pk")[depth : depth + 1].get()
    return cursor(item, field)


def audit_blocks():
    return re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "audit.md").read_text(), re.S)


AUDIT_NAMES = [
    "audit_imports",
    "audit_published",
    "audit_checked",
    "audit_quarantined",
    "audit_batch_by_batch",
    "audit_rule_history",
    "audit_reject_paths",
    "audit_not_ok",
    "audit_timeline",
]


@dataclass
class Page:
    fn: object
    group: str = ""  # pages of one group must cost the same number of queries
    samples: list = None
    queries: list = None


def pages_to_time(sizes, client):
    """The pages, the deep cursors they need and the runs they show, looked up once (untimed)."""
    from django.db.models import Count
    from django.utils import timezone

    from registry.models import Dataset, DatasetVersion, Run

    small = (
        Run.objects.filter(
            scenario="streaming-dq-rejects",
            status="warn",
            started_at__gte=timezone.now() - timedelta(days=sizes.days // 4),
        )
        .annotate(n=Count("batches"))
        .filter(n=10)
        .first()
    )
    output = Dataset.objects.get(name=OUTPUT)
    versions = output.versions.count()
    big = Run.objects.get(pk=BIG_RUN)

    def get(url):
        def fetch():
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        return fetch

    runs_deep = urlencode({"before": cursor_at(Run.objects.all(), "started_at", int(sizes.runs * 0.9))})
    versions_deep = urlencode({"before": cursor_at(output.versions.all(), "created_at", int(versions * 0.8))})
    rule_key = output.contract.versions.get(version="0.1.0").rule_keys()[FAILING_RULE]
    pages = {
        "runs_first": Page(get("/runs/"), "runs list"),
        "runs_filtered": Page(get("/runs/?scenario=streaming-dq-rejects&status=warn"), "runs list"),
        "runs_deep": Page(get(f"/runs/?{runs_deep}"), "runs list"),
        "run_detail_10k": Page(get(big.get_absolute_url()), "run detail"),
        "run_detail_10k_older": Page(get(f"{big.get_absolute_url()}?batches_before={big.last_seq // 2}"), "run detail"),
        "run_detail_10": Page(get(small.get_absolute_url()), "run detail"),
        "dataset_first": Page(get(output.get_absolute_url()), "dataset history"),
        "dataset_deep": Page(get(f"{output.get_absolute_url()}?{versions_deep}"), "dataset history"),
        "rule_page": Page(get(f"/contracts/{OUTPUT}/rules/{rule_key}/")),
        "contract_page": Page(get(f"/contracts/{OUTPUT}/")),
    }
    # docs/audit.md as written, block after block in one namespace (each block finds what the ones
    # before it left); a timed run works on a copy, so a big answer is freed once measured.
    namespace = {}
    for name, block in zip(AUDIT_NAMES, audit_blocks(), strict=False):
        code = compile(block, f"docs/audit.md ({name})", "exec")
        if name == "audit_imports":
            exec(code, namespace)
        else:
            pages[name] = Page(lambda code=code: exec(code, dict(namespace)))
            pages[name].first = lambda code=code: exec(code, namespace)
    # The first audit question asked of the newest 100 versions: what its queryset costs when bounded.
    pages["audit_published_newest_100_info"] = Page(
        lambda: [
            (v.version, v.contract_version.contract.contract_id, v.contract_version.version, v.status, v.row_count)
            for v in DatasetVersion.objects.published_under(OUTPUT)[:100]
        ]
    )
    return pages, {"big_run": big, "small_run": small, "versions": versions}


def percentile(values, q):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def measure(pages, rounds):
    """Each page once first (warming caches, and recording its SQL), then interleaved rounds, so drift
    in the machine hits all pages alike. A page slower than TIME_BUDGET_S in all is not repeated
    past MIN_SAMPLES; one slower than that on its first run keeps that run as its only sample."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    for page in pages.values():
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            getattr(page, "first", page.fn)()
            elapsed = time.perf_counter() - start
        page.queries = [q["sql"] for q in captured.captured_queries]
        page.samples = [elapsed * 1000] if elapsed > TIME_BUDGET_S else []
    for _ in range(rounds):
        for page in pages.values():
            spent = sum(page.samples) / 1000
            if len(page.samples) >= MIN_SAMPLES and spent > TIME_BUDGET_S or spent > TIME_BUDGET_S * MIN_SAMPLES:
                continue
            start = time.perf_counter()
            page.fn()
            page.samples.append((time.perf_counter() - start) * 1000)


def plan_of(sql):
    """EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN elsewhere; the plan's lines."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            return [row[0] for row in cursor.fetchall()]
        cursor.execute("EXPLAIN QUERY PLAN " + sql)
        return [row[-1] for row in cursor.fetchall()]


def table_rows():
    from django.db import connection

    with connection.cursor() as cursor:
        rows = {}
        for db_table in BIG_TABLES:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [db_table])
            else:
                cursor.execute(f"SELECT COUNT(*) FROM {db_table}")
            rows[db_table] = max(cursor.fetchone()[0], 1)
    return rows


def full_scans(plan, sizes):
    """(table, share of its rows the scan returned) for each big table a plan reads whole: Seq Scan
    on PostgreSQL, SCAN without an index on SQLite (which does not say how many rows came out)."""
    found = []
    for line in plan:
        for db_table in BIG_TABLES:
            pg = re.search(rf"Seq Scan on {db_table}\b.*actual time=\S+ rows=(\d+) loops=(\d+)", line)
            if pg:
                found.append((db_table, int(pg.group(1)) * int(pg.group(2)) / sizes[db_table]))
            elif re.search(rf"^SCAN {db_table}\b(?!.*USING)", line.strip()):
                found.append((db_table, None))
    return found


WHOLE_TABLE_SHARE = 0.2  # a scan returning this share of a table answers a question about most of it


def explain(pages):
    """Print the plan of every query on the registry's tables, once per distinct statement.

    Returns the full scans of big tables, split into those that read most of the table because
    the question is about most of it (a seq scan is the right plan), and the others (a missing index)."""
    from django.db import connection

    sizes = table_rows()
    seen, by_design, missing = set(), [], []
    for name, page in pages.items():
        for sql in page.queries:
            if not any(t in sql for t in BIG_TABLES) or not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            shape = re.sub(r"'[^']*'|\b\d+\b", "?", sql)
            if shape in seen:
                continue
            seen.add(shape)
            plan = plan_of(sql)
            print(f"\n-- {name}: {sql if len(sql) < 700 else sql[:700] + ' ...'}")
            for line in plan:
                print("   " + line)
            for db_table, share in full_scans(plan, sizes):
                if share is not None and share >= WHOLE_TABLE_SHARE:
                    by_design.append(f"{db_table} in {name} ({share:.0%} of its rows)")
                else:
                    missing.append(
                        f"{db_table} in {name}" + (f" ({share:.1%} of its rows)" if share is not None else "")
                    )
    print(f"\n{connection.vendor}: {len(seen)} distinct statements explained")
    return by_design, missing


def report(pages, results):
    rows = []
    for name, page in pages.items():
        p50, p95 = statistics.median(page.samples), percentile(page.samples, 0.95)
        target = RULE_TARGET_MS if name in RULE_PAGES else TARGET_MS
        rows.append(
            [
                name,
                f"{p50:.1f}",
                f"{p95:.1f}",
                str(len(page.samples)),
                str(len(page.queries)),
                f"{target:.0f}",
                "met" if p95 <= target else "MISSED",
            ]
        )
        results.at_most(f"{name}_p95_ms", p95, target)
    print(table(["page", "p50 ms", "p95 ms", "n", "queries", "target ms", "p95 <= target"], rows))
    constant = True
    print("\nqueries per request within each group of pages (must not grow with the data behind them):")
    for group in dict.fromkeys(p.group for p in pages.values() if p.group):
        counts = {name: len(p.queries) for name, p in pages.items() if p.group == group}
        same = len(set(counts.values())) == 1
        constant &= same
        print(f"  {group}: " + ", ".join(f"{n}={c}" for n, c in counts.items()) + ("" if same else "  <- differs"))
    return constant


def main():
    p = parser(__doc__)
    p.add_argument(
        "--database-url", default=DEFAULT_URL, help=f"PostgreSQL database to fill and read (default {DEFAULT_URL})"
    )
    p.add_argument("--regenerate", action="store_true", help="generate the registry again even if it holds the data")
    args = p.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens, also into a file
    sizes = SMOKE if args.smoke else FULL
    rounds = args.rounds or (3 if args.smoke else 40)
    if args.smoke:
        work = tempfile.mkdtemp(prefix="dc43-bench-registry-")
        url = f"sqlite:///{work}/registry.sqlite3"
    else:
        url = args.database_url
        if url.startswith(("postgres://", "postgresql://")):
            ensure_database(url)
    setup_django(url)
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    settings.DC43_WARM_SPARK = False
    call_command("migrate", verbosity=0)
    print(
        f"registry benchmark on {connection.vendor} ({connection.settings_dict['NAME']}): "
        f"{sizes.runs:,} runs, {sizes.batches:,} micro-batches, {sizes.versions:,} dataset versions"
    )
    reuse, have = (False, {}) if args.regenerate else holds_expected_data(sizes)
    if reuse:
        print("reusing the registry already generated: " + ", ".join(f"{n:,} {k}" for k, n in have.items()))
    else:
        generate(sizes)

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench"))
    pages, facts = pages_to_time(sizes, client)
    print(
        f"run detail: run {facts['big_run'].id} ({facts['big_run'].batches.count():,} batches) "
        f"beside run {facts['small_run'].id} (10 batches); {OUTPUT} has {facts['versions']:,} versions"
    )
    measure(pages, rounds)
    print(
        f"\n{rounds} interleaved rounds after one warm-up run each (a page slower than {TIME_BUDGET_S:.0f} s in all "
        f"stops after {MIN_SAMPLES}, one slower than that on its own runs once);\nmilliseconds per request, "
        "in process through the Django test client with a signed-in user\n"
    )
    results = Results("registry")
    constant = report(pages, results)

    print(
        "\nquery plans"
        + (" (EXPLAIN ANALYZE)" if connection.vendor == "postgresql" else " (EXPLAIN QUERY PLAN)")
        + ", each distinct statement once:"
    )
    by_design, missing = explain(pages)
    print(
        f"\nfull scans of big tables where the question is about most of the table (by design): "
        f"{', '.join(by_design) or 'none'}"
    )
    print(f"full scans of big tables for a narrow question (a missing index): {', '.join(missing) or 'none'}")
    results.at_least("queries_constant", 1.0 if constant else 0.0, 1.0)
    results.at_most("narrow_seq_scans", float(len(missing)), 0.0)
    if args.smoke:
        import shutil

        connection.close()
        shutil.rmtree(work, ignore_errors=True)
    results.print()


if __name__ == "__main__":
    main()
