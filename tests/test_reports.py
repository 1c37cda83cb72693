"""Run reports (registry.reports): the JSON shape, and JUnit XML that a JUnit parser reads."""

import pytest
from junitparser import Failure, JUnitXml, Skipped

from registry.reports import REPORT_FORMAT, run_junit, run_report
from tests.simulate import SimulatedRun, play

pytestmark = pytest.mark.django_db


@pytest.fixture
def rejects_run(demo_contracts):
    run = play(SimulatedRun(scenario="streaming-dq-rejects"), "rejects")
    run.refresh_from_db()  # the gate saved the contract version through the manager
    return run


def parsed(report):
    return JUnitXml.fromstring(run_junit(report).encode())


def cases(xml):
    return [case for suite in xml for case in suite]


def test_the_json_report_has_the_run_its_contract_and_every_batch_with_its_rules(rejects_run):
    report = run_report(rejects_run)

    assert report["format"] == REPORT_FORMAT
    assert report["run"]["id"] == str(rejects_run.id) and report["run"]["status"] == "warn"
    assert (
        report["contract"]["id"] == "demo.streaming.events_processed" and len(report["contract"]["fingerprint"]) == 64
    )
    assert report["totals"] == {"rows": 18, "violations": 4, "rejected": 4, "batches": 4}
    assert [b["batch_id"] for b in report["batches"]] == [0, 1, 2, 3]
    batch = report["batches"][1]
    assert [v["dataset"] for v in batch["versions"]] == [
        "demo.streaming.events_processed",
        "demo.streaming.events_rejects",
    ]
    assert batch["rules"][0] | {"passed": False} == batch["rules"][0]
    assert set(batch["rules"][0]) == {
        "rule",
        "column",
        "failed",
        "value",
        "passed",
        "verdict",
        "severity",
        "skipped",
        "note",
    }


def test_junit_has_a_case_per_batch_and_rule_and_failures_carry_count_and_reason(rejects_run):
    xml = parsed(run_report(rejects_run))

    assert [suite.name for suite in xml] == ["batch 0", "batch 1", "batch 2", "batch 3"]
    assert len(cases(xml)) == 4 * 2
    case = next(c for c in cases(xml) if c.name == "value >= 0 @ batch 1")
    assert case.classname == "demo.streaming.events_processed"
    (failure,) = case.result
    assert isinstance(failure, Failure)
    assert failure.message.startswith("2 of 6 rows failed") and failure.type == "warn"
    assert sum(isinstance(r, Failure) for c in cases(xml) for r in c.result) == 2  # batches 1 and 3
    assert xml.failures == 2 and xml.tests == 8


def test_skipped_rules_are_skipped_cases(rejects_run):
    report = run_report(rejects_run)
    report["batches"][2]["rules"].append(
        {
            "rule": "orders.freshness",
            "column": None,
            "failed": 0,
            "value": None,
            "passed": True,
            "verdict": "ok",
            "severity": "error",
            "skipped": True,
            "note": "freshness is not measured on a stream",
        }
    )

    case = next(c for c in cases(parsed(report)) if c.name == "orders.freshness @ batch 2")
    (skipped,) = case.result
    assert isinstance(skipped, Skipped) and skipped.message == "freshness is not measured on a stream"


def test_a_blocked_run_reports_its_schema_differences_as_failures(demo_contracts):
    run = play(SimulatedRun(scenario="streaming-schema-break", run_type="enforce"), "schema-break")
    run.refresh_from_db()

    xml = parsed(run_report(run))

    (suite,) = list(xml)
    assert suite.name == "schema gate"
    (case,) = list(suite)
    assert case.name == "schema value" and "required column is missing" in case.result[0].message
