"""A streaming run as the runner records it, without Spark: rows and events through the model verbs.

Consumer and browser tests drive pages with it; it follows docs/architecture.md
(event kinds and payloads, one transaction per batch, `complete` after `finish`).
"""

import threading
import time
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from contracts.models import ContractVersion
from registry.models import Dataset, Run, RunStatus, owner_fields

OUTPUT, REJECTS = "demo.streaming.events_processed", "demo.streaming.events_rejects"
SNAPSHOT = [
    {"name": "timestamp", "type": "timestamp", "nullable": False},
    {"name": "value", "type": "bigint", "nullable": False},
    {"name": "quality_flag", "type": "string", "nullable": False},
]
VALUE_MISSING = {
    "column": "value",
    "expected": "bigint, required",
    "found": "missing",
    "verdict": "block",
    "problem": "required column is missing",
}


def demo_version(contract_id):
    # Transactional tests flush what the migration loaded: they use the `demo_contracts` fixture.
    return ContractVersion.objects.resolve(contract_id, "0.1.0")


class SimulatedRun:
    def __init__(self, scenario="streaming-valid", run_type="observe", seconds=8, user=None, run=None):
        self.output = demo_version(OUTPUT)
        self.rejects = demo_version(REJECTS)
        self.run = run or Run.objects.create(
            scenario=scenario,
            run_type=run_type,
            requested_seconds=seconds,
            started_by=user,
            started_via="user" if user else "python",
            **owner_fields(),
        )
        self.next_batch = 0

    def stage(self, stage, status, detail=""):
        self.run.stage(stage, status, detail)

    def start(self):
        run = self.run
        run.log("started", {"scenario": run.scenario, "run_type": run.run_type, "seconds": run.requested_seconds})
        self.stage("setup", "done")
        self.stage("read", "done", "rate source, 6 rows/s")
        self.stage("gate", "active")
        return self

    def gate(self, differences=()):
        verdict = "block" if any(d["verdict"] == "block" for d in differences) else "warn" if differences else "ok"
        contract = f"{OUTPUT}@0.1.0"
        snapshot = [c for c in SNAPSHOT if not any(d["column"] == c["name"] for d in differences)]
        with transaction.atomic():
            Run.objects.filter(pk=self.run.pk).update(
                contract_version=self.output,
                schema_gate={
                    "verdict": verdict,
                    "differences": list(differences),
                    "snapshot": snapshot,
                    "contract": contract,
                },
            )
            self.run.append_event(
                "gate",
                {
                    "verdict": verdict,
                    "differences": list(differences),
                    "snapshot": snapshot,
                    "contract": contract,
                    "side": "output",
                },
            )
        if verdict == "block":
            self.stage("gate", "blocked", "value: required column is missing")
            self.run.finish(RunStatus.BLOCKED, "schema gate: required column `value` is missing")
        else:
            self.stage("gate", "done")
            self.stage("streaming", "active")
        return self

    def batch(self, rows, failed=0, rejected=0):
        """Record one micro-batch through Run.record_batch, as the runner does; returns the MicroBatch."""
        batch_id = self.next_batch
        self.next_batch += 1
        status = "empty" if rows == 0 else "warn" if failed else "ok"
        now = timezone.now()
        rules = [
            {
                "rule": "value >= 0",
                "column": "value",
                "failed": failed,
                "value": 0,
                "verdict": "warn" if failed else "ok",
                "severity": "error",
                "skipped": False,
                "note": "",
            },
            {
                "rule": "not_null",
                "column": "value",
                "failed": 0,
                "value": None,
                "verdict": "ok",
                "severity": "error",
                "skipped": False,
                "note": "",
            },
        ]
        metrics = {
            "rules": rules,
            "reasons": {"value >= 0": failed} if failed else {},
            "reject_sample": [
                {
                    "timestamp": now.isoformat(),
                    "value": -4 * (batch_id + 1),
                    "quality_flag": "warning",
                    "reject_reasons": ["value >= 0"],
                }
            ]
            if rejected
            else [],
        }
        slices = []
        if rows - rejected > 0:
            slices.append(
                self.slice(
                    batch_id,
                    OUTPUT,
                    self.output,
                    rows - rejected,
                    failed - rejected,
                    "warn" if failed > rejected else "ok",
                )
            )
        if rejected:
            slices.append(self.slice(batch_id, REJECTS, self.rejects, rejected, 0, "ok"))
        micro_batch, _ = self.run.record_batch(
            {
                "batch_id": batch_id,
                "status": status,
                "row_count": rows,
                "violations": failed,
                "rejected_rows": rejected,
                "metrics": metrics,
                "started_at": now - timedelta(milliseconds=120),
                "finished_at": now,
            },
            slices,
        )
        return micro_batch

    def slice(self, batch_id, dataset_name, contract_version, rows, violations, status):
        dataset, _ = Dataset.objects.get_or_create(name=dataset_name, defaults={"contract": contract_version.contract})
        version = self.run.slice_version(batch_id)
        return {
            "dataset": dataset,
            "version": version,
            "status": status,
            "contract_version": contract_version,
            "row_count": rows,
            "violations": violations,
            "path": f"/data/{dataset_name}/{version}/",
        }

    def finish(self):
        self.stage("streaming", "done")
        self.stage("complete", "done")
        self.run.finish()
        return self.run


def play(sim, kind="valid", batches=4, pause=0.0, start=True):
    """Play a scenario: `valid`, `rejects` or `schema-break`; `pause` seconds between steps."""
    if start:
        sim.start()
        time.sleep(pause)
    if kind == "schema-break":
        sim.gate([VALUE_MISSING])
        return sim.run
    sim.gate()
    for i in range(batches):
        time.sleep(pause)
        rows = 0 if i == 0 else 6
        failed = (i % 2) * 2 if kind == "rejects" else 0
        sim.batch(rows, failed=failed, rejected=failed if kind == "rejects" else 0)
    time.sleep(pause)
    return sim.finish()


def play_in_thread(sim, **kwargs):
    """Play from another thread, with its own DB connection, as the runner does."""
    from django.db import connection

    def target():
        try:
            play(sim, **kwargs)
        finally:
            connection.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread
