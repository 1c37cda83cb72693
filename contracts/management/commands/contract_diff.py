import json

from django.core.management.base import BaseCommand, CommandError

from contracts.models import ContractVersion


class Command(BaseCommand):
    help = (
        "What changed between two versions of a contract: each change with its path and class "
        "(breaking, non-breaking, info) and the smallest semver bump allowed (docs/contracts.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("contract_id", metavar="ID")
        parser.add_argument("old", metavar="FROM")
        parser.add_argument("new", metavar="TO")
        parser.add_argument("--json", action="store_true", help="print the diff as one JSON document")

    def handle(self, *args, contract_id, old, new, **options):
        try:
            versions = [ContractVersion.objects.resolve(contract_id, v) for v in (old, new)]
        except ContractVersion.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        diff = versions[1].diff_from(versions[0])
        if options["json"]:
            self.stdout.write(json.dumps(diff.as_dict(), indent=2, ensure_ascii=False))
            return
        for change in diff.changes:
            self.stdout.write(f"{change.cls:<12} {change.path}: {change.change}")
        if not diff.changes:
            self.stdout.write("identical")
        self.stdout.write(f"required bump: {diff.required_bump}")
