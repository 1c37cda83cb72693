from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from registry.models import Run
from registry.reports import EXPORTS, export

EXIT_BAD_INPUT = 2


class Command(BaseCommand):
    help = "Write a run as JUnit XML, a JSON report or its OpenLineage events (JSON lines), to stdout or --out."

    def add_arguments(self, parser):
        parser.add_argument("run_id", metavar="RUN_ID")
        parser.add_argument("--format", choices=sorted(EXPORTS), default="json", help="default: json")
        parser.add_argument("--out", help="write to this file instead of stdout")

    def handle(self, run_id, format, out, **options):
        try:
            run = Run.objects.select_related("contract_version__contract", "started_by").filter(pk=run_id).first()
        except ValidationError:
            run = None
        if run is None:
            raise CommandError(f"no run {run_id}", returncode=EXIT_BAD_INPUT)
        text, _, _ = export(run, format)
        if not out:
            self.stdout.write(text, ending="")
            return
        try:
            with open(out, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise CommandError(f"cannot write {out}: {exc.strerror}", returncode=EXIT_BAD_INPUT) from None
        self.stderr.write(f"run {run.id} written to {out} ({format})")
