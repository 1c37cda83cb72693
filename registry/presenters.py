"""What a run page shows, computed from the registry as of one point of the run's event log.

The page and its live updates render from the same `RunPage`: a browser that holds
the page as of sequence number N holds exactly the items `RunPage` lists for N, so
the consumer knows what to append and what to replace for every later event.
"""

from dataclasses import dataclass, field
from functools import cached_property

from django.conf import settings
from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone

from registry.models import (
    Dataset,
    DatasetVersion,
    EventKind,
    MicroBatch,
    Run,
    RunStatus,
    Stage,
    StageStatus,
    Verdict,
)

TIMELINE_KINDS = {
    EventKind.STARTED,
    EventKind.CLAIMED,
    EventKind.GATE,
    EventKind.MILESTONE,
    EventKind.ANOMALY,
    EventKind.STOP_REQUESTED,
    EventKind.COMPLETE,
    EventKind.REQUEUED,
}
CHART_BATCHES = 60
STOPPING_DETAIL = "the batch in flight finishes and is recorded, then the run ends"
BATCH_WINDOW = (
    CHART_BATCHES  # the newest events whose batches a run page lists (and charts); older ones are a link away
)


def batch_key(stream, batch_id):
    return (stream or "main", int(batch_id))


def event_batch_key(event):
    return batch_key(event.payload.get("stream"), event.payload.get("batch_id", -1))


@dataclass
class StageView:
    key: str
    label: str
    status: str = StageStatus.PENDING
    detail: str = ""

    @property
    def active(self):
        return self.status == StageStatus.ACTIVE


@dataclass
class TimelineEntry:
    seq: int
    kind: str
    status: str
    title: str
    at: object
    detail: str = ""
    differences: list = field(default_factory=list)
    link: str = ""


class RunPage:
    """A run as of its newest event: summaries of the whole run, and a window of its newest batches.

    A run may have 10,000 batches: the page lists those of its newest BATCH_WINDOW events
    (or of the events before `before`, when a reader pages back), and everything that sums
    the run (totals, failures per rule, quarantine) is added up by aggregate queries. So a
    page costs the same queries, and about the same time, for 5 or 10,000 batches. The sums
    are read after the run row: a batch committed in between may already count in them (its
    badge waits for its event); the next update, which replaces them, sets them right.
    """

    def __init__(self, run, events, batches, versions, summary, datasets, before=None):
        self.run = run
        self.seq = run.last_seq
        self.before = before
        self.events = events
        self.summary = summary
        self.datasets = datasets
        self.window_start = max(window_end(run, before) - BATCH_WINDOW, 0)
        order = {}
        for event in events:
            if event.kind == EventKind.BATCH:
                order.setdefault(event_batch_key(event), event.seq)
        # In the order their first event arrived: the order a live page appended them.
        self.batches = sorted(
            (b for b in batches if (b.stream, b.batch_id) in order), key=lambda b: order[(b.stream, b.batch_id)]
        )
        flagged = {}
        for event in events:
            if event.kind == EventKind.ANOMALY:
                flagged.setdefault(event_batch_key(event), []).append(anomaly_label(event.payload))
        for batch in self.batches:
            batch.anomalies = flagged.get((batch.stream, batch.batch_id), [])
            rules = (batch.metrics or {}).get("rules") or []
            batch.failing_rules = [r for r in rules if r.get("failed")]
            batch.slas = [sla_badge(r) for r in rules if r.get("kind") == "sla" and not r.get("skipped")]
            batch.duration_ms = int((batch.finished_at - batch.started_at).total_seconds() * 1000)
        shown = {b.pk: b for b in self.batches}
        self.versions = [v for v in versions if v.micro_batch_id in shown]
        for version in self.versions:
            version.micro_batch = shown[version.micro_batch_id]

    @classmethod
    def load(cls, run_id, before=None):
        """The page as of the run's newest event, in a constant number of queries; None for an unknown run."""
        run = Run.objects.select_related("started_by", "contract_version__contract").filter(pk=run_id).first()
        if run is None:
            return None
        # The run row is read first: rows committed after it belong to later events and wait for them.
        # Every event but the window's batch events is read: stages, gates and milestones are few.
        end = window_end(run, before)
        window = Q(kind=EventKind.BATCH, seq__gt=end - BATCH_WINDOW, seq__lte=end)
        events = list(run.events.filter(~Q(kind=EventKind.BATCH) | window, seq__lte=run.last_seq).order_by("seq"))
        batches = list(run.batches.filter(named_by(events)).order_by())
        versions = list(
            DatasetVersion.objects.filter(micro_batch__in=[b.pk for b in batches])
            .select_related("dataset")
            .order_by("created_at", "pk")
        )
        # Counted by dataset id from the (run, dataset, path) index alone, then named once per dataset:
        # grouping by the joined name would read and join every one of a long run's versions first.
        dataset = Dataset.objects.filter(pk=OuterRef("dataset"))
        datasets = list(
            run.dataset_versions.order_by()
            .values("dataset")
            .annotate(versions=Count("*"), path=Max("path"))
            .annotate(
                dataset__name=Subquery(dataset.values("name")),
                dataset__contract_id=Subquery(dataset.values("contract_id")),
            )
            .order_by("dataset__name")
        )
        summary = MicroBatch.objects.summary(run.pk)
        return cls(run, events, batches, versions, summary, datasets, before)

    @property
    def finished(self):
        return not self.run.is_active

    @property
    def live(self):
        """Whether the page follows the run: an older window of batches stays as it is."""
        return not self.finished and not self.before

    @cached_property
    def older_batches(self):
        """Batch events before the listed window; every seq is one event, and the others are all loaded."""
        others = sum(1 for e in self.events if e.kind != EventKind.BATCH and e.seq <= self.window_start)
        return self.window_start - others

    @property
    def older_link(self):
        return f"?batches_before={self.window_start + 1}" if self.older_batches else ""

    def events_after(self, seq):
        return [e for e in self.events if e.seq > seq]

    def batch_for(self, event):
        key = event_batch_key(event)
        return next((b for b in self.batches if (b.stream, b.batch_id) == key), None)

    def versions_of(self, batch):
        return [v for v in self.versions if v.micro_batch_id == batch.pk]

    @cached_property
    def stages(self):
        stages = {key: StageView(key, label) for key, label in Stage.choices}
        for event in self.events:
            stage = stages.get(event.payload.get("stage")) if event.kind == EventKind.STAGE else None
            if stage:
                stage.status = event.payload.get("status", StageStatus.ACTIVE)
                stage.detail = event.payload.get("detail", "")
        if self.finished and self.completion():
            # Once the run has ended nothing is active any more, whatever the runner last said.
            ended = {
                RunStatus.OK: StageStatus.DONE,
                RunStatus.WARN: StageStatus.DONE,
                RunStatus.BLOCKED: StageStatus.BLOCKED,
            }
            complete = stages[Stage.COMPLETE]
            if complete.status in (StageStatus.PENDING, StageStatus.ACTIVE):
                complete.status = StageStatus.DONE if self.run.status in ended else StageStatus.FAILED
            for stage in stages.values():
                if stage.status == StageStatus.PENDING:
                    stage.status = StageStatus.SKIPPED
                elif stage.status == StageStatus.ACTIVE:
                    stage.status = ended.get(self.run.status, StageStatus.FAILED)
        return list(stages.values())

    @property
    def blocked_at_gate(self):
        return bool(self.gate and self.gate["verdict"] == Verdict.BLOCK)

    @property
    def duration(self):
        if self.run.is_queued:
            return "not started yet"
        end = self.run.finished_at or timezone.now()
        return human_duration((end - self.run.started_at).total_seconds()) + ("" if self.run.finished_at else " so far")

    @property
    def queue_wait(self):
        """How long the run waited for a runner worker, "" when it never queued (an inline run)."""
        wait = self.run.queue_wait
        if wait is None:
            return ""
        return human_duration(max(wait.total_seconds(), 0)) + (" so far" if self.run.is_queued else "")

    def completion(self):
        return next((e for e in reversed(self.events) if e.kind == EventKind.COMPLETE), None)

    @cached_property
    def gate(self):
        """The schema gate's verdict once the page has seen it: differences, snapshot, contract.

        A run may pass two gates (input, then output); a blocking one wins, else the last.
        """
        gates = [e.payload for e in self.events if e.kind == EventKind.GATE]
        if not gates:
            return None
        chosen = next((g for g in gates if g.get("verdict") == Verdict.BLOCK), gates[-1])
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

    @property
    def totals(self):
        return self.summary["totals"]

    @property
    def rules(self):
        """Failures per rule over the run, from its rule results; how the newest batch shown established each."""
        main = [b for b in self.batches if b.stream == "main"]
        newest = max(main, key=lambda b: b.batch_id).metrics.get("rules", []) if main else []
        by = {r.get("rule"): ESTABLISHED_BY.get(r.get("by"), "") for r in newest}
        return [{**rule, "by": by.get(rule["rule"], "")} for rule in self.summary["rules"]]

    def is_reject_dataset(self, contract_id):
        # The run's contract version governs its output; a dataset under another contract holds its rejects.
        cv = self.run.contract_version
        return bool(cv and contract_id and contract_id != cv.contract_id)

    @cached_property
    def published(self):
        """Versions the run published in all, and how many the page lists."""
        return {
            "versions": sum(d["versions"] for d in self.datasets),
            "listed": len(self.versions),
            "datasets": [d["dataset__name"] for d in self.datasets],
        }

    @cached_property
    def quarantine(self):
        """Rows, reasons, a sample and where they went; None when nothing was quarantined."""
        rejects = [d for d in self.datasets if self.is_reject_dataset(d["dataset__contract_id"])]
        rows = self.totals["rejected"]
        if not rows and not rejects:
            return None
        sample = self.summary["reject_sample"][: settings.DC43_REJECT_SAMPLE_SIZE]
        columns = []
        for row in sample:
            columns.extend(c for c in row if c not in columns)
        return {
            "rows": rows,
            "first_batch": self.totals["first_rejected"],
            "reasons": self.summary["reasons"],
            "columns": columns,
            "sample": [[format_cell(row.get(c)) for c in columns] for row in sample],
            "datasets": [d["dataset__name"] for d in rejects],
            "folders": sorted({d["path"].rstrip("/").rsplit("/", 1)[0] for d in rejects if d["path"]}),
            "versions": sum(d["versions"] for d in rejects),
        }

    @cached_property
    def chart(self):
        return batch_chart([b for b in self.batches if b.stream == "main"][-CHART_BATCHES:])


# How the newest batch established a rule's count (`by` in its metrics), as the rule table says it.
ESTABLISHED_BY = {
    "footer": "proven from the footers of the files written",
    "observe": "counted while writing",
    "scan": "counted by one aggregation",
}


def window_end(run, before):
    """The last event of the window of batches a page lists: the newest, or the one before `before`."""
    return min(before - 1, run.last_seq) if before else run.last_seq


def named_by(events):
    """A filter for the batches that batch events name: per stream, the range of their ids (the page keeps those named)."""
    ranges = {}
    for event in events:
        if event.kind == EventKind.BATCH:
            stream, batch_id = event_batch_key(event)
            low, high = ranges.get(stream, (batch_id, batch_id))
            ranges[stream] = (min(low, batch_id), max(high, batch_id))
    named = Q(pk__in=[])
    for stream, (low, high) in ranges.items():
        named |= Q(stream=stream, batch_id__gte=low, batch_id__lte=high)
    return named


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
    if event.kind == EventKind.STARTED:
        span = f"{payload['seconds']} s window" if payload.get("seconds") else payload.get("mode")
        bits = [payload.get("run_type"), span]
        if payload.get("queued"):
            bits.append("waiting for a runner worker")
        if payload.get("restart_of"):
            restart_of = payload["restart_of"]
            bits.append(f"resumes run {restart_of[:8]}, stopped because {payload.get('why', 'its worker ended')}")
            link = reverse("run-detail", args=[restart_of])
            title = "Run queued again"
            return TimelineEntry(event.seq, "started", "queued", title, at, " · ".join(b for b in bits if b), link=link)
        title = "Run queued" if payload.get("queued") else "Run started"
        return TimelineEntry(event.seq, "started", "running", title, at, " · ".join(b for b in bits if b))
    if event.kind == EventKind.CLAIMED:
        where = f"pid {payload.get('pid')} on {payload.get('host')}"
        detail = f"{where}, after {human_duration(payload.get('waited') or 0)} in the queue"
        return TimelineEntry(event.seq, "claimed", "running", "Claimed by a runner worker", at, detail)
    if event.kind == EventKind.REQUEUED:
        new = payload.get("run", "")
        detail = f"{payload.get('why', '')}: run {new[:8]} resumes from the pipeline's checkpoint"
        link = reverse("run-detail", args=[new]) if new else ""
        return TimelineEntry(event.seq, "requeued", "queued", "Queued again as a new run", at, detail, link=link)
    if event.kind == EventKind.GATE:
        verdict = payload.get("verdict", "ok")
        differences = payload.get("differences") or []
        gate = "Input schema gate" if payload.get("side") == "input" else "Schema gate"
        title = gate + {"ok": " passed", "warn": " passed with warnings"}.get(verdict, " blocked the run")
        detail = f"checked against {payload['contract']}" if payload.get("contract") else ""
        return TimelineEntry(event.seq, "gate", verdict, title, at, detail, differences)
    if event.kind == EventKind.MILESTONE:
        milestone = payload.get("milestone", "")
        status = Verdict.WARN if milestone == "first_quarantine" else Verdict.OK
        return TimelineEntry(event.seq, "milestone", status, payload.get("text", ""), at)
    if event.kind == EventKind.ANOMALY:
        status = Verdict.WARN if payload.get("severity") == "error" else "anomaly"
        title = f"Anomaly in batch {payload.get('batch_id')}: {anomaly_label(payload)}"
        return TimelineEntry(event.seq, "anomaly", status, title, at, anomaly_detail(payload))
    if event.kind == EventKind.STOP_REQUESTED:
        by = payload.get("by") or "someone"
        return TimelineEntry(event.seq, "stop", "stopping", f"Stop requested by {by}", at, STOPPING_DETAIL)
    status = payload.get("status", "")
    return TimelineEntry(event.seq, "complete", status, f"Run ended {status}", at, payload.get("reason", ""))


def anomaly_label(payload):
    """What was watched: `rowCount`, `failureRate of value.required`, `nullRate of value`."""
    metric = payload.get("metric", "")
    subject = payload.get("column") if metric == "nullRate" else payload.get("rule")
    return f"{metric} of {subject}" if subject else metric


def anomaly_detail(payload):
    """The value, the band it left and the strategy that drew the band, so a person can see why it fired."""

    def number(value):
        return "—" if value is None else f"{value:.4g}"

    band = f"{number(payload.get('lower'))} .. {number(payload.get('upper'))}"
    return f"value {number(payload.get('value'))} outside {band} ({payload.get('strategy')}, {payload.get('severity')})"


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
        bars.append(
            {
                "batch_id": b.batch_id,
                "status": b.status,
                "rows": b.row_count,
                "failures": b.violations,
                "x": round(pad + i * slot + (slot - bar) / 2, 1),
                "w": round(bar, 1),
                "cx": round(pad + (i + 0.5) * slot, 1),
                "rows_y": round(plot - rows_h, 1),
                "rows_h": round(rows_h, 1),
                "fail_y": round(plot - fail_h, 1),
                "fail_h": round(fail_h, 1),
            }
        )
    return {
        "width": width,
        "height": height,
        "pad": pad,
        "plot": plot,
        "top": top,
        "bars": bars,
        "first": batches[0].batch_id,
        "last": batches[-1].batch_id,
        "label_y": height - 6,
    }


def sla_badge(result):
    """What an SLA measured on a batch, as its badge says it: `latency 0.25 h (≤ 1 h)`, with its verdict."""
    name = str(result.get("rule") or "sla").removeprefix("sla.").split("@")[0]
    unit = result.get("unit") or ""
    return {
        "verdict": result.get("verdict") or "ok",
        "label": f"{name} {result.get('value'):g} {unit}",
        "title": f"SLA {result.get('rule')}: measured {result.get('value')} {unit}, "
        f"at most {result.get('threshold')} {unit} ({result.get('verdict')})",
    }
