"""A crashed JVM is rebuilt: after the Spark JVM of a process is killed, the next run of that process gets a new
session and ends ok. The JVM killed is the one of a child process, never this test session's shared one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from processes import database_url_of_tests

from registry.models import Run

pytestmark = [pytest.mark.spark, pytest.mark.process, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, os, signal, time
import django
django.setup()
from pyspark import SparkContext
from pipelines.runner import run_pipeline
from pipelines.spark import get_spark

first = run_pipeline("streaming-valid", seconds=1)
jvm = SparkContext._gateway.proc.pid
os.kill(jvm, signal.SIGKILL)  # this process's own JVM
os.waitpid(jvm, 0)
second = run_pipeline("streaming-valid", seconds=1)
print(json.dumps({"first": str(first.id), "second": str(second.id), "killed": jvm,
                  "new_jvm": SparkContext._gateway.proc.pid, "jvm_answers": get_spark().range(3).count()}))
"""


def test_a_run_after_the_jvm_was_killed_gets_a_new_session_and_ends_ok(demo_contracts, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": database_url_of_tests(),
        "DC43_WARM_SPARK": "0",
        "DC43_DATA_ROOT": str(tmp_path / "data"),
        "DC43_CHECKPOINT_ROOT": str(tmp_path / "checkpoints"),
    }
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["new_jvm"] != outcome["killed"] and outcome["jvm_answers"] == 3
    first, second = Run.objects.get(pk=outcome["first"]), Run.objects.get(pk=outcome["second"])
    assert (first.status, second.status) == ("ok", "ok"), second.reason
    assert second.batches.filter(row_count__gt=0).exists()
