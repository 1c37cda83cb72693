import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from registry.models import Run

EXIT_USAGE = 2
BY = "manage.py stop_run"


class Command(BaseCommand):
    help = (
        "Ask a running run to stop cleanly, whichever process runs it: the batch in flight finishes and is "
        "recorded, and the run ends with the verdict of its data. Exit 0 when asked (or already finished), 2 usage."
    )

    def add_arguments(self, parser):
        parser.add_argument("run_id", help="the run's id (its page's URL ends with it)")
        parser.add_argument("--wait", type=float, metavar="SECONDS", help="wait up to SECONDS for the run to end")

    def handle(self, *args, run_id, wait, **options):
        try:
            run = Run.objects.filter(pk=run_id).first()
        except ValidationError:
            run = None
        if run is None:
            raise CommandError(f"no run {run_id}", returncode=EXIT_USAGE)
        if not run.is_active:
            self.stdout.write(f"run {run.id} already ended: {run.status}")
            return
        asked = run.request_stop(BY)
        if asked and not run.is_active:
            self.stdout.write(f"run {run.id}: stopped while queued, before it started")
        elif asked:
            self.stdout.write(f"run {run.id}: stop requested; the batch in flight finishes and is recorded")
        else:
            self.stdout.write(f"run {run.id}: a stop was already requested by {run.stop_requested_by}")
        if wait:
            deadline = time.monotonic() + wait
            while run.is_active and time.monotonic() < deadline:
                time.sleep(0.2)
                run.refresh_from_db(fields=["status", "reason"])
            self.stdout.write(f"run {run.id}: {run.status}" + (f" ({run.reason})" if run.reason else ""))
