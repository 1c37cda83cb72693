"""Sending a run's story to OpenLineage, by listening to the event log after each commit.

A run never waits on lineage and never fails because of it: `heard` (called after the commit of
an event) only queues the event's number for one sender thread, which builds the OpenLineage
event from the committed rows (registry.lineage_events) and emits it through the official client.
The HTTP transport retries a few times with backoff; an event it still cannot deliver is logged
and dropped: `export_run RUN_ID --format openlineage` rebuilds every event of a run from the registry.

Lineage is on when OPENLINEAGE_URL (HTTP) or DC43_OPENLINEAGE_FILE (JSON lines) is set. Off, `heard`
returns at its first line and the client is never imported.

Imports no model at module level: registry.models calls `heard`.
"""

import logging
import queue
import threading

from django.conf import settings
from django.db import close_old_connections, connection

logger = logging.getLogger("dc43.lineage")

# Registry events that become OpenLineage events (see registry.lineage_events).
TOLD = frozenset({"started", "claimed", "batch", "complete"})
# Retries of the HTTP transport (urllib3's Retry): ~1.5 s of backoff in all before an event is given up.
RETRY = {
    "total": 3,
    "connect": 3,
    "read": 3,
    "backoff_factor": 0.25,
    "status_forcelist": [429, 500, 502, 503, 504],
    "allowed_methods": ["POST"],
}


def enabled():
    return bool(settings.OPENLINEAGE_URL or settings.DC43_OPENLINEAGE_FILE)


def heard(run_id, seq, kind):
    """An event of a run is committed: queue it for the sender when lineage is on."""
    if kind not in TOLD or not enabled():
        return
    sender.send(run_id, seq)


def make_client():
    """The official client with the transport the settings name (HTTP wins over the file)."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.file import FileConfig, FileTransport
    from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport, TokenProvider

    if settings.OPENLINEAGE_URL:
        auth = ApiKeyTokenProvider({"apiKey": settings.OPENLINEAGE_API_KEY}) if settings.OPENLINEAGE_API_KEY else None
        config = HttpConfig(
            url=settings.OPENLINEAGE_URL,
            endpoint=settings.OPENLINEAGE_ENDPOINT,
            timeout=5.0,
            auth=auth or TokenProvider({}),
            retry=RETRY,
        )
        return OpenLineageClient(transport=HttpTransport(config))
    return OpenLineageClient(
        transport=FileTransport(FileConfig(log_file_path=settings.DC43_OPENLINEAGE_FILE, append=True))
    )


class Sender:
    """One daemon thread that builds and emits the queued events of every run of the process, in order.

    The queue is bounded: a full queue drops the event (logged) rather than make a commit hook wait.
    """

    def __init__(self, size=10000):
        self.queue = queue.Queue(maxsize=size)
        self.thread = None
        self.lock = threading.Lock()
        self.client, self.client_for = None, None
        self.idle = threading.Event()
        self.idle.set()

    def send(self, run_id, seq):
        self.start()
        self.idle.clear()
        try:
            self.queue.put_nowait((run_id, seq))
        except queue.Full:
            logger.warning("lineage queue full: event %s of run %s is not sent", seq, run_id)

    def start(self):
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.run, name="dc43-lineage", daemon=True)
                self.thread.start()

    def wait_idle(self, timeout=10):
        """Until every queued event was handled (tests and `manage.py` commands that end soon after a run)."""
        return self.idle.wait(timeout)

    def run(self):
        while True:
            run_id, seq = self.queue.get()
            try:
                close_old_connections()
                self.emit(run_id, seq)
            except Exception as exc:
                logger.warning("lineage: event %s of run %s was not sent: %s", seq, run_id, exc)
            finally:
                if self.queue.empty():
                    # Events come a few a second at most: hold no connection between bursts.
                    connection.close()
                    self.idle.set()

    def emit(self, run_id, seq):
        from registry.lineage_events import lineage_event
        from registry.models import RunEvent

        event = RunEvent.objects.filter(run_id=run_id, seq=seq).first()
        told = lineage_event(event) if event is not None else None
        if told is not None:
            self.current_client().emit(told)

    def current_client(self):
        # Rebuilt when the settings change (the tests point it at one receiver after another).
        wanted = (settings.OPENLINEAGE_URL, settings.OPENLINEAGE_ENDPOINT, settings.DC43_OPENLINEAGE_FILE)
        if self.client is None or self.client_for != wanted:
            self.client, self.client_for = make_client(), wanted
        return self.client


sender = Sender()
