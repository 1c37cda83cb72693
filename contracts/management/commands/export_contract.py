from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from contracts.models import ContractVersion


class Command(BaseCommand):
    help = (
        "Write a contract version's ODCS document as YAML or JSON, to stdout or a file. Importing the export "
        "(import_contracts) gives the same fingerprint. Without --version: the newest active version, else the newest."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # The spelling is --version V; Django's own --version (its release) gives way to it.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("contract_id", metavar="ID")
        parser.add_argument("--version", dest="contract_version", default=None, help="the version (default: newest)")
        parser.add_argument("--format", dest="fmt", choices=sorted(ContractVersion.EXPORT_FORMATS), default="yaml")
        parser.add_argument("--out", default=None, metavar="FILE", help="write here instead of stdout")

    def handle(self, *args, contract_id, contract_version, fmt, out, **options):
        try:
            cv = ContractVersion.objects.resolve(contract_id, contract_version)
        except ContractVersion.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        text, _, _ = cv.export(fmt)
        if out is None:
            self.stdout.write(text, ending="")
            return
        Path(out).write_text(text, encoding="utf-8")
        self.stderr.write(f"wrote {contract_id} {cv.version} ({fmt}, sha256 {cv.short_fingerprint}) to {out}")
