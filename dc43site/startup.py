"""What the site does once when it starts serving (called from dc43site.asgi, never when models load)."""

import logging
import threading

from django.conf import settings

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
    """Mark `interrupted` the runs whose process died while the site was down; returns how many."""
    from registry.models import Run

    try:
        count = Run.objects.mark_interrupted_orphans()
    except Exception:
        # The site must come up even if the registry cannot be read yet (database down, not migrated);
        # listing runs checks again.
        logger.warning("could not check for interrupted runs (is the database up and migrated?)", exc_info=True)
        return 0
    if count:
        logger.info("marked %d orphaned run(s) interrupted", count)
    return count
