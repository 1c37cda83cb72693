"""The Pipeline record: its runs, and at most one active run per pipeline, enforced by the database."""

import pytest
from django.db import IntegrityError, transaction

from pipelines.specs import load_demo_pipelines
from registry.models import Run
from registry.pipelines import Pipeline

pytestmark = pytest.mark.django_db


@pytest.fixture
def landing(demo_contracts):
    load_demo_pipelines(Pipeline)
    return Pipeline.objects.get(key="orders-landing")


def start(pipeline, status="running"):
    return Run.objects.create(pipeline=pipeline, scenario=pipeline.key, requested_seconds=1, status=status)


def test_a_second_running_run_of_a_pipeline_is_refused_by_the_database(landing):
    first = start(landing)
    with pytest.raises(IntegrityError), transaction.atomic():
        start(landing)
    assert list(landing.runs.all()) == [first]


def test_finished_runs_and_runs_of_other_pipelines_do_not_count(landing):
    start(landing, status="ok")
    start(landing, status="interrupted")
    start(landing)
    start(Pipeline.objects.get(key="streaming-valid"))
    # Runs without a pipeline (the scenarios as they run today) are not constrained.
    Run.objects.create(scenario="streaming-valid", requested_seconds=1)
    Run.objects.create(scenario="streaming-valid", requested_seconds=1)
    assert landing.runs.count() == 3


def test_a_pipeline_with_runs_cannot_be_deleted(landing):
    from django.db.models import ProtectedError

    start(landing, status="ok")
    with pytest.raises(ProtectedError):
        landing.delete()


def test_a_relative_source_path_is_relative_to_the_checkout_and_an_absolute_or_remote_one_is_kept(landing, settings):
    assert landing.source_location() == str(settings.BASE_DIR / "var" / "landing" / "orders")
    landing.source_path = "s3a://bucket/orders"
    assert landing.source_location() == "s3a://bucket/orders"
    landing.source_path = "/srv/landing"
    assert landing.source_location() == "/srv/landing"
    assert Pipeline.objects.get(key="streaming-valid").source_location() == ""


def test_a_migrated_database_holds_the_four_demo_pipelines():
    # No fixture: pytest-django runs the transactional tests (which flush) after this one.
    pipelines = {p.key: p for p in Pipeline.objects.all()}
    assert sorted(pipelines) == ["orders-landing", "streaming-dq-rejects", "streaming-schema-break", "streaming-valid"]
    assert pipelines["orders-landing"].output_contract == "shop.orders"
    for pipeline in pipelines.values():
        pipeline.full_clean()
