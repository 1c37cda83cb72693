"""What a run page shows, computed from the registry as of one point of the run's event log.

The page and its live updates render from the same `RunPage`: a browser that holds
the page as of sequence number N holds exactly the items `RunPage` lists for N, so
the consumer knows what to append and what to replace for every later event.
"""

from dataclasses import dataclass, field
from functools import cached_property

from django.utils import timezone

from registry.models import BatchStatus, Run, RunStatus

STAGES = [
    ("setup", "Setup"),
    ("read", "Read"),
    ("gate", "Schema gate"),
    ("streaming", "Streaming"),
    ("complete", "Complete"),
]
TIMELINE_KINDS = {"started", "gate", "milestone", "complete"}
CHART_BATCHES = 60
REJECT_SAMPLE_SIZE = 5
VERDICT_RANK = {"ok": 0, "warn": 1, "block": 2}


def batch_key(stream, batch_id):
    return (stream or "main", int(batch_id))


def event_batch_key(event):
    return batch_key(event.payload.get("stream"), event.payload.get("batch_id", -1))


@dataclass
class Stage:
    key: str
    label: str
    status: str = "pending"
    detail: str = ""

    @property
    def active(self):
        return self.status == "active"


@dataclass
class TimelineEntry:
    seq: int
    kind: str
    status: str
    title: str
    at: object
    detail: str = ""
    differences: list = field(default_factory=list)


class RunPage:
    def __init__(self, run, events, batches, versions):
        self.run = run
        self.seq = run.last_seq
        self.events = events
        order = {}
        for event in events:
            if event.kind == "batch":
                order.setdefault(event_batch_key(event), event.seq)
        # In the order their first event arrived: the order a live page appended them.
        self.batches = sorted(
            (b for b in batches if (b.stream, b.batch_id) in order), key=lambda b: order[(b.stream, b.batch_id)]
        )
        for batch in self.batches:
            rules = (batch.metrics or {}).get("rules") or []
            batch.failing_rules = [r for r in rules if r.get("failed")]
            batch.duration_ms = int((batch.finished_at - batch.started_at).total_seconds() * 1000)
        shown = {b.pk: b for b in self.batches}
        self.versions = [v for v in versions if v.micro_batch_id in shown]
        for version in self.versions:
            version.micro_batch = shown[version.micro_batch_id]

    @classmethod
    def load(cls, run_id):
        """The page as of the run's newest event, in a constant number of queries; None for an unknown run."""
        run = Run.objects.select_related("started_by", "contract_version__contract").filter(pk=run_id).first()
        if run is None:
            return None
        # The run row is read first: rows committed after it belong to later events and wait for them.
        events = list(run.events.filter(seq__lte=run.last_seq).order_by("seq"))
        batches = list(run.batches.all())
        versions = list(
            run.dataset_versions.select_related("dataset", "contract_version__contract").order_by("created_at", "pk")
        )
        return cls(run, events, batches, versions)

    @property
    def finished(self):
        return self.run.status != RunStatus.RUNNING

    def events_after(self, seq):
        return [e for e in self.events if e.seq > seq]

    def batch_for(self, event):
        key = event_batch_key(event)
        return next((b for b in self.batches if (b.stream, b.batch_id) == key), None)

    def versions_of(self, batch):
        return [v for v in self.versions if v.micro_batch_id == batch.pk]

    @cached_property
    def stages(self):
        stages = {key: Stage(key, label) for key, label in STAGES}
        for event in self.events:
            stage = stages.get(event.payload.get("stage")) if event.kind == "stage" else None
            if stage:
                stage.status = event.payload.get("status", "active")
                stage.detail = event.payload.get("detail", "")
        if self.finished and self.completion():
            # Once the run has ended nothing is active any more, whatever the runner last said.
            ended_well = self.run.status in (RunStatus.OK, RunStatus.WARN, RunStatus.BLOCKED)
            if stages["complete"].status in ("pending", "active"):
                stages["complete"].status = "done" if ended_well else "failed"
            for stage in stages.values():
                if stage.status == "pending":
                    stage.status = "skipped"
                elif stage.status == "active":
                    stage.status = {"ok": "done", "warn": "done", "blocked": "blocked"}.get(self.run.status, "failed")
        return list(stages.values())

    @property
    def blocked_at_gate(self):
        return bool(self.gate and self.gate["verdict"] == "block")

    @property
    def duration(self):
        end = self.run.finished_at or timezone.now()
        return human_duration((end - self.run.started_at).total_seconds()) + ("" if self.run.finished_at else " so far")

    def completion(self):
        return next((e for e in reversed(self.events) if e.kind == "complete"), None)

    @cached_property
    def gate(self):
        """The schema gate's verdict once the page has seen it: differences, snapshot, contract.

        A run may pass two gates (input, then output); a blocking one wins, else the last.
        """
        gates = [e.payload for e in self.events if e.kind == "gate"]
        if not gates:
            return None
        chosen = next((g for g in gates if g.get("verdict") == "block"), gates[-1])
        stored = (self.run.schema_gate or {}) if chosen.get("side", "output") == "output" else {}
        return {
            "verdict": chosen.get("verdict") or stored.get("verdict", ""),
            "differences": chosen.get("differences") or stored.get("differences") or [],
            "contract": chosen.get("contract") or stored.get("contract", ""),
            "snapshot": chosen.get("snapshot") or stored.get("snapshot") or [],
            "side": chosen.get("side", "output"),
        }

    @cached_property
    def timeline(self):
        return [timeline_entry(e) for e in self.events if e.kind in TIMELINE_KINDS]

    @cached_property
    def totals(self):
        totals = {"batches": len(self.batches), "rows": 0, "violations": 0, "rejected": 0, "empty": 0}
        for batch in self.batches:
            totals["rows"] += batch.row_count
            totals["violations"] += batch.violations
            totals["rejected"] += batch.rejected_rows
            totals["empty"] += batch.status == BatchStatus.EMPTY
        return totals

    @cached_property
    def rules(self):
        """Failures per rule over the run."""
        rules = {}
        for batch in self.batches:
            for rule in (batch.metrics or {}).get("rules") or []:
                key = (rule.get("rule", ""), rule.get("column") or "")
                entry = rules.setdefault(
                    key,
                    {"rule": key[0], "column": key[1], "failed": 0, "batches_failing": 0, "verdict": "ok",
                     "severity": rule.get("severity", ""), "skipped": 0, "measured": 0, "note": ""},
                )
                failed = rule.get("failed") or 0
                entry["failed"] += failed
                entry["batches_failing"] += bool(failed)
                entry["measured"] += 1
                entry["skipped"] += bool(rule.get("skipped"))
                entry["note"] = rule.get("note") or entry["note"]
                verdict = rule.get("verdict") or "ok"
                if VERDICT_RANK.get(verdict, 0) > VERDICT_RANK.get(entry["verdict"], 0):
                    entry["verdict"] = verdict
        return list(rules.values())

    def output_versions(self):
        return [v for v in self.versions if not self.is_reject_version(v)]

    def reject_versions(self):
        return [v for v in self.versions if self.is_reject_version(v)]

    def is_reject_version(self, version):
        # The run's contract version governs its output; a version under another contract is its rejects.
        cv = self.run.contract_version
        return bool(cv and version.dataset.contract_id and version.dataset.contract_id != cv.contract_id)

    @cached_property
    def quarantine(self):
        """Rows, reasons, a sample and where they went; None when nothing was quarantined."""
        rejects = self.reject_versions()
        rows = sum(b.rejected_rows for b in self.batches)
        if not rows and not rejects:
            return None
        reasons, sample = {}, []
        for batch in self.batches:
            metrics = batch.metrics or {}
            for reason, count in (metrics.get("reasons") or {}).items():
                reasons[reason] = reasons.get(reason, 0) + (count or 0)
            for row in metrics.get("reject_sample") or []:
                if len(sample) < REJECT_SAMPLE_SIZE:
                    sample.append(row)
        columns = []
        for row in sample:
            columns.extend(c for c in row if c not in columns)
        first = next((b.batch_id for b in self.batches if b.rejected_rows), None)
        folders = sorted({v.path.rstrip("/").rsplit("/", 1)[0] for v in rejects if v.path})
        return {
            "rows": rows,
            "first_batch": first,
            "reasons": sorted(reasons.items(), key=lambda item: (-item[1], item[0])),
            "columns": columns,
            "sample": [[format_cell(row.get(c)) for c in columns] for row in sample],
            "datasets": sorted({v.dataset.name for v in rejects}),
            "folders": folders,
            "versions": len(rejects),
        }

    @cached_property
    def chart(self):
        return batch_chart([b for b in self.batches if b.stream == "main"][-CHART_BATCHES:])


def human_duration(seconds):
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    return f"{minutes // 60} h {minutes % 60} min"


def format_cell(value):
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def timeline_entry(event):
    payload = event.payload or {}
    at = event.created_at
    if event.kind == "started":
        bits = [payload.get("run_type"), f"{payload['seconds']} s window" if payload.get("seconds") else None]
        return TimelineEntry(event.seq, "started", "running", "Run started", at, " · ".join(b for b in bits if b))
    if event.kind == "gate":
        verdict = payload.get("verdict", "ok")
        differences = payload.get("differences") or []
        gate = "Input schema gate" if payload.get("side") == "input" else "Schema gate"
        title = gate + {"ok": " passed", "warn": " passed with warnings"}.get(verdict, " blocked the run")
        detail = f"checked against {payload['contract']}" if payload.get("contract") else ""
        return TimelineEntry(event.seq, "gate", verdict, title, at, detail, differences)
    if event.kind == "milestone":
        milestone = payload.get("milestone", "")
        batch_id = payload.get("batch_id")
        text = payload.get("text") or {
            "first_rows": f"First rows written at batch {batch_id}",
            "first_quarantine": f"The reject sink activated at batch {batch_id}",
        }.get(milestone, milestone.replace("_", " "))
        status = "warn" if milestone == "first_quarantine" else "ok"
        return TimelineEntry(event.seq, "milestone", status, text, at)
    status = payload.get("status", "")
    return TimelineEntry(event.seq, "complete", status, f"Run ended {status}", at, payload.get("reason", ""))


def batch_chart(batches, width=600, height=140, pad=24):
    """Bar geometry for rows and failures per batch; the template only draws it."""
    if not batches:
        return None
    top = max(max(b.row_count for b in batches), 1)
    slot = (width - pad) / len(batches)
    bar = min(max(slot * 0.7, 1), 48)
    plot = height - pad
    bars = []
    for i, b in enumerate(batches):
        rows_h = plot * b.row_count / top
        fail_h = plot * min(b.violations, b.row_count) / top
        bars.append({
            "batch_id": b.batch_id, "status": b.status, "rows": b.row_count, "failures": b.violations,
            "x": round(pad + i * slot + (slot - bar) / 2, 1), "w": round(bar, 1), "cx": round(pad + (i + 0.5) * slot, 1),
            "rows_y": round(plot - rows_h, 1), "rows_h": round(rows_h, 1),
            "fail_y": round(plot - fail_h, 1), "fail_h": round(fail_h, 1),
        })
    return {
        "width": width, "height": height, "pad": pad, "plot": plot, "top": top, "bars": bars,
        "first": batches[0].batch_id, "last": batches[-1].batch_id, "label_y": height - 6,
    }
