"""One SparkSession per process: lazy, shared across threads, configured from settings, warmed off the request path."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pipelines.spark import spark_conf

ROOT = Path(__file__).resolve().parent.parent


def test_importing_the_pipelines_starts_no_jvm():
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'dc43site.settings'); django.setup();"
        "import pipelines.spark, pipelines.streaming, pipelines.runner, pipelines.scenarios, pipelines.checks;"
        "from pyspark import SparkContext; assert SparkContext._active_spark_context is None; print('no jvm')"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "no jvm"


def test_the_spark_ui_is_off_unless_a_port_is_set_and_extra_conf_applies(settings):
    settings.DC43_SPARK_UI_PORT = 0
    settings.DC43_SPARK_CONF = {"spark.sql.shuffle.partitions": "7"}
    conf = spark_conf()
    assert conf["spark.ui.enabled"] == "false" and "spark.ui.port" not in conf
    assert conf["spark.sql.shuffle.partitions"] == "7"
    settings.DC43_SPARK_UI_PORT = 4050
    assert (spark_conf()["spark.ui.enabled"], spark_conf()["spark.ui.port"]) == ("true", "4050")


@pytest.mark.spark
def test_threads_share_one_session(spark):
    from pipelines.spark import get_spark

    seen = []
    threads = [threading.Thread(target=lambda: seen.append(get_spark())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 4 and all(s is spark for s in seen)
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.sparkContext.getConf().get("spark.ui.enabled") == "false"


@pytest.mark.spark
def test_the_warm_up_drives_a_stream_through_the_checks_and_leaves_nothing_running(spark):
    from pipelines.spark import warm_streaming

    before = {q.id for q in spark.streams.active}
    warm_streaming(spark)
    assert {q.id for q in spark.streams.active} == before
