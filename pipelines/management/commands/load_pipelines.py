from django.core.management.base import BaseCommand, CommandError

from pipelines.specs import SpecInvalid, load_files

EXIT_INVALID = 2


class Command(BaseCommand):
    help = (
        "Create or update pipelines from YAML files (one spec per file, or a list under `pipelines:`). "
        "All or nothing: if any spec is invalid, nothing is saved and the command exits 2 naming the file and field."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")

    def handle(self, *args, **options):
        try:
            results = load_files(options["files"])
        except SpecInvalid as exc:
            raise CommandError(
                "nothing saved:\n" + "\n".join(f"  {problem}" for problem in exc.problems), returncode=EXIT_INVALID
            ) from None
        for key, outcome in results:
            self.stdout.write(f"{outcome}: {key}")
