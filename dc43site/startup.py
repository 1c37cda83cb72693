"""What the site does once when it starts serving (called from dc43site.asgi, never when models load)."""

import logging
import threading

from django.conf import settings
from django.db import close_old_connections, connections

logger = logging.getLogger("dc43.startup")
_started = threading.Event()


def on_site_start():
    if _started.is_set():
        return
    _started.set()
    mark_orphaned_runs()
    if settings.DC43_SWEEP_SECONDS:
        Sweeper(settings.DC43_SWEEP_SECONDS).start()
    # With runner workers, no run executes in a web process: its Spark would only hold memory.
    if settings.DC43_WARM_SPARK and settings.DC43_RUNNER == "inline":
        from pipelines.spark import warm_in_background

        warm_in_background()


def mark_orphaned_runs():
    """Mark `interrupted` the runs whose process died; returns how many."""
    from registry.models import Run

    try:
        marked = Run.objects.mark_interrupted_orphans()
    except Exception:
        # The site must come up even if the registry cannot be read yet (database down, not migrated);
        # the periodic sweep tries again.
        logger.warning("could not check for interrupted runs (is the database up and migrated?)", exc_info=True)
        return 0
    for run in marked:
        logger.info("marked run %s interrupted: %s", run.id, run.reason)
    return len(marked)


class Sweeper(threading.Thread):
    """Marks orphaned runs every `every` seconds while the site serves, so an open page sees a dead
    run turn `interrupted` (through the `complete` event the mark appends) without anyone reloading."""

    def __init__(self, every):
        super().__init__(name="dc43-sweeper", daemon=True)
        self.every = every
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.wait(self.every):
            close_old_connections()  # a connection the database dropped since the last sweep
            mark_orphaned_runs()
        connections.close_all()

    def stop(self):
        self.stopping.set()
        self.join(self.every + 5)
