from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from contracts import odcs
from contracts.models import ContractVersion

EXIT_INVALID = 2
SUFFIXES = (".yaml", ".yml", ".json")


class Refused(Exception):
    pass


class Command(BaseCommand):
    help = (
        "Import ODCS contract documents from files, or folders searched recursively for *.yaml, *.yml and *.json. "
        "Each version keeps the status its document declares (`status:`, draft when absent). "
        "A document already imported (same fingerprint) is left unchanged; a different document under an existing "
        "version number, or an invalid one, is refused: nothing is saved and the command exits 2. "
        "So is a new version numbered too low for its changes against the previous active version "
        "(docs/contracts.md); --force --reason '...' saves it anyway and records the reason."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument(
            "--force",
            action="store_true",
            help="save new versions past the semver check (the command runs as the operator; each is recorded)",
        )
        parser.add_argument("--reason", default="", help="why the semver check is forced (required with --force)")

    def handle(self, *args, **options):
        force = Force(options["reason"].strip()) if options["force"] else None
        if force is not None and not force.reason:
            raise CommandError("--force needs --reason '...': a forced version is recorded with its reason")
        files, problems = documents_under(options["paths"])
        results = []
        try:
            with transaction.atomic():
                for path in files:
                    try:
                        results.append((path, import_document(path, force=force)))
                    except Refused as exc:
                        problems.append(f"{path}: {exc}")
                if problems:
                    raise Refused()
        except Refused:
            raise CommandError(
                "nothing saved:\n" + "\n".join(f"  {problem}" for problem in problems), returncode=EXIT_INVALID
            ) from None
        for path, (outcome, version) in results:
            self.stdout.write(f"{outcome}: {version.contract.contract_id} {version.version} ({path})")


class Force:
    def __init__(self, reason):
        self.reason = reason


def documents_under(paths):
    """The files to import, in a stable order, and a problem for each path that does not exist."""
    files, problems = [], []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(f"{name}: no such file or folder")
    return files, problems


def import_document(path, force=None):
    """("created", "forced" or "unchanged", version), or Refused with the reason."""
    try:
        text = path.read_text()
        parsed = odcs.parse(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise Refused(f"cannot be read ({exc})") from None
    except odcs.ContractInvalid as exc:
        raise Refused("; ".join(str(p) for p in exc.problems)) from None
    status = parsed.document.get("status") or ContractVersion.Status.DRAFT
    if status not in ContractVersion.Status.values:
        raise Refused(f"status: {status!r} is not one of {', '.join(ContractVersion.Status.values)}")
    existing = ContractVersion.objects.filter(contract__contract_id=parsed.contract_id, version=parsed.version).first()
    if existing is not None:
        if existing.fingerprint == parsed.fingerprint:
            return "unchanged", existing
        raise Refused(
            f"{parsed.contract_id} version {parsed.version} already exists with a different document "
            f"(sha256 {existing.short_fingerprint} vs {parsed.fingerprint[:12]}); give the change a new version number"
        )
    version = ContractVersion.from_text(text, status=status)
    refusal = version.semver_refusal()
    if refusal is not None and force is None:
        raise Refused("\n    ".join(refusal.lines()))
    try:
        version.save()
    except ValidationError as exc:
        raise Refused("; ".join(exc.messages)) from None
    if refusal is not None:
        version.record_forced(refusal, reason=force.reason, via="command")
        return "forced", version
    return "created", version
