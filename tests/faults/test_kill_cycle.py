"""kill -9, again and again, at different moments of a continuous run of `orders-landing`; then drain it.

Each cycle feeds more files, starts `manage.py run_pipeline orders-landing --until-stopped` in a process of its
own and SIGKILLs it (the command and its JVM, as a crash of the host would) at one moment: before the first
batch, while a batch is being written, right after a batch was recorded, while a later batch is being written. `--available-now` then drains what is
left. Every order and every malformed line of the landing files must then sit in exactly one published slice,
every slice must hold the rows its record says, and nothing staged, set aside or unrecorded may remain.
"""

import json
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from faultlib import child_env, wait_until
from processes import database_url_of_tests
from slices import landed, not_once, published, stray_folders, versions_in_registry

from registry.models import MicroBatch, Run

pytestmark = [pytest.mark.spark, pytest.mark.process, pytest.mark.django_db(transaction=True)]

KEY = "orders-landing"
DATASETS = ("shop.orders", "shop.orders_rejects")


def feed(files, seed):
    call_command("feed_landing", KEY, files=files, rows=25, bad_ratio=0.1, malformed=1, seed=seed, stdout=StringIO())


def env_for_children(settings):
    return child_env(database_url_of_tests(), settings.DC43_DATA_ROOT, settings.DC43_CHECKPOINT_ROOT)


def the_new_run(known):
    return Run.objects.filter(scenario=KEY).exclude(id__in=known).first()


def staged(data_root):
    """The staged slices (output and rejects) that hold files: a batch is being written into them."""
    found = set()
    for name in DATASETS:
        staging = Path(data_root) / name / "_staging"
        if staging.is_dir():
            found |= {str(v) for v in staging.iterdir() if v.is_dir() and any(v.iterdir())}
    return found


# The moments a cycle kills its run at: each returns a check that says when the moment has come.
def before_the_first_batch(run, data_root):
    # The run is recorded and Spark is still starting: nothing planned, nothing written.
    deadline = time.monotonic() + 1.5
    return lambda: time.monotonic() > deadline


def mid_batch(run, data_root):
    # A staged slice that was not there when the run started: a batch of this run is being written.
    earlier = staged(data_root)
    return lambda: staged(data_root) - earlier


def right_after_a_batch_record(run, data_root):
    return lambda: MicroBatch.objects.filter(run=run, row_count__gt=0).exists()


def mid_batch_after_two_records(run, data_root):
    # Later in a run: Spark has committed the earlier batches to the checkpoint, and the kill hits a later one.
    earlier = staged(data_root)
    return lambda: MicroBatch.objects.filter(run=run, row_count__gt=0).count() >= 2 and staged(data_root) - earlier


MOMENTS = [before_the_first_batch, mid_batch, right_after_a_batch_record, mid_batch_after_two_records]
ROWS = 25 + 1  # per file: orders and one malformed line


def test_every_order_lands_exactly_once_across_kill_9_cycles_and_a_drain(orders_landing, settings, children):
    env = env_for_children(settings)
    known = set()
    for cycle, moment in enumerate(MOMENTS):
        feed(files=3, seed=100 + cycle)
        child = children("run_pipeline", KEY, "--until-stopped", env=env)
        try:
            run = wait_until(lambda: the_new_run(known), 60, 0.02, f"the run of cycle {cycle}")  # noqa: B023
            known.add(run.id)
            has_come = moment(run, settings.DC43_DATA_ROOT)
            wait_until(lambda: has_come() or not child.alive(), 120, 0.01, f"cycle {cycle}: {moment.__name__}")  # noqa: B023
            assert child.alive(), f"cycle {cycle}: the run ended by itself before {moment.__name__}:\n{child.tail()}"
        finally:
            child.kill()

    feed(files=2, seed=999)
    drain = children("run_pipeline", KEY, "--available-now", "--json", env=env)
    assert drain.wait(240) == 0, drain.tail()
    summary = json.loads(drain.output().strip().splitlines()[-1])
    assert summary["pipeline"] == KEY and summary["status"] in ("ok", "warn"), summary

    # Each killed run was found dead at the next start, not left `running`.
    assert set(Run.objects.filter(id__in=known).values_list("status", flat=True)) == {"interrupted"}

    from pipelines.spark import get_spark  # only now: no second JVM competes with the children's for the 2 cores

    versions = versions_in_registry(DATASETS)
    expected = landed(orders_landing)
    found = published(get_spark(), versions)
    assert found.missing == [] and found.miscounted == []
    assert not_once(expected.orders, found.orders) == {}
    assert not_once(expected.malformed, found.malformed) == {}
    assert found.rows == expected.lines == (len(MOMENTS) * 3 + 2) * ROWS
    assert stray_folders(settings.DC43_DATA_ROOT, DATASETS, versions) == []
