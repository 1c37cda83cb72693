"""One vocabulary: verdicts, run statuses, run types, event kinds and stages are declared once and refused when unknown."""

import os
import subprocess
import sys

import pytest
from django.template.loader import render_to_string
from simulate import SimulatedRun

from contracts.checks import BatchVerdict, Verdict, worst
from pipelines.catalog import SCENARIOS, check_run_request
from registry.models import BatchStatus, Run, RunStatus, RunType, Stage
from registry.presenters import RunPage


def test_each_verdict_makes_one_run_status_and_block_makes_blocked():
    assert [RunStatus.of_verdict(v) for v in ("ok", "warn", "block")] == ["ok", "warn", "blocked"]
    with pytest.raises(KeyError):
        RunStatus.of_verdict("blocked")


def test_a_batch_status_is_a_verdict_or_empty():
    assert BatchStatus.values == [*Verdict.values, "empty"]
    assert worst(["ok", "block", "warn"]) == BatchStatus.BLOCK


def test_the_run_type_the_registry_stores_is_the_one_the_checks_judge_by():
    assert RunType.values == ["observe", "enforce"]
    assert BatchVerdict(0, 0, "ok", []).run_type == RunType.ENFORCE
    with pytest.raises(ValueError, match="choose one of: observe, enforce"):
        check_run_request("streaming-valid", None, "audit")


@pytest.mark.django_db
def test_the_event_log_refuses_a_kind_it_does_not_know_and_records_nothing():
    run = SimulatedRun().run
    with pytest.raises(ValueError, match="unknown event kind 'stages'"):
        run.log("stages", {"stage": "read"})
    assert not run.events.exists()
    assert Run.objects.get(pk=run.pk).last_seq == 0


@pytest.mark.django_db
def test_a_stage_is_logged_as_an_event_the_page_shows_with_its_label():
    run = SimulatedRun().run
    run.stage(Stage.READ, "done", "source matches the input contract")

    page = RunPage.load(run.pk)
    read = next(s for s in page.stages if s.key == "read")
    assert (read.label, read.status, read.detail) == ("Read", "done", "source matches the input contract")
    assert [s.label for s in page.stages] == ["Setup", "Read", "Schema gate", "Streaming", "Complete"]


@pytest.mark.django_db
@pytest.mark.parametrize(("stage", "status"), [("reading", "done"), ("read", "finished")])
def test_a_stage_or_stage_status_outside_the_vocabulary_is_refused(stage, status):
    run = SimulatedRun().run
    with pytest.raises(ValueError, match="unknown stage"):
        run.stage(stage, status)
    assert not run.events.exists()


@pytest.mark.parametrize(
    ("status", "icon"),
    [
        ("ok", "✓"),
        ("warn", "!"),
        ("block", "■"),
        ("blocked", "■"),
        ("failed", "✕"),
        ("running", "●"),
        ("interrupted", "‖"),
        ("empty", "○"),
        ("draft", "·"),
    ],
)
def test_the_status_badge_keeps_each_status_word_and_gives_block_and_blocked_one_icon(status, icon):
    html = render_to_string("partials/status.html", {"status": status})
    assert html == (
        f'<span class="badge status-{status}" title="status: {status}">'
        f'<span class="icon" aria-hidden="true">{icon}</span> {status}</span>\n'
    )


def test_each_scenario_names_its_transform_and_only_the_quarantine_routes_rejects():
    assert {key: s.transform.rsplit(".", 1)[1] for key, s in SCENARIOS.items()} == {
        "streaming-valid": "healthy",
        "streaming-dq-rejects": "with_bad_rows",
        "streaming-schema-break": "schema_break",
    }
    assert [key for key, s in SCENARIOS.items() if s.routes_rejects] == ["streaming-dq-rejects"]


def test_the_pages_the_runner_and_the_scenarios_module_import_without_pyspark():
    code = (
        "import sys, django; django.setup(); "
        "import pipelines.views, pipelines.runner, pipelines.scenarios, registry.views, contracts.checks; "
        "print(sorted(m for m in sys.modules if m.startswith('pyspark')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "dc43site.settings"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
