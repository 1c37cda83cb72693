"""The one SparkSession of this process: created lazily, thread-safely, from settings."""

import logging
import os
import threading
from pathlib import Path

from django.conf import settings

logger = logging.getLogger("dc43.spark")
_lock = threading.Lock()
LOG4J_CONFIG = Path(__file__).resolve().parent / "log4j2.properties"
_session = None


def spark_conf():
    ui_port = settings.DC43_SPARK_UI_PORT
    conf = {
        "spark.app.name": "dc43-site",
        "spark.ui.enabled": "true" if ui_port else "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.streaming.stopGracefullyOnShutdown": "true",
        # The machines this runs on reach only loopback; keep the driver there in local mode.
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{LOG4J_CONFIG}",
    }
    if ui_port:
        conf["spark.ui.port"] = str(ui_port)
    conf.update(settings.DC43_SPARK_CONF)
    return conf


def get_spark():
    global _session
    with _lock:
        if _session is None or _session.sparkContext._jsc is None:
            _session = _build()
        return _session


def _build():
    from pyspark.sql import SparkSession

    # Local mode binds to loopback (the only network these machines have), without a warning about it.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.master(settings.DC43_SPARK_MASTER)
    for key, value in spark_conf().items():
        builder = builder.config(key, value)
    logger.info("starting SparkSession on %s", settings.DC43_SPARK_MASTER)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


def is_warm():
    return _session is not None


def warm_in_background():
    """Start the session and run one tiny job, off the request path, so the first Run is fast."""

    def warm():
        try:
            get_spark().range(1).count()
            logger.info("SparkSession is warm")
        except Exception:
            logger.warning("could not warm the SparkSession", exc_info=True)

    threading.Thread(target=warm, name="dc43-spark-warmup", daemon=True).start()


def stop_spark():
    """Stop the session before the process exits, so Spark's listener bus drains while Python still answers."""
    global _session
    with _lock:
        if _session is not None:
            _session.stop()
            _session = None
