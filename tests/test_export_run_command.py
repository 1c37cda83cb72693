"""`manage.py export_run`: a run as JUnit, a JSON report or OpenLineage JSON lines."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from junitparser import Failure, JUnitXml

from tests.openlineage_schema import problems
from tests.simulate import SimulatedRun, play


def export(*args):
    out = StringIO()
    call_command("export_run", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_an_unknown_or_malformed_run_id_is_a_usage_error(demo_contracts):
    for run_id in ("2f1b7c1e-0000-4000-8000-000000000000", "not-a-uuid"):
        with pytest.raises(CommandError) as refused:
            export(run_id)
        assert refused.value.returncode == 2 and "no run" in str(refused.value)


@pytest.mark.django_db
def test_json_goes_to_stdout_by_default(demo_contracts):
    run = play(SimulatedRun(), "valid", batches=2)

    report = json.loads(export(str(run.id)))

    assert report["run"]["id"] == str(run.id) and len(report["batches"]) == 2


@pytest.mark.spark
@pytest.mark.django_db(transaction=True)
def test_a_real_run_with_rejects_exports_to_every_format(spark, settings, tmp_path, demo_contracts):
    from pipelines.scenarios import run_streaming_scenario

    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    run = run_streaming_scenario("streaming-dq-rejects", seconds=3)
    assert run.status == "warn"
    files = {f: tmp_path / f"run.{f}" for f in ("junit", "json", "openlineage")}
    for format, path in files.items():
        export(str(run.id), "--format", format, "--out", str(path))

    report = json.loads(files["json"].read_text())
    rejected = [b for b in report["batches"] if b["rejected"]]
    assert rejected and sum(b["rejected"] for b in report["batches"]) == run.totals()["rejected"]

    xml = JUnitXml.fromfile(str(files["junit"]))
    rules = len(report["batches"][0]["rules"])
    assert xml.tests == len(report["batches"]) * rules
    failures = [c for suite in xml for c in suite if any(isinstance(r, Failure) for r in c.result)]
    assert len(failures) >= len(rejected)
    assert all(" rows failed" in c.result[0].message for c in failures)

    events = [json.loads(line) for line in files["openlineage"].read_text().splitlines()]
    assert events[0]["eventType"] == "START" and events[-1]["eventType"] == "COMPLETE"
    assert sum(e["eventType"] == "RUNNING" for e in events) == len(report["batches"])
    for event in events:
        assert problems(event) == []
    rejects_slices = [
        o
        for e in events
        for o in e["outputs"]
        if o["name"].endswith("demo.streaming.events_rejects") and "dataQualityMetrics" in o["facets"]
    ]
    assert sum(o["facets"]["dataQualityMetrics"]["rowCount"] for o in rejects_slices) == run.totals()["rejected"]
