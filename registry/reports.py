"""A run as a report other tools read: a JSON document of stable shape, and JUnit XML.

The JSON report (`run_report`) is the source of the others: JUnit is drawn from it, and so is
`validate_data --junit` from the command's own report of a static file. Its shape is documented
in docs/audit.md and changes only with its `format` version.

In JUnit each micro-batch is a test suite and each rule of it a test case (`classname` = the
output contract, whose id names its dataset; `name` = "rule @ batch N"); a rule that did not pass
is a <failure> with its count and reason; a rule that was not measured is <skipped>. Schema-gate
differences are test cases of a "schema gate" suite.
"""

import json
from xml.etree import ElementTree as ET

from registry.results import rule_results

REPORT_FORMAT = "dc43.run-report/1"


def run_report(run):
    """Everything a CI job or an auditor asks of a finished run, as plain data."""
    contract = run.contract_version
    batches = run.batches.order_by("stream", "batch_id").prefetch_related("dataset_versions__dataset")
    return {
        "format": REPORT_FORMAT,
        "run": {
            "id": str(run.id),
            "pipeline": run.scenario,
            "status": run.status,
            "reason": run.reason,
            "run_type": run.run_type,
            "mode": run.mode,
            "started_at": _time(run.started_at),
            "finished_at": _time(run.finished_at),
            "started_by": run.started_by_label,
        },
        "contract": {
            "id": contract.contract.contract_id,
            "version": contract.version,
            "fingerprint": contract.fingerprint,
        }
        if contract
        else None,
        "totals": run.totals(),
        "schema_gate": {
            "verdict": run.schema_gate.get("verdict"),
            "contract": run.schema_gate.get("contract"),
            "differences": run.schema_gate.get("differences", []),
        }
        if run.schema_gate
        else None,
        "batches": [
            {
                "stream": b.stream,
                "batch_id": b.batch_id,
                "status": b.status,
                "rows": b.row_count,
                "violations": b.violations,
                "rejected": b.rejected_rows,
                "started_at": _time(b.started_at),
                "finished_at": _time(b.finished_at),
                "versions": [
                    {
                        "dataset": v.dataset.name,
                        "version": v.version,
                        "status": v.status,
                        "rows": v.row_count,
                        "path": v.path,
                    }
                    for v in sorted(b.dataset_versions.all(), key=lambda v: v.dataset.name)
                ],
                "rules": [_public(r) for r in rule_results(b)],
            }
            for b in batches
        ],
    }


def _public(result):
    return {
        key: result[key]
        for key in ("rule", "column", "failed", "value", "passed", "verdict", "severity", "skipped", "note")
    }


def _time(moment):
    return moment.isoformat() if moment else None


def report_json(report):
    return json.dumps(report, indent=2, default=str) + "\n"


def run_junit(report):
    """JUnit XML of a run report: a suite per batch, a case per rule."""
    # The output dataset carries its contract's id (the rules are that contract's); a run blocked
    # before it resolved a contract has only its pipeline to name.
    classname = (report["contract"] or {}).get("id") or report["run"]["pipeline"]
    suites = []
    gate = report["schema_gate"]
    if gate and gate["differences"]:
        suites.append(gate_suite(gate["differences"], gate.get("contract") or classname))
    for batch in report["batches"]:
        where = f"batch {batch['batch_id']}" + ("" if batch["stream"] == "main" else f" ({batch['stream']})")
        suites.append(rule_suite(where, classname, batch["rules"], batch["rows"]))
    return junit_xml(f"{report['run']['pipeline']} run {report['run']['id']}", suites)


def rule_suite(where, classname, rules, rows):
    """A test suite: one case per rule result measured at `where` (a batch, or a file)."""
    cases = []
    for r in rules:
        case = {"classname": classname, "name": f"{r['rule']} @ {where}"}
        if r["skipped"]:
            case["skipped"] = r["note"] or "not measured"
        elif not r["passed"]:
            count = f"{r['failed']} of {rows} rows failed" if r["failed"] else f"measured {r['value']}"
            reason = r["note"] or f"{r['rule']}" + (f" on {r['column']}" if r["column"] else "")
            case["failure"] = {
                "message": f"{count}: {reason}",
                "type": r["verdict"],
                "text": f"rule {r['rule']}\ncolumn {r['column'] or '-'}\nfailed rows {r['failed']}\n"
                f"value {r['value']}\nseverity {r['severity']}\nverdict {r['verdict']}\n",
            }
        cases.append(case)
    return {"name": where, "cases": cases}


def gate_suite(differences, classname):
    cases = [
        {
            "classname": classname,
            "name": f"schema {d['column']}",
            "failure": {
                "message": f"{d['problem']} (expected {d.get('expected') or 'any'}, found {d.get('found')})",
                "type": d["verdict"],
                "text": "",
            },
        }
        for d in differences
    ]
    return {"name": "schema gate", "cases": cases}


def junit_xml(name, suites):
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for suite in suites:
        counts = {
            "tests": len(suite["cases"]),
            "failures": sum("failure" in c for c in suite["cases"]),
            "skipped": sum("skipped" in c for c in suite["cases"]),
        }
        element = ET.SubElement(
            root, "testsuite", name=suite["name"], errors="0", **{k: str(v) for k, v in counts.items()}
        )
        for case in suite["cases"]:
            item = ET.SubElement(element, "testcase", classname=case["classname"], name=case["name"])
            if "failure" in case:
                failure = case["failure"]
                ET.SubElement(item, "failure", message=failure["message"], type=failure["type"]).text = failure["text"]
            if "skipped" in case:
                ET.SubElement(item, "skipped", message=case["skipped"])
        for key in totals:
            totals[key] += counts[key]
    root.set("errors", "0")
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def lineage_lines(run):
    """The run's OpenLineage events, one JSON object a line, as the file transport writes them."""
    from openlineage.client.serde import Serde

    from registry.lineage_events import run_lineage

    return "".join(Serde.to_json(event) + "\n" for event in run_lineage(run))


# format -> (the text of a run in it, content type, file suffix)
EXPORTS = {
    "junit": (lambda run: run_junit(run_report(run)), "application/xml", "junit.xml"),
    "json": (lambda run: report_json(run_report(run)), "application/json", "json"),
    "openlineage": (lineage_lines, "application/x-ndjson", "openlineage.jsonl"),
}


def export(run, format):
    """(text, content type, file name) of a run in one of EXPORTS' formats."""
    render, content_type, suffix = EXPORTS[format]
    return render(run), content_type, f"run-{run.id}.{suffix}"
