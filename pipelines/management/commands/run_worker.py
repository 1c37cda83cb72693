"""A runner worker: claims queued runs from the registry and runs each in a thread of its own.

With DC43_RUNNER=worker, pages and commands only queue runs; this command is where they execute,
their Spark driver included. The registry is the queue: a claim is `SELECT ... FOR UPDATE SKIP
LOCKED` on PostgreSQL (see `RunQuerySet.claim_next`), so several workers on several hosts share it
without a broker. On SQLite, which has no row locks, one worker only: a lock file next to the
database refuses a second one.

The loop is small steps (reap, claim, nap) and the signal handler only sets a flag. SIGTERM or
Ctrl-C stops the hosted runs cleanly, as a Stop button would (the batch in flight is recorded),
puts each continuous run back in the queue as a new run that resumes from the pipeline's
checkpoint, and exits 0. A second signal quits at once; the sweeps then mark the runs
`interrupted`, and a continuous one is queued again, once.
"""

import fcntl
import logging
import os
import signal
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections, connection

from registry.models import HOSTNAME, RestartCause, Run, RunMode, RunStatus

logger = logging.getLogger("dc43.worker")
EXIT_USAGE = 2
SHUTDOWN = "worker shutdown"
SQLITE_ONE_WORKER = (
    "SQLite: one runner worker only (it has no row locks to share the queue); a second one is refused. "
    "Use PostgreSQL (DATABASE_URL) for several workers."
)


class Command(BaseCommand):
    help = (
        "Claim queued runs (DC43_RUNNER=worker) and run each in a thread of its own; SIGTERM or Ctrl-C stops "
        "them cleanly, queues continuous runs again, and exits 0."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--max-runs", type=int, help="how many runs this worker hosts at once (default: DC43_MAX_ACTIVE_RUNS)"
        )
        parser.add_argument("--poll", type=float, default=1.0, metavar="SECONDS", help="how often to look for runs")

    def run_from_argv(self, argv):
        # As a process of its own, stop Spark before exiting so its listener bus drains cleanly.
        try:
            super().run_from_argv(argv)
        finally:
            from pipelines.spark import stop_spark

            stop_spark()

    def handle(self, *args, max_runs=None, poll=1.0, **options):
        max_runs = settings.DC43_MAX_ACTIVE_RUNS if max_runs is None else max_runs
        if max_runs < 1 or not poll > 0:
            raise CommandError("--max-runs must be 1 or more and --poll above 0", returncode=EXIT_USAGE)
        lock = self.one_worker_on_sqlite()
        self.hosted = {}
        self.signals = 0
        self.woken = threading.Event()
        previous = {sig: signal.signal(sig, self.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        sweeper = self.start_sweeping()
        try:
            self.say(f"runner worker pid {os.getpid()} on {HOSTNAME}: up to {max_runs} run(s), looking every {poll} s")
            if settings.DC43_RUNNER != "worker":
                self.say("note: DC43_RUNNER is inline here; this worker runs only what is queued")
            while not self.signals:
                self.step(max_runs)
                self.woken.wait(poll)
            self.shut_down()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if sweeper is not None:
                sweeper.stop()
            if lock is not None:
                lock.close()
        self.say("runner worker stopped")

    def on_signal(self, signum, frame):
        # Only a flag (and a wake-up): the loop does the stopping.
        self.signals += 1
        self.woken.set()

    def say(self, line):
        self.stdout.write(line)
        self.stdout.flush()

    def one_worker_on_sqlite(self):
        """On SQLite: say that one worker is supported, and hold a lock that refuses a second one."""
        if connection.vendor != "sqlite":
            return None
        self.say(SQLITE_ONE_WORKER)
        path = Path(f"{connection.settings_dict['NAME']}.run_worker.lock")
        handle = open(path, "w")  # noqa: SIM115 - held for the life of the worker
        try:
            # The kernel drops the lock with the process, even after a kill -9: no stale lock to clean up.
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise CommandError(
                f"another runner worker already uses this SQLite database (lock {path}). {SQLITE_ONE_WORKER}",
                returncode=EXIT_USAGE,
            ) from None
        return handle

    def start_sweeping(self):
        """Mark the runs of dead workers now and then every few seconds; a continuous one goes back to the queue."""
        from dc43site.startup import Sweeper, mark_orphaned_runs

        mark_orphaned_runs()
        every = settings.DC43_SWEEP_SECONDS or max(5.0, settings.DC43_HEARTBEAT_TIMEOUT / 4)
        sweeper = Sweeper(every)
        sweeper.start()
        if settings.DC43_WARM_SPARK:
            from pipelines.spark import warm_in_background

            warm_in_background()
        return sweeper

    def step(self, max_runs):
        """Forget the runs that ended, then claim queued runs while there is room."""
        try:
            close_old_connections()
            self.reap()
            while len(self.hosted) < max_runs and not self.signals:
                run = Run.objects.claim_next()
                if run is None:
                    return
                self.host(run)
        except DatabaseError:
            # A database restart must not end the worker: its runs retry on their own, and so does the loop.
            logger.warning("the database is unreachable; trying again", exc_info=True)
            connection.close()

    def host(self, run):
        from pipelines.runner import launch

        self.hosted[run.id] = (run, launch(run))
        waited = run.queue_wait_seconds or 0
        self.say(f"claimed run {run.id} ({run.scenario}, {run.mode}) after {waited:.1f} s in the queue")

    def reap(self):
        for run_id, (run, runner) in list(self.hosted.items()):
            if not runner.is_alive():
                del self.hosted[run_id]
                run.refresh_from_db(fields=["status", "reason"])
                self.say(f"run {run.id} ended {run.status}" + (f": {run.reason}" if run.reason else ""))

    def shut_down(self):
        """Stop every hosted run cleanly, wait for each to end, and queue the continuous ones again."""
        from pipelines.runner import stop_run

        if self.hosted:
            self.say(f"stopping {len(self.hosted)} run(s): the batch in flight of each is recorded first")
        for run, _ in self.hosted.values():
            stop_run(run, SHUTDOWN)
        for run, runner in self.hosted.values():
            while runner.is_alive():
                if self.signals > 1:
                    self.say("a second signal: quitting at once; the sweeps mark the runs interrupted")
                    os._exit(1)
                runner.join(0.2)
            self.requeue_if_continuous(run)
        self.hosted.clear()

    def requeue_if_continuous(self, run):
        run.refresh_from_db()
        stopped_here = run.status in (RunStatus.OK, RunStatus.WARN) and run.stop_requested_by == SHUTDOWN
        if not (stopped_here and run.mode == RunMode.UNTIL_STOPPED and run.pipeline_id):
            self.say(f"run {run.id} ended {run.status}" + (f": {run.reason}" if run.reason else ""))
            return
        restart = run.requeue(RestartCause.SHUTDOWN)
        if restart is None:
            self.say(f"run {run.id} ended {run.status}; {run.scenario} already has another active run")
        else:
            self.say(f"run {run.id} ended {run.status}; queued again as run {restart.id}")
