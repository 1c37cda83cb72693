import json

from django.core.management.base import BaseCommand

from pipelines.recovery import reconcile
from registry.models import Run


class Command(BaseCommand):
    help = (
        "Mark `interrupted` the running runs whose process died or whose heartbeat stopped, and say which; "
        "then reconcile the data root with the registry (orphaned folders to _orphans/, missing files flagged)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the marked runs as a JSON list.")

    def handle(self, *args, **options):
        marked = Run.objects.mark_interrupted_orphans()
        files = reconcile()
        if options["json"]:
            self.stdout.write(json.dumps([{"run": str(run.id), "reason": run.reason} for run in marked]))
            return
        for line in files.lines():
            self.stdout.write(line)
        for run in marked:
            self.stdout.write(f"{run.id} {run.scenario}: interrupted, {run.reason}")
        self.stdout.write(f"{len(marked)} run(s) marked interrupted")
