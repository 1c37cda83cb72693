"""A pipeline keeps one checkpoint: a new run resumes where the last one stopped, and "reset progress" starts over.

Each run here drains the landing folder (`available-now`) on the session's Spark; the files each run published are
read back and compared with the landing files they came from.
"""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from slices import Landed, landed, not_once, published, versions_in_registry

from pipelines.runner import run_pipeline
from registry.models import DatasetVersion
from registry.pipelines import Pipeline

pytestmark = [pytest.mark.spark, pytest.mark.django_db(transaction=True)]

KEY = "orders-landing"
DATASETS = ("shop.orders", "shop.orders_rejects")


def feed(files, seed):
    call_command("feed_landing", KEY, files=files, rows=20, bad_ratio=0.1, malformed=1, seed=seed, stdout=StringIO())


def drained():
    run = run_pipeline(KEY, mode="available-now", via="python")
    assert run.status in ("ok", "warn"), run.reason
    return run


def published_by(spark, run):
    found = published(spark, versions_in_registry(DATASETS, run=run))
    assert found.missing == [] and found.miscounted == []
    return found


def since(now, before):
    return Landed(now.orders - before.orders, now.malformed - before.malformed)


def test_a_second_run_ingests_only_the_files_that_landed_after_the_first(spark, orders_landing):
    feed(files=2, seed=1)
    first = drained()
    first_landed = landed(orders_landing)
    feed(files=3, seed=2)
    second = drained()
    new = since(landed(orders_landing), first_landed)

    by_first, by_second = published_by(spark, first), published_by(spark, second)
    assert not_once(first_landed.orders, by_first.orders) == {}
    assert not_once(first_landed.malformed, by_first.malformed) == {}
    assert not_once(new.orders, by_second.orders) == {}
    assert not_once(new.malformed, by_second.malformed) == {}
    # The registry's totals add up to the lines that landed, each run to its own.
    assert first.totals()["rows"] == first_landed.lines == 2 * 21
    assert second.totals()["rows"] == new.lines == 3 * 21
    pipeline = Pipeline.objects.get(key=KEY)
    assert first.checkpoint == second.checkpoint == pipeline.checkpoint_location()


def test_a_run_with_nothing_new_to_read_publishes_nothing(spark, orders_landing):
    feed(files=1, seed=3)
    drained()
    versions = DatasetVersion.objects.count()
    again = drained()
    assert again.totals()["rows"] == 0
    assert DatasetVersion.objects.count() == versions


def test_reset_progress_makes_the_next_run_start_from_the_beginning(spark, orders_landing, admin_user):
    feed(files=2, seed=4)
    first = drained()
    pipeline = Pipeline.objects.get(key=KEY)
    archived = first.checkpoint
    pipeline.reset_progress(admin_user)
    pipeline.refresh_from_db()
    assert pipeline.progress_reset_at is not None
    assert pipeline.checkpoint_location() != archived

    again = drained()
    everything = landed(orders_landing)
    by_again = published_by(spark, again)
    assert not_once(everything.orders, by_again.orders) == {}
    assert not_once(everything.malformed, by_again.malformed) == {}
    assert again.checkpoint == pipeline.checkpoint_location()
    # The old checkpoint stays where it was: that folder is the archive.
    assert (Path(archived) / "offsets").is_dir()
