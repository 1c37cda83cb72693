"""`manage.py run_pipeline`: each mode on real Spark, the exit codes and --json keys of run_scenario plus `pipeline`,
a refused start exits 2 naming the active run, a missing landing folder exits 2 before anything is recorded, and
Ctrl-C stops the run cleanly."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from processes import interrupt_after_first_rows

from registry.models import Run, RunEvent, owner_fields
from registry.pipelines import Pipeline

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def data_root(settings, tmp_path, demo_contracts):
    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    return tmp_path


@pytest.fixture
def landing(tmp_path):
    """orders-landing, watching a folder of this test (not created yet)."""
    folder = tmp_path / "landing" / "orders"
    Pipeline.objects.filter(key="orders-landing").update(source_path=str(folder))
    return folder


def run_command(name, *args):
    out, err = StringIO(), StringIO()
    code = 0
    try:
        call_command(name, *[str(a) for a in args], stdout=out, stderr=err)
    except SystemExit as exc:
        code = exc.code
    except CommandError as exc:
        code, err = exc.returncode, StringIO(str(exc))
    return code, out.getvalue(), err.getvalue()


def test_an_unknown_pipeline_is_a_usage_error_that_records_nothing():
    code, _, err = run_command("run_pipeline", "nope")
    assert code == 2 and "unknown pipeline 'nope'" in err
    assert not Run.objects.exists()


def test_a_start_refused_for_an_active_run_exits_two_with_that_runs_address_and_records_nothing():
    pipeline = Pipeline.objects.get(key="streaming-valid")
    active = Run.objects.create(pipeline=pipeline, scenario=pipeline.key, requested_seconds=8, **owner_fields())
    code, _, err = run_command("run_pipeline", "streaming-valid", "--seconds", 2)
    assert code == 2
    assert "pipeline streaming-valid already has an active run" in err and f"/runs/{active.id}/" in err
    assert f"manage.py stop_run {active.id}" in err
    assert list(Run.objects.all()) == [active] and not RunEvent.objects.exists()


def test_a_missing_local_landing_folder_exits_two_before_anything_is_recorded(landing):
    code, _, err = run_command("run_pipeline", "orders-landing", "--available-now")
    assert code == 2 and f"the landing folder {landing} of orders-landing does not exist" in err
    assert not Run.objects.exists()


@pytest.mark.spark
def test_a_missing_landing_folder_fails_a_run_started_from_python_before_any_query(spark, landing):
    from pipelines.runner import run_pipeline

    run = run_pipeline("orders-landing", mode="available-now")
    assert run.status == "failed" and f"the landing folder {landing} does not exist" in run.reason
    assert not run.batches.exists()
    assert not [q for q in spark.streams.active if run.id.hex[:8] in (q.name or "")]
    read = run.events.filter(kind="stage", payload__stage="read").last()
    assert read.payload["status"] == "failed"


@pytest.mark.spark
def test_a_window_run_prints_its_batches_and_the_json_of_run_scenario_plus_the_pipeline(spark):
    code, out, err = run_command("run_pipeline", "streaming-valid", "--seconds", 2, "--json")
    summary = json.loads(out)
    assert code == 0
    assert (summary["pipeline"], summary["scenario"], summary["status"]) == ("streaming-valid", "streaming-valid", "ok")
    run = Run.objects.get(pk=summary["run"])
    assert (run.mode, run.requested_seconds, run.started_via, run.pipeline.key) == (
        "window",
        2,
        "command",
        "streaming-valid",
    )
    assert summary["batches"] == run.batches.count() and summary["rows"] == run.totals()["rows"] > 0
    assert sum(1 for line in err.splitlines() if line.startswith("batch ")) == summary["batches"]


@pytest.mark.spark
def test_available_now_reads_the_files_waiting_once_and_the_next_run_resumes_after_them(spark, landing):
    call_command(
        "feed_landing", "orders-landing", "--files", 3, "--rows", 7, "--bad-ratio", 0.3, "--seed", 3, stdout=StringIO()
    )
    code, out, _ = run_command("run_pipeline", "orders-landing", "--available-now", "--json")
    first = json.loads(out)
    assert code == 0 and first["status"] == "warn"
    assert first["rows"] == 21 and first["rejected"] == 3 * round(7 * 0.3)
    by_dataset = {}
    for version in first["dataset_versions"]:
        assert spark.read.parquet(version["path"]).count() == version["row_count"]
        by_dataset[version["dataset"]] = by_dataset.get(version["dataset"], 0) + version["row_count"]
    assert by_dataset == {"shop.orders": 21 - first["rejected"], "shop.orders_rejects": first["rejected"]}
    run = Run.objects.get(pk=first["run"])
    pipeline = Pipeline.objects.get(key="orders-landing")
    assert run.mode == "available-now" and run.checkpoint == pipeline.checkpoint_location()
    assert Path(run.checkpoint, "commits").is_dir()  # a pipeline's checkpoint is kept for the next run

    call_command("feed_landing", "orders-landing", "--files", 1, "--rows", 4, "--seed", 4, stdout=StringIO())
    code, out, _ = run_command("run_pipeline", "orders-landing", "--available-now", "--json")
    second = json.loads(out)
    assert (code, second["status"], second["rows"]) == (0, "ok", 4)


@pytest.mark.spark
@pytest.mark.process
def test_ctrl_c_stops_a_run_until_stopped_cleanly_and_exits_zero():
    returncode, lines, rest, err = interrupt_after_first_rows("run_pipeline", "streaming-valid", "--until-stopped")
    assert returncode == 0, err[-3000:]
    run = Run.objects.get(pk=lines[0].split()[1].rstrip(":"))
    assert (run.status, run.reason, run.mode) == ("ok", "stopped by Ctrl-C on the command line", "until-stopped")
    printed = [ln for ln in (lines + rest.splitlines()) if ln.startswith("batch ")]
    assert len(printed) == run.batches.count() > 0
    assert run.events.order_by("seq").last().kind == "complete"


@pytest.mark.spark
def test_a_run_first_moves_what_a_crashed_publish_left_in_its_datasets_to_the_orphans(spark, data_root):
    left = data_root / "data" / "demo.streaming.events_processed" / "_staging" / "20260101T000000Z-crashed-b00000001"
    left.mkdir(parents=True)
    (left / "part-0.parquet").write_bytes(b"half a file")
    code, out, _ = run_command("run_pipeline", "streaming-valid", "--seconds", 1, "--json")
    assert code == 0 and json.loads(out)["status"] == "ok"
    assert not left.exists()
    moved = list((data_root / "data" / "_orphans").glob("*/demo.streaming.events_processed/**/part-0.parquet"))
    assert len(moved) == 1 and moved[0].read_bytes() == b"half a file"
