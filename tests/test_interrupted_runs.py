"""Runs whose process died are marked `interrupted` by a sweep: at start-up, on the serving process's timer, and by
`manage.py sweep_runs`; live ones are left alone, and reading a page never marks anything.

An open page then shows the mark without a reload: see test_consumer.py."""

import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from dc43site import startup
from registry.models import HOSTNAME, Run, RunEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_start(monkeypatch, settings):
    """on_site_start runs once per process; let each test be the first, without warming Spark."""
    settings.DC43_WARM_SPARK = False
    monkeypatch.setattr(startup, "_started", startup.threading.Event())


def running_run(pid, *, heartbeat_age=0, host=HOSTNAME):
    beat = timezone.now() - timedelta(seconds=heartbeat_age)
    return Run.objects.create(
        scenario="streaming-valid", requested_seconds=8, owner_host=host, owner_pid=pid, heartbeat_at=beat
    )


def status_of(run):
    run.refresh_from_db()
    return run.status


def test_a_run_whose_process_died_is_marked_interrupted_at_start_up(fresh_start, dead_pid):
    run = running_run(dead_pid)
    startup.on_site_start()
    run.refresh_from_db()
    assert run.status == "interrupted"
    assert run.reason
    assert run.finished_at is not None


def test_a_run_whose_heartbeat_stopped_is_marked_interrupted(fresh_start, settings, live_pid):
    settings.DC43_HEARTBEAT_TIMEOUT = 60
    run = running_run(live_pid, heartbeat_age=61)
    assert startup.mark_orphaned_runs() == 1
    assert status_of(run) == "interrupted"


def test_a_run_whose_heartbeat_is_recent_enough_is_left_running(fresh_start, settings, live_pid):
    settings.DC43_HEARTBEAT_TIMEOUT = 60
    run = running_run(live_pid, heartbeat_age=50)
    startup.mark_orphaned_runs()
    assert status_of(run) == "running"


def test_the_heartbeat_timeout_comes_from_settings(fresh_start, settings, live_pid):
    settings.DC43_HEARTBEAT_TIMEOUT = 10
    run = running_run(live_pid, heartbeat_age=11)
    startup.mark_orphaned_runs()
    assert status_of(run) == "interrupted"


def test_a_run_owned_by_another_live_process_is_never_touched(fresh_start, live_pid):
    run = running_run(live_pid)
    startup.on_site_start()
    run.refresh_from_db()
    assert run.status == "running"
    assert run.reason == ""
    assert not run.events.exists()


def test_a_run_owned_by_this_process_is_left_running(fresh_start):
    run = running_run(os.getpid())
    startup.mark_orphaned_runs()
    assert status_of(run) == "running"


def test_a_run_on_another_host_is_judged_by_its_heartbeat_only(fresh_start, dead_pid):
    elsewhere = running_run(dead_pid, host="another-host.example")
    startup.mark_orphaned_runs()
    assert status_of(elsewhere) == "running"


def test_finished_runs_are_never_touched(fresh_start, dead_pid):
    run = running_run(dead_pid, heartbeat_age=3600)
    Run.objects.filter(pk=run.pk).update(status="ok", reason="")
    startup.mark_orphaned_runs()
    run.refresh_from_db()
    assert (run.status, run.reason) == ("ok", "")


def test_marking_a_run_appends_a_complete_event(fresh_start, dead_pid):
    run = running_run(dead_pid)
    run.log("started", {"scenario": run.scenario})
    startup.mark_orphaned_runs()
    events = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", "kind", "payload"))
    assert [(seq, kind) for seq, kind, _ in events] == [(1, "started"), (2, "complete")]
    run.refresh_from_db()
    assert events[-1][2] == {"status": "interrupted", "reason": run.reason}


def test_start_up_marks_each_orphan_once(fresh_start, dead_pid):
    run = running_run(dead_pid)
    startup.on_site_start()
    startup.mark_orphaned_runs()
    assert run.events.filter(kind="complete").count() == 1


@pytest.mark.parametrize("page", ["run-list", "run-detail", "scenarios"])
def test_reading_a_page_never_marks_a_dead_run(user_client, dead_pid, page):
    orphan = running_run(dead_pid)
    url = reverse(page, args=[orphan.id]) if page == "run-detail" else reverse(page)
    assert user_client.get(url).status_code == 200
    orphan.refresh_from_db()
    assert (orphan.status, orphan.reason, orphan.events.count()) == ("running", "", 0)


@pytest.mark.django_db(transaction=True)  # the sweep thread has a connection of its own
def test_the_serving_process_sweeps_orphans_on_its_timer(fresh_start, settings, dead_pid, live_pid):
    settings.DC43_SWEEP_SECONDS = 0.2
    orphan, alive = running_run(dead_pid), running_run(live_pid)
    startup.on_site_start()
    sweeper = next(t for t in startup.threading.enumerate() if t.name == "dc43-sweeper")
    try:
        # This run's heartbeat stops after the site started: only the timer can notice.
        Run.objects.filter(pk=alive.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
        deadline = time.monotonic() + 5
        while status_of(alive) == "running" and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        sweeper.stop()
    assert (status_of(orphan), status_of(alive)) == ("interrupted", "interrupted")
    assert "no heartbeat" in alive.reason


def test_the_periodic_sweep_outlives_a_database_error(settings, monkeypatch, caplog):
    from django.db import OperationalError

    sweeps = []

    def unreachable():
        sweeps.append(1)
        raise OperationalError("connection refused")

    monkeypatch.setattr(Run.objects, "mark_interrupted_orphans", unreachable)
    sweeper = startup.Sweeper(0.05)
    sweeper.start()
    try:
        time.sleep(0.5)
        assert sweeper.is_alive()
    finally:
        sweeper.stop()
    assert len(sweeps) >= 3
    assert "could not check for interrupted runs" in caplog.text


def test_no_sweep_thread_starts_when_the_setting_is_zero(fresh_start, settings):
    settings.DC43_SWEEP_SECONDS = 0
    startup.on_site_start()
    assert not [t for t in startup.threading.enumerate() if t.name == "dc43-sweeper" and t.is_alive()]


def test_start_up_warms_spark_only_when_asked(fresh_start, settings, monkeypatch):
    import pipelines.spark

    calls = []
    monkeypatch.setattr(pipelines.spark, "warm_in_background", lambda: calls.append("warm"))
    startup.on_site_start()
    assert calls == []
    settings.DC43_WARM_SPARK = True
    monkeypatch.setattr(startup, "_started", startup.threading.Event())
    startup.on_site_start()
    startup.on_site_start()
    assert calls == ["warm"]


def test_start_up_survives_a_database_that_is_not_there(fresh_start, monkeypatch, caplog):
    from django.db import OperationalError

    def unreachable():
        raise OperationalError("connection refused")

    monkeypatch.setattr(Run.objects, "mark_interrupted_orphans", unreachable)
    startup.on_site_start()
    assert "could not check for interrupted runs" in caplog.text


def test_loading_the_asgi_application_is_what_starts_the_site(fresh_start, monkeypatch, dead_pid):
    # daphne and runserver load dc43site.asgi once when they start serving.
    import importlib

    import dc43site.asgi

    monkeypatch.setattr(startup, "_started", startup.threading.Event())
    run = running_run(dead_pid)
    importlib.reload(dc43site.asgi)
    assert status_of(run) == "interrupted"


def test_loading_the_site_code_touches_neither_the_database_nor_spark():
    # A database nobody listens on: any query at import time would fail loudly.
    env = {**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:9/nowhere", "DC43_WARM_SPARK": "1"}
    code = (
        "import django, sys; django.setup();"
        "import dc43site.urls, dc43site.startup, contracts.admin, registry.admin, registry.views, pipelines.views;"
        "from django.db import connections;"
        "assert connections['default'].connection is None, 'a connection was opened';"
        "assert 'pyspark' not in sys.modules, 'pyspark was imported';"
        "print('clean')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "DJANGO_SETTINGS_MODULE": "dc43site.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"
