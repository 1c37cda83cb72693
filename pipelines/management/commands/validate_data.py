import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from contracts import odcs
from contracts.checks import ENFORCE, OBSERVE, Verdict, compile_contract, worst
from contracts.models import ContractVersion
from pipelines.errors import first_line
from registry.reports import gate_suite, junit_xml, rule_suite

FORMATS = ("parquet", "json", "csv")
EXIT_BLOCK, EXIT_BAD_INPUT = 1, 2


class Command(BaseCommand):
    help = (
        "Validate a static file against a data contract, judging like `enforce`: "
        "exit 0 for ok/warn, 1 for block, 2 for bad input."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # The command's interface names the contract version `--version`; Django's own --version gives way.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument(
            "args",
            nargs="+",
            metavar="CONTRACT_ID PATH",
            help="contract id and data path (or only PATH with --contract-file)",
        )
        parser.add_argument("--version", dest="contract_version", help="contract version (default: newest active)")
        parser.add_argument("--contract-file", help="an ODCS YAML/JSON file to use instead of a stored contract")
        parser.add_argument(
            "--format", choices=FORMATS, help="data format (default: from the path's extension, else parquet)"
        )
        parser.add_argument("--object", dest="object_name", help="schema object to check (default: the first)")
        parser.add_argument(
            "--run-type", choices=(ENFORCE, OBSERVE), default=ENFORCE, help="how failures are judged (default: enforce)"
        )
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print one JSON object instead of tables"
        )
        parser.add_argument("--junit", metavar="FILE", help="also write the result as JUnit XML to FILE")

    def handle(self, *args, contract_version, contract_file, format, object_name, run_type, as_json, junit, **options):
        document, path = self.contract_and_path(args, contract_version, contract_file)
        try:
            compiled = compile_contract(document, object_name)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=EXIT_BAD_INPUT) from None
        df = self.read(path, format or guess_format(path))

        from pipelines.checks import measure, schema_gate

        gate = schema_gate(df.schema, compiled)
        batch = measure(df, compiled, run_type)
        verdict = worst([gate["verdict"], batch.verdict])
        report = {
            "contract": compiled.contract_id,
            "version": compiled.version,
            "path": path,
            "rows": batch.row_count,
            "verdict": verdict,
            "schema": gate["differences"],
            "rules": [
                {
                    "rule": r.rule,
                    "column": r.column,
                    "failed": r.failed,
                    "value": r.value,
                    "verdict": r.verdict,
                    "severity": r.severity,
                    "skipped": r.skipped,
                    "note": r.note,
                }
                for r in batch.results
            ],
        }
        if junit:
            self.write_junit(junit, report, [r.as_dict() for r in batch.results])
        if as_json:
            self.stdout.write(_json_dumps(report))
        else:
            self.print_tables(report)
        if verdict == Verdict.BLOCK:
            broken = [r["rule"] for r in report["rules"] if r["verdict"] == Verdict.BLOCK]
            broken += [f"schema:{d['column']}" for d in report["schema"] if d["verdict"] == Verdict.BLOCK]
            raise CommandError(f"verdict block: {', '.join(broken)}", returncode=EXIT_BLOCK)

    def contract_and_path(self, args, version, contract_file):
        if contract_file:
            if len(args) != 1:
                raise CommandError("with --contract-file give only the data PATH", returncode=EXIT_BAD_INPUT)
            try:
                with open(contract_file, encoding="utf-8") as handle:
                    # One byte past the limit is enough for odcs to refuse it; /dev/zero is not read forever.
                    text = handle.read(odcs.MAX_DOCUMENT_BYTES + 1)
            except OSError as exc:
                raise CommandError(
                    f"cannot read contract file {contract_file}: {exc.strerror}", returncode=EXIT_BAD_INPUT
                ) from None
            try:
                return odcs.parse(text).document, args[0]
            except odcs.ContractInvalid as exc:
                raise CommandError(f"invalid contract file {contract_file}: {exc}", returncode=EXIT_BAD_INPUT) from None
        if len(args) != 2:
            raise CommandError(
                "give CONTRACT_ID and PATH (or --contract-file FILE and PATH)", returncode=EXIT_BAD_INPUT
            )
        contract_id, path = args
        try:
            return ContractVersion.objects.resolve(contract_id, version).document, path
        except ContractVersion.DoesNotExist as exc:
            raise CommandError(str(exc), returncode=EXIT_BAD_INPUT) from None

    def read(self, path, format):
        from pipelines.spark import get_spark

        spark = get_spark()
        reader = spark.read
        # Text formats carry no types: infer them, so the gate compares what a reader would get.
        if format == "csv":
            reader = reader.option("header", "true").option("inferSchema", "true")
        if format == "json":
            reader = reader.option("inferTimestamp", "true")
        try:
            df = reader.format(format).load(path)
            df.schema  # noqa: B018  (resolves the files now, so a bad path is bad input, not a crash later)
        except Exception as exc:
            raise CommandError(
                f"cannot read {path} as {format}: {first_line(exc)}", returncode=EXIT_BAD_INPUT
            ) from None
        return df

    def write_junit(self, out, report, results):
        """The form of `export_run --format junit`: one suite for the file, a case per rule."""
        suites = []
        classname = report["contract"]
        if report["schema"]:
            suites.append(gate_suite(report["schema"], classname))
        suites.append(rule_suite(report["path"], classname, results, report["rows"]))
        try:
            with open(out, "w", encoding="utf-8") as handle:
                handle.write(junit_xml(f"validate {report['contract']} {report['version']}", suites))
        except OSError as exc:
            raise CommandError(f"cannot write {out}: {exc.strerror}", returncode=EXIT_BAD_INPUT) from None

    def print_tables(self, report):
        w = self.stdout.write
        w(f"contract {report['contract']} {report['version']} · {report['path']} · {report['rows']} rows")
        if report["schema"]:
            w("\nschema differences")
            w(
                _table(
                    ["column", "expected", "found", "verdict", "problem"],
                    [[d["column"], d["expected"], d["found"], d["verdict"], d["problem"]] for d in report["schema"]],
                )
            )
        else:
            w("\nschema: matches the contract")
        w("\nrules")
        rows = []
        for r in report["rules"]:
            value = "skipped" if r["skipped"] else r["value"]
            rows.append([r["rule"], r["column"] or "", r["failed"], value, r["verdict"], r["severity"], r["note"]])
        w(_table(["rule", "column", "failed", "value", "verdict", "severity", "note"], rows))
        w(f"\nverdict: {report['verdict']}")


def guess_format(path):
    suffix = Path(path).suffix.lower().lstrip(".")
    return {"json": "json", "jsonl": "json", "ndjson": "json", "csv": "csv"}.get(suffix, "parquet")


def _table(headers, rows):
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _json_dumps(report):
    return json.dumps(report, default=str)
