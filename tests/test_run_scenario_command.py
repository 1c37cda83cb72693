"""`manage.py run_scenario`: one line per micro-batch, a summary or one JSON object, and exit codes."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from processes import interrupt_after_first_rows

from registry.models import Run

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def data_root(settings, tmp_path, demo_contracts):
    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")


def run_command(*args):
    out, err = StringIO(), StringIO()
    code = 0
    try:
        call_command("run_scenario", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        code = exc.code
    except CommandError as exc:
        code, err = exc.returncode, StringIO(str(exc))
    return code, out.getvalue(), err.getvalue()


def test_list_shows_the_three_scenarios():
    code, out, _ = run_command("--list")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == [
        "streaming-valid",
        "streaming-dq-rejects",
        "streaming-schema-break",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give a scenario key"),
        (["streaming-nope"], "unknown scenario 'streaming-nope'"),
        (["streaming-valid", "--seconds", "0"], "from 1 to 3600"),
    ],
)
def test_usage_errors_exit_two_and_record_nothing(args, message):
    code, _, err = run_command(*args)
    assert code == 2 and message in err
    assert not Run.objects.exists()


@pytest.mark.spark
def test_a_valid_run_prints_each_batch_and_one_json_object(spark):
    code, out, err = run_command("streaming-valid", "--seconds", "2", "--json")
    summary = json.loads(out)
    assert code == 0
    assert (summary["scenario"], summary["run_type"], summary["status"]) == ("streaming-valid", "observe", "ok")
    run = Run.objects.get(pk=summary["run"])
    assert run.started_via == "command"
    assert summary["batches"] == run.batches.count() and summary["rows"] == run.totals()["rows"]
    assert len(summary["dataset_versions"]) == run.dataset_versions.count() > 0
    assert all(v["path"] and v["row_count"] > 0 for v in summary["dataset_versions"])
    # progress lines go to stderr in --json mode, one per batch
    assert sum(1 for line in err.splitlines() if line.startswith("batch ")) == summary["batches"]


@pytest.mark.spark
def test_a_reject_run_from_the_command_publishes_output_and_quarantine_that_add_up(spark):
    code, out, _ = run_command("streaming-dq-rejects", "--seconds", "2", "--json")
    summary = json.loads(out)
    assert (code, summary["status"]) == (0, "warn")
    run = Run.objects.get(pk=summary["run"])
    by_dataset = {}
    for version in summary["dataset_versions"]:
        assert spark.read.parquet(version["path"]).count() == version["row_count"]
        by_dataset[version["dataset"]] = by_dataset.get(version["dataset"], 0) + version["row_count"]
    assert by_dataset["demo.streaming.events_rejects"] == summary["rejected"] == run.totals()["rejected"] > 0
    assert sum(by_dataset.values()) == summary["rows"]


@pytest.mark.spark
def test_a_blocked_run_exits_three_and_prints_the_difference(spark):
    code, out, _ = run_command("streaming-schema-break")
    assert code == 3
    assert "schema block: value: required column is missing" in out
    assert out.strip().splitlines()[-2].startswith("blocked: 0 micro-batches")


@pytest.mark.spark
def test_ctrl_c_stops_the_stream_cleanly_and_the_run_ends_with_its_datas_verdict():
    returncode, lines, rest, err = interrupt_after_first_rows("run_scenario", "streaming-valid", "--seconds", "600")
    assert returncode == 0, err[-3000:]
    run_id = lines[0].split()[1].rstrip(":")
    run = Run.objects.get(pk=run_id)
    assert (run.status, run.reason) == ("ok", "stopped by Ctrl-C on the command line")
    assert run.batches.exists()
    printed = [ln for ln in (lines + rest.splitlines()) if ln.startswith("batch ")]
    assert len(printed) == run.batches.count()
    assert run.events.order_by("seq").last().kind == "complete"
