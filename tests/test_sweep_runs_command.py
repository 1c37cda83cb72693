"""`manage.py sweep_runs` marks the runs whose process died, says which, and leaves the others."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from registry.models import HOSTNAME, Run

pytestmark = pytest.mark.django_db


def running_run(pid, heartbeat_age=0):
    beat = timezone.now() - timedelta(seconds=heartbeat_age)
    return Run.objects.create(
        scenario="streaming-valid", requested_seconds=8, owner_host=HOSTNAME, owner_pid=pid, heartbeat_at=beat
    )


def sweep(*args):
    out = StringIO()
    call_command("sweep_runs", *args, stdout=out)
    return out.getvalue()


def test_it_marks_a_dead_run_interrupted_and_prints_it(dead_pid, live_pid):
    orphan, alive = running_run(dead_pid), running_run(live_pid)
    output = sweep()
    orphan.refresh_from_db()
    alive.refresh_from_db()
    assert (orphan.status, alive.status) == ("interrupted", "running")
    assert f"{orphan.id} streaming-valid: interrupted, its process (pid {dead_pid}" in output
    assert str(alive.id) not in output
    assert output.strip().endswith("1 run(s) marked interrupted")


def test_a_second_sweep_marks_nothing(dead_pid):
    running_run(dead_pid)
    sweep()
    assert sweep().strip() == "0 run(s) marked interrupted"


def test_json_lists_each_marked_run_with_its_reason(settings, live_pid):
    settings.DC43_HEARTBEAT_TIMEOUT = 60
    stale = running_run(live_pid, heartbeat_age=120)
    marked = json.loads(sweep("--json"))
    assert [m["run"] for m in marked] == [str(stale.id)]
    assert marked[0]["reason"].startswith("no heartbeat from")


def test_the_command_exits_zero_when_there_is_nothing_to_sweep():
    assert json.loads(sweep("--json")) == []
