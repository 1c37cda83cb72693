"""What start_run refuses before any thread starts: a second active run of a pipeline (the database says so), more
runs than DC43_MAX_ACTIVE_RUNS on the site, and requests the pipeline's row cannot serve; and which mode a run takes."""

import pytest

from pipelines.runner import RunRefused, check_run_request, resolve_transform, start_run, stop_run, wait_for
from registry.models import Run, RunEvent, owner_fields
from registry.pipelines import Pipeline

pytestmark = pytest.mark.django_db


def running(key):
    pipeline = Pipeline.objects.filter(key=key).first()
    return Run.objects.create(pipeline=pipeline, scenario=key, requested_seconds=8, **owner_fields())


def test_a_second_start_of_a_pipeline_with_an_active_run_is_refused_naming_that_run_and_records_nothing():
    active = running("streaming-valid")
    with pytest.raises(
        RunRefused, match=f"pipeline streaming-valid already has an active run: /runs/{active.id}/"
    ) as refusal:
        start_run("streaming-valid")
    assert refusal.value.active_run == active
    assert list(Run.objects.all()) == [active]
    assert not RunEvent.objects.exists()


def test_a_start_beyond_the_sites_limit_of_active_runs_is_refused_saying_why(settings):
    settings.DC43_MAX_ACTIVE_RUNS = 2
    running("orders-landing"), running("streaming-dq-rejects")
    with pytest.raises(RunRefused, match=r"the site already runs 2 runs \(DC43_MAX_ACTIVE_RUNS=2\); stop one or wait"):
        start_run("streaming-valid")
    assert Run.objects.count() == 2 and not RunEvent.objects.exists()


def test_finished_runs_do_not_count_against_the_limit(settings):
    settings.DC43_MAX_ACTIVE_RUNS = 1
    Run.objects.filter(pk=running("streaming-dq-rejects").pk).update(status="ok")
    assert check_run_request("streaming-valid").pipeline.key == "streaming-valid"
    assert Run.objects.active().count() == 0


@pytest.mark.parametrize(
    ("key", "kwargs", "mode", "seconds"),
    [
        ("streaming-valid", {}, "window", 8),
        ("streaming-valid", {"seconds": 30}, "window", 30),
        ("streaming-valid", {"mode": "until-stopped"}, "until-stopped", None),
        ("orders-landing", {}, "until-stopped", None),
        ("orders-landing", {"mode": "available-now"}, "available-now", None),
        ("orders-landing", {"seconds": 5}, "window", 5),
    ],
)
def test_the_mode_follows_the_request_then_the_pipelines_defaults(key, kwargs, mode, seconds):
    request = check_run_request(key, **kwargs)
    assert (request.mode, request.seconds) == (mode, seconds)
    expected_trigger = {"availableNow": True} if mode == "available-now" else request.pipeline.trigger
    assert request.trigger == expected_trigger


def test_a_pipeline_whose_trigger_is_available_now_drains_by_default():
    Pipeline.objects.filter(key="orders-landing").update(trigger={"availableNow": True})
    request = check_run_request("orders-landing")
    assert (request.mode, request.trigger) == ("available-now", {"availableNow": True})
    # A run asked to go on until stopped gets a cadence instead of draining and stopping.
    assert check_run_request("orders-landing", mode="until-stopped").trigger == {"processingTime": "2 seconds"}


@pytest.mark.parametrize(
    ("key", "kwargs", "message"),
    [
        ("nope", {}, "unknown pipeline 'nope'; choose one of: orders-landing, streaming-dq-rejects"),
        ("streaming-valid", {"mode": "forever"}, "unknown mode 'forever'; choose one of: window"),
        ("streaming-valid", {"seconds": 5, "mode": "until-stopped"}, "seconds apply to a window run only"),
        ("streaming-valid", {"mode": "available-now"}, "rate source, which is never drained"),
        ("orders-landing", {"mode": "window"}, "a window run of orders-landing needs seconds"),
    ],
)
def test_requests_the_pipeline_cannot_serve_are_refused_with_the_reason(key, kwargs, message):
    with pytest.raises(ValueError, match=message):
        start_run(key, **kwargs)
    assert not Run.objects.exists()


@pytest.mark.parametrize("dotted", ["os.system", "pipelines.runner.start_run", "pipelines.transforms.nope"])
def test_a_transform_is_imported_only_from_the_allowed_modules(dotted):
    with pytest.raises(ValueError, match="transform: "):
        resolve_transform(dotted)


def test_an_allowed_transform_resolves_to_its_function():
    from pipelines import transforms

    assert resolve_transform("pipelines.transforms.orders") is transforms.orders


@pytest.mark.spark
@pytest.mark.django_db(transaction=True)
def test_on_spark_a_second_pipeline_is_refused_while_the_limit_is_reached_and_starts_once_a_run_stopped(
    spark, settings, tmp_path, demo_contracts
):
    settings.DC43_DATA_ROOT, settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "data"), str(tmp_path / "checkpoints")
    settings.DC43_MAX_ACTIVE_RUNS = 1
    first = start_run("streaming-valid", mode="until-stopped")
    try:
        with pytest.raises(RunRefused, match="DC43_MAX_ACTIVE_RUNS=1"):
            start_run("streaming-dq-rejects", seconds=2)
    finally:
        stop_run(first, "the test")
        assert wait_for(first, 120)
    first.refresh_from_db()
    assert (first.status, first.reason) == ("ok", "stopped by the test")
    second = start_run("streaming-dq-rejects", seconds=2)
    assert wait_for(second, 120)
    second.refresh_from_db()
    assert second.status == "warn"
