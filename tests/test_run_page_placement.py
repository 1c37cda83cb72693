"""Where a run executes, on its page and in the lists: a queued run says it waits for a runner worker (and may be
stopped); a claimed one names its worker, its Spark master and application, and how long it waited; a restart links
the run it resumes, and the stopped run links its restart."""

import pytest

from pipelines.runner import start_run
from registry.models import RestartCause, Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker_mode(settings):
    settings.DC43_RUNNER = "worker"


def test_a_queued_run_page_says_it_waits_for_a_runner_worker_and_offers_stop(worker_mode, client, operator):
    run = start_run("streaming-valid")
    client.force_login(operator)
    html = client.get(run.get_absolute_url()).content.decode()
    assert "queued — waiting for a runner worker" in html
    assert "status: queued" in html and 'class="stop-form"' in html and 'ws-connect="/ws/runs/' in html
    assert "Run queued" in html


def test_a_claimed_run_names_its_worker_its_spark_application_and_its_queue_wait(worker_mode, client, viewer):
    start_run("streaming-valid")
    run = Run.objects.claim_next()
    Run.objects.filter(pk=run.pk).update(spark_master="spark://10.0.0.5:7077", spark_app_id="app-20261202-0007")
    client.force_login(viewer)
    html = client.get(run.get_absolute_url()).content.decode()
    assert run.owner_label in html and "(a runner worker)" in html
    assert "spark://10.0.0.5:7077" in html and "app-20261202-0007" in html
    assert "Queue wait" in html and "Claimed by a runner worker" in html
    listing = client.get("/runs/").content.decode()
    assert run.owner_label in listing and "waited " in listing


def test_a_restart_and_the_run_it_resumes_link_each_other(worker_mode, client, viewer):
    start_run("orders-landing", mode="until-stopped")
    stopped = Run.objects.claim_next()
    stopped.finish("ok", "stopped by worker shutdown")
    restart = stopped.requeue(RestartCause.SHUTDOWN)
    client.force_login(viewer)
    html = client.get(restart.get_absolute_url()).content.decode()
    assert stopped.get_absolute_url() in html and "its worker shut down" in html
    html = client.get(stopped.get_absolute_url()).content.decode()
    assert "Queued again as a new run" in html and restart.get_absolute_url() in html


def test_the_pipelines_page_shows_a_queued_run_as_queued(worker_mode, client, operator):
    start_run("streaming-valid")
    client.force_login(operator)
    html = client.get("/").content.decode()
    assert "A run is queued, waiting for a runner worker" in html
