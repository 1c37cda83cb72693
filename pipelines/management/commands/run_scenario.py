import json
import signal
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from contracts.checks import RunType
from pipelines.catalog import SCENARIOS
from registry.models import EventKind, RunEvent, RunStatus

EXIT_CODES = {RunStatus.OK: 0, RunStatus.WARN: 0, RunStatus.FAILED: 1, RunStatus.BLOCKED: 3, RunStatus.INTERRUPTED: 130}
EXIT_USAGE = 2
POLL_SECONDS = 0.2


class Command(BaseCommand):
    help = "Run a streaming scenario, printing each micro-batch as it is recorded. Exit 0 ok/warn, 1 failed, 2 usage, 3 blocked."

    def add_arguments(self, parser):
        parser.add_argument("key", nargs="?", help="scenario key (see --list)")
        parser.add_argument(
            "--seconds", type=int, help="how long the stream runs once its first trigger fired (1..3600)"
        )
        parser.add_argument("--run-type", choices=RunType.values, help="observe or enforce (default: the scenario's)")
        parser.add_argument("--json", dest="as_json", action="store_true", help="print one JSON object at the end")
        parser.add_argument("--list", dest="list_only", action="store_true", help="list the scenarios and exit")

    def run_from_argv(self, argv):
        # As a process of its own, stop Spark before exiting so its listener bus drains cleanly.
        try:
            super().run_from_argv(argv)
        finally:
            from pipelines.spark import stop_spark

            stop_spark()

    def handle(self, *args, key, seconds, run_type, as_json, list_only, **options):
        if list_only:
            return self.list_scenarios()
        if not key:
            raise CommandError(f"give a scenario key: {', '.join(SCENARIOS)} (or --list)", returncode=EXIT_USAGE)
        from pipelines.runner import runner_for, start_run, stop_run

        try:
            run = start_run(key, seconds=seconds, run_type=run_type, via="command")
        except ValueError as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from None
        self.progress = self.stderr if as_json else self.stdout
        self.progress.write(f"run {run.id}: {run.scenario} ({run.run_type}, {run.requested_seconds} s)")

        self.interrupted = False
        previous = {sig: signal.signal(sig, self.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            last_seq = 0
            while True:
                runner = runner_for(run)
                if self.interrupted:
                    stop_run(run, "stopped from the command line (Ctrl-C)")
                last_seq = self.print_events(run, last_seq)
                if runner is None or not runner.is_alive():
                    break
                time.sleep(POLL_SECONDS)
            self.print_events(run, last_seq)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        run.refresh_from_db()
        summary = self.summary(run)
        if as_json:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(
                f"{run.status}: {summary['batches']} micro-batches, {summary['rows']} rows, "
                f"{summary['rejected']} quarantined, {len(summary['dataset_versions'])} dataset versions"
                + (f"\nreason: {run.reason}" if run.reason else "")
            )
        code = EXIT_CODES.get(run.status, 1)
        if code:
            sys.exit(code)

    def on_signal(self, signum, frame):
        # Only a flag: the loop stops the stream cleanly, so the run ends `interrupted` with its batches recorded.
        self.interrupted = True

    def print_events(self, run, after):
        for event in RunEvent.objects.filter(run=run, seq__gt=after).order_by("seq"):
            after = event.seq
            p = event.payload
            if event.kind == EventKind.BATCH:
                self.progress.write(
                    f"batch {p['batch_id']}: {p['rows']} rows, {p['violations']} failing, "
                    f"{p['rejected']} quarantined, {p['status']}"
                )
            elif event.kind == EventKind.GATE and p.get("side") == "output" and p.get("differences"):
                for d in p["differences"]:
                    self.progress.write(f"schema {d['verdict']}: {d['column']}: {d['problem']}")
            elif event.kind == EventKind.MILESTONE:
                self.progress.write(p["text"])
        return after

    def summary(self, run):
        totals = run.totals()
        versions = run.dataset_versions.select_related("dataset").order_by("dataset__name", "version")
        return {
            "run": str(run.id),
            "scenario": run.scenario,
            "run_type": run.run_type,
            "status": run.status,
            "reason": run.reason,
            "batches": totals["batches"],
            "rows": totals["rows"],
            "rejected": totals["rejected"],
            "dataset_versions": [
                {
                    "dataset": v.dataset.name,
                    "version": v.version,
                    "status": v.status,
                    "row_count": v.row_count,
                    "path": v.path,
                }
                for v in versions
            ],
        }

    def list_scenarios(self):
        for s in SCENARIOS.values():
            self.stdout.write(f"{s.key:24} {s.default_seconds:>3} s  {s.default_run_type:8} {s.title}: {s.shows}")
