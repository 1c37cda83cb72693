import json
import signal
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from contracts.checks import RunType
from pipelines.errors import first_line
from registry.models import EventKind, RunEvent, RunMode, RunStatus

EXIT_CODES = {RunStatus.OK: 0, RunStatus.WARN: 0, RunStatus.FAILED: 1, RunStatus.BLOCKED: 3, RunStatus.INTERRUPTED: 130}
EXIT_USAGE = 2
POLL_SECONDS = 0.2
CTRL_C = "Ctrl-C on the command line"


class Command(BaseCommand):
    help = (
        "Run a pipeline, printing each micro-batch as it is recorded; Ctrl-C stops it cleanly. "
        "Exit 0 ok/warn, 1 failed, 2 usage or refused, 3 blocked."
    )

    def add_arguments(self, parser):
        parser.add_argument("key", help="pipeline key")
        how_long = parser.add_mutually_exclusive_group()
        how_long.add_argument(
            "--seconds", type=int, help="a window: how long the stream runs once its first trigger fired"
        )
        how_long.add_argument(
            "--available-now",
            action="store_const",
            dest="mode",
            const=RunMode.AVAILABLE_NOW,
            help="read what waits, then stop",
        )
        how_long.add_argument(
            "--until-stopped", action="store_const", dest="mode", const=RunMode.UNTIL_STOPPED, help="run until stopped"
        )
        self.add_common_arguments(parser)

    def add_common_arguments(self, parser):
        parser.add_argument("--run-type", choices=RunType.values, help="observe or enforce (default: the pipeline's)")
        parser.add_argument("--json", dest="as_json", action="store_true", help="print one JSON object at the end")

    def run_from_argv(self, argv):
        # As a process of its own, stop Spark before exiting so its listener bus drains cleanly.
        try:
            super().run_from_argv(argv)
        finally:
            from pipelines.spark import stop_spark

            stop_spark()

    def handle(self, *args, key, seconds=None, mode=None, run_type=None, as_json=False, **options):
        self.check_landing_folder(key)
        return self.follow(key, as_json, seconds=seconds, mode=mode, run_type=run_type)

    def check_landing_folder(self, key):
        """A local landing folder that is missing is a usage error, before any run is recorded."""
        from registry.pipelines import Pipeline

        pipeline = Pipeline.objects.filter(key=key).first()
        if pipeline is None or not pipeline.is_file_source:
            return
        location = pipeline.source_location()
        if "://" not in location and not Path(location).is_dir():
            raise CommandError(
                f"the landing folder {location} of {key} does not exist; create it, or feed it files first",
                returncode=EXIT_USAGE,
            )

    def follow(self, key, as_json, **request):
        """Start the run, print its batches until it ends, then its summary; exit with its status's code."""
        from pipelines.runner import RunRefused, is_active, retry_database, start_run, stop_run

        try:
            run = start_run(key, via="command", **request)
        except RunRefused as exc:
            message = str(exc)
            if exc.active_run is not None:
                message += f"\nthe active run: {exc.active_run.get_absolute_url()} (stop it with manage.py stop_run {exc.active_run.id})"
            raise CommandError(message, returncode=EXIT_USAGE) from None
        except ValueError as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from None
        self.progress = self.stderr if as_json else self.stdout
        length = f"{run.requested_seconds} s" if run.mode == RunMode.WINDOW else run.mode
        self.progress.write(f"run {run.id}: {run.scenario} ({run.run_type}, {length})")
        if run.is_queued:
            self.progress.write("queued: waiting for a runner worker (manage.py run_worker)")

        self.signals = 0
        previous = {sig: signal.signal(sig, self.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            last_seq, asked = 0, False
            while True:
                try:
                    if self.signals and not asked:
                        stop_run(run, CTRL_C)
                        asked = True
                        self.progress.write(
                            "stopping: the batch in flight finishes and is recorded (Ctrl-C again quits)"
                        )
                    last_seq = self.print_events(run, last_seq)
                    going = is_active(run)
                except DatabaseError as exc:
                    # A database restart must not end the command while its run goes on (the run retries too).
                    self.progress.write(f"the database is unreachable, trying again: {first_line(exc)}")
                    connection.close()
                    time.sleep(1)
                    going = True
                if not going:
                    break
                time.sleep(POLL_SECONDS)
            retry_database(lambda: self.print_events(run, last_seq))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        retry_database(run.refresh_from_db)
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
        # Only a flag: the loop asks for a clean stop. A second Ctrl-C quits at once (a sweep marks the run later).
        self.signals += 1
        if self.signals > 1:
            raise KeyboardInterrupt

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
            elif event.kind == EventKind.CLAIMED:
                self.progress.write(
                    f"claimed by a runner worker, pid {p['pid']} on {p['host']}, after {p['waited']:.1f} s"
                )
        return after

    def summary(self, run):
        totals = run.totals()
        versions = run.dataset_versions.select_related("dataset").order_by("dataset__name", "version")
        return {
            "run": str(run.id),
            "pipeline": run.scenario,
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
