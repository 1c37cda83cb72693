"""The one SparkSession of this process: created lazily, thread-safely, from settings."""

import logging
import os
import shutil
import sys
import tempfile
import threading
import time
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
        if _session is not None and not answers(_session):
            logger.warning("the Spark JVM no longer answers; starting a new SparkSession")
            _forget(_session)
            _session = None
        if _session is None:
            _session = _build()
        return _session


def answers(session):
    """Whether the session's JVM is alive: a stopped context has no _jsc, a killed JVM fails the cheapest call."""
    try:
        return session.sparkContext._jsc is not None and session._jvm.java.lang.System.currentTimeMillis() > 0
    except Exception:
        return False


def _forget(session):
    """Drop what PySpark keeps of a dead JVM, so the next builder launches a new one instead of reusing it."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    try:
        session.sparkContext.stop()
    except Exception:
        logger.debug("stopping the dead SparkContext failed", exc_info=True)
    gateway = SparkContext._gateway
    SparkContext._gateway = SparkContext._jvm = None
    SparkContext._active_spark_context = None
    SparkSession._instantiatedSession = SparkSession._activeSession = None
    if gateway is not None:
        try:
            gateway.shutdown()
        except Exception:
            logger.debug("closing the dead py4j gateway failed", exc_info=True)


def _build():
    from pyspark.sql import SparkSession

    # Local mode binds to loopback (the only network these machines have), without a warning about it.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers (if a job ever needs them) run the site's interpreter, not whatever python3 is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(settings.DC43_SPARK_MASTER)
    for key, value in spark_conf().items():
        builder = builder.config(key, value)
    logger.info("starting SparkSession on %s", settings.DC43_SPARK_MASTER)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


def warm_in_background():
    """Start the session off the request path and drive one tiny stream through the governed write's
    code path (rate source, checks, observe, parquet), so the first Run finds all of it loaded."""

    def warm():
        try:
            started = time.monotonic()
            warm_streaming(get_spark())
            logger.info("SparkSession is warm (%.1f s)", time.monotonic() - started)
        except Exception:
            logger.warning("could not warm the SparkSession", exc_info=True)

    threading.Thread(target=warm, name="dc43-spark-warmup", daemon=True).start()


def warm_streaming(spark, batches=2):
    from pyspark.sql import functions as F

    from contracts.checks import OBSERVE, compile_contract
    from contracts.demo import demo_contracts
    from pipelines.checks import BatchChecks

    output = next(p.document for p in demo_contracts() if p.contract_id.endswith("_processed"))
    work = tempfile.mkdtemp(prefix="dc43-warmup-")
    source = (
        spark.readStream.format("rate-micro-batch")  # the source a rate pipeline's run reads (sources.paced_rate)
        .option("rowsPerBatch", 10)
        .option("numPartitions", 1)
        .load()
        .withColumn("quality_flag", F.lit("valid"))
    )
    checks = BatchChecks(compile_contract(output), source.schema, OBSERVE)
    done, seen = threading.Event(), []

    def batch(df, batch_id):
        observed, observation = checks.observe(df, checks.batch_aggregates())
        observed.where(~checks.failing()).write.mode("overwrite").parquet(f"{work}/out-{batch_id}")
        seen.append(observation.get["rows"])
        if len(seen) >= batches and any(seen):
            done.set()

    query = (
        source.writeStream.foreachBatch(batch)
        .option("checkpointLocation", f"{work}/checkpoint")
        .trigger(processingTime="200 milliseconds")
        .start()
    )
    try:
        done.wait(120)
    finally:
        query.stop()
        shutil.rmtree(work, ignore_errors=True)


def stop_spark():
    """Stop the session before the process exits, so Spark's listener bus drains while Python still answers."""
    global _session
    with _lock:
        if _session is not None:
            _session.stop()
            _session = None
