"""`manage.py validate_data`: a static file judged against a contract, like `datacontract test`."""

import datetime
import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from contracts.demo import DEMO_DIR

pytestmark = [pytest.mark.spark, pytest.mark.django_db]

OUTPUT = "demo.streaming.events_processed"
ROOT = Path(__file__).resolve().parent.parent
T = datetime.datetime(2026, 1, 1, 12, 0, 0)


@pytest.fixture(scope="module")
def files(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("validate")
    good = spark.createDataFrame(
        [(T, 1, "valid"), (T, 2, "warning")], "timestamp timestamp, value bigint, quality_flag string"
    )
    bad = spark.createDataFrame(
        [(T, 1, "valid"), (T, -2, "warning"), (T, -3, "warning"), (None, 4, "oops")],
        "timestamp timestamp, value bigint, quality_flag string",
    )
    paths = {
        "good": str(base / "good.parquet"),
        "bad": str(base / "bad.parquet"),
        "json": str(base / "bad.json"),
        "csv": str(base / "bad.csv"),
    }
    good.write.parquet(paths["good"])
    bad.write.parquet(paths["bad"])
    bad.write.json(paths["json"])
    bad.drop("value").write.option("header", "true").csv(paths["csv"])
    return paths


def run(*args):
    out, err = StringIO(), StringIO()
    try:
        call_command("validate_data", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code, err = exc.returncode, StringIO(str(exc))
    return code, out.getvalue(), err.getvalue()


def test_a_clean_file_is_ok_and_exits_zero(files):
    code, out, _ = run(OUTPUT, files["good"], "--json")
    report = json.loads(out)
    assert code == 0
    assert (report["contract"], report["version"], report["rows"], report["verdict"]) == (OUTPUT, "0.1.0", 2, "ok")
    assert report["schema"] == []
    assert {r["rule"]: r["failed"] for r in report["rules"]} == {
        "timestamp.required": 0,
        "value.required": 0,
        "value.mustBeGreaterOrEqualTo": 0,
        "quality_flag.required": 0,
        "quality_flag.enum": 0,
    }


def test_failed_error_rules_block_and_exit_one_with_counts_per_rule(files):
    code, out, err = run(OUTPUT, files["bad"], "--json")
    report = json.loads(out)
    assert code == 1
    assert report["verdict"] == "block"
    failed = {r["rule"]: (r["failed"], r["verdict"], r["skipped"]) for r in report["rules"]}
    assert failed["value.mustBeGreaterOrEqualTo"] == (2, "block", False)
    assert failed["timestamp.required"] == (1, "block", False)
    assert failed["quality_flag.enum"] == (1, "block", False)
    assert failed["value.required"] == (0, "ok", False)
    assert "value.mustBeGreaterOrEqualTo" in err


def test_warning_severity_failures_warn_and_exit_zero(files, tmp_path):
    doc = (
        (DEMO_DIR / f"{OUTPUT}.yaml")
        .read_text()
        .replace(
            "          - mustBeGreaterOrEqualTo: 0\n",
            "          - mustBeGreaterOrEqualTo: 0\n            severity: warning\n",
        )
        .replace("          - rule: enum\n", "          - rule: enum\n            severity: info\n")
    )
    contract = tmp_path / "c.yaml"
    contract.write_text(doc)
    bad_but_timestamped = files["good"]  # all rows valid: verdict ok
    assert run("--contract-file", str(contract), bad_but_timestamped)[0] == 0
    code, out, _ = run("--contract-file", str(contract), files["json"], "--format", "json", "--json")
    report = json.loads(out)
    assert report["schema"] == []  # json timestamps are inferred as timestamps
    # the null timestamp still breaks an error-severity rule: block
    assert (code, report["verdict"]) == (1, "block")
    assert {r["rule"]: r["failed"] for r in report["rules"]}["timestamp.required"] == 1
    assert {r["rule"]: r["verdict"] for r in report["rules"]}["value.mustBeGreaterOrEqualTo"] == "warn"


def test_the_readable_table_names_every_rule(files):
    code, out, _ = run(OUTPUT, files["bad"])
    assert code == 1
    for rule in ("timestamp.required", "value.mustBeGreaterOrEqualTo", "quality_flag.enum"):
        assert rule in out
    assert "verdict: block" in out


def test_csv_with_a_dropped_column_reports_the_schema_difference(files):
    code, out, _ = run(OUTPUT, files["csv"], "--json")
    report = json.loads(out)
    assert code == 1
    assert {(d["column"], d["verdict"]) for d in report["schema"]} >= {("value", "block")}


def test_a_named_version_is_used_and_an_unknown_one_is_bad_input(files):
    assert run(OUTPUT, files["good"], "--version", "0.1.0")[0] == 0
    code, _, err = run(OUTPUT, files["good"], "--version", "9.9.9")
    assert code == 2 and "no version '9.9.9'" in err and "0.1.0" in err


def test_bad_inputs_exit_two_with_the_reason(files, tmp_path):
    code, _, err = run("no.such.contract", files["good"])
    assert code == 2 and "no contract with id 'no.such.contract'" in err

    code, _, err = run(OUTPUT, str(tmp_path / "missing.parquet"))
    assert code == 2 and "cannot read" in err and "missing.parquet" in err

    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v3.1.0\nkind: DataContract\nid: x\nversion: 1.0.0\n")
    code, _, err = run("--contract-file", str(broken), files["good"])
    assert code == 2 and "schema: is required" in err

    code, _, err = run("--contract-file", str(tmp_path / "nowhere.yaml"), files["good"])
    assert code == 2 and "cannot read contract file" in err


def test_the_command_exits_with_its_codes_in_a_real_process(files):
    contract = str(DEMO_DIR / f"{OUTPUT}.yaml")
    proc = subprocess.run(
        [sys.executable, "manage.py", "validate_data", "--contract-file", contract, files["bad"], "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["verdict"] == "block"
    proc = subprocess.run(
        [sys.executable, "manage.py", "validate_data", "--contract-file", "/nonexistent.yaml", files["bad"]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 2 and "cannot read contract file" in proc.stderr


def test_junit_writes_a_case_per_rule_with_the_failures_counted(files, tmp_path):
    from junitparser import Failure, JUnitXml

    out = tmp_path / "report.xml"
    code, _, _ = run(OUTPUT, files["bad"], "--junit", str(out))

    xml = JUnitXml.fromfile(str(out))
    (suite,) = list(xml)
    assert code == 1 and suite.name == files["bad"]
    cases = {case.name: case for case in suite}
    assert set(cases) == {
        f"{rule} @ {files['bad']}"
        for rule in (
            "timestamp.required",
            "value.required",
            "value.mustBeGreaterOrEqualTo",
            "quality_flag.required",
            "quality_flag.enum",
        )
    }
    (failure,) = cases[f"value.mustBeGreaterOrEqualTo @ {files['bad']}"].result
    assert isinstance(failure, Failure) and failure.message.startswith("2 of 4 rows failed")
    assert all(case.classname == OUTPUT for case in suite)
    assert xml.failures == sum(1 for case in suite if case.result)
