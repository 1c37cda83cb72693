"""What the site does once when it starts serving."""

import logging
import threading

from django.conf import settings
from django.db import DatabaseError

logger = logging.getLogger("dc43.startup")
_started = threading.Event()


def on_site_start():
    if _started.is_set():
        return
    _started.set()
    mark_orphaned_runs()
    if settings.DC43_WARM_SPARK:
        from pipelines.spark import warm_in_background

        warm_in_background()


def mark_orphaned_runs():
    from registry.models import Run

    try:
        count = Run.objects.mark_interrupted_orphans()
    except DatabaseError:
        logger.warning("could not check for interrupted runs (is the database migrated?)", exc_info=True)
        return
    if count:
        logger.info("marked %d orphaned run(s) interrupted", count)
