from django.core.management.base import CommandError

from pipelines.catalog import SCENARIOS
from pipelines.management.commands.run_pipeline import EXIT_USAGE
from pipelines.management.commands.run_pipeline import Command as RunPipeline


class Command(RunPipeline):
    help = (
        "Run a demo scenario for a window, printing each micro-batch as it is recorded; Ctrl-C stops it cleanly. "
        "Exit 0 ok/warn, 1 failed, 2 usage or refused, 3 blocked."
    )

    def add_arguments(self, parser):
        parser.add_argument("key", nargs="?", help="scenario key (see --list)")
        parser.add_argument(
            "--seconds", type=int, help="how long the stream runs once its first trigger fired (1..3600)"
        )
        self.add_common_arguments(parser)
        parser.add_argument("--list", dest="list_only", action="store_true", help="list the scenarios and exit")

    def handle(self, *args, key, seconds, run_type, as_json, list_only, **options):
        if list_only:
            return self.list_scenarios()
        if not key:
            raise CommandError(f"give a scenario key: {', '.join(SCENARIOS)} (or --list)", returncode=EXIT_USAGE)
        if key not in SCENARIOS:
            raise CommandError(
                f"unknown scenario {key!r}; choose one of: {', '.join(SCENARIOS)} (other pipelines: manage.py run_pipeline)",
                returncode=EXIT_USAGE,
            )
        # A scenario always runs for a window: its own by default.
        seconds = SCENARIOS[key].default_seconds if seconds is None else seconds
        return self.follow(key, as_json, seconds=seconds, run_type=run_type)

    def list_scenarios(self):
        for s in SCENARIOS.values():
            self.stdout.write(f"{s.key:24} {s.default_seconds:>3} s  {s.default_run_type:8} {s.title}: {s.shows}")
