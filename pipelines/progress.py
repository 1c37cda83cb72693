"""Spark's own progress figures for each micro-batch, added to the batch's record when Spark reports them.

Spark reports a batch's progress only after its foreachBatch returned, so the batch is
recorded first with the writer's own timings and this listener adds Spark's figures.
"""

import logging
import threading

from django.db import connection
from pyspark.sql.streaming import StreamingQueryListener

from registry.models import MicroBatch

logger = logging.getLogger("dc43.progress")
_lock = threading.Lock()
_listening = set()  # ids of the SparkSessions that have our listener
_runs_by_query = {}


def follow(spark, query, run):
    with _lock:
        _runs_by_query[str(query.id)] = run.id
        if id(spark) not in _listening:
            spark.streams.addListener(ProgressListener())
            _listening.add(id(spark))


def unfollow(query):
    """Progress reported after the run ended is not the run's any more (and its records are final)."""
    with _lock:
        _runs_by_query.pop(str(query.id), None)


class ProgressListener(StreamingQueryListener):
    def onQueryStarted(self, event):
        pass

    def onQueryProgress(self, event):
        progress = event.progress
        run_id = _runs_by_query.get(str(progress.id))
        if run_id is None:
            return
        try:
            batch = MicroBatch.objects.filter(
                run_id=run_id, stream=MicroBatch.Stream.MAIN, batch_id=progress.batchId
            ).first()
            if batch is None:
                return
            batch.progress = {
                **batch.progress,
                "spark": {
                    "input_rows": progress.numInputRows,
                    "input_rows_per_second": _finite(progress.inputRowsPerSecond),
                    "processed_rows_per_second": _finite(progress.processedRowsPerSecond),
                    "duration_ms": dict(progress.durationMs or {}),
                    "timestamp": progress.timestamp,
                },
            }
            batch.save(update_fields=["progress"])
        except Exception:
            logger.warning("could not store progress of batch %s", progress.batchId, exc_info=True)
        finally:
            connection.close()

    def onQueryIdle(self, event):
        pass

    def onQueryTerminated(self, event):
        with _lock:
            _runs_by_query.pop(str(event.id), None)


def _finite(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return round(value, 2) if value == value and value not in (float("inf"), float("-inf")) else None
