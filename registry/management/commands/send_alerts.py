import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from registry.alerts import Delivery, send_due


class Command(BaseCommand):
    help = (
        "Deliver the alerts outbox: POST each due notification to its destination, retrying with backoff. "
        "With --once, one pass for a cron; without, a pass every DC43_ALERT_SEND_SECONDS until Ctrl-C or SIGTERM."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")
        parser.add_argument(
            "--every", type=float, help="Seconds between passes (default DC43_ALERT_SEND_SECONDS or 5)."
        )

    def handle(self, *args, **options):
        if options["once"]:
            self.send_once()
            return
        stopping = threading.Event()
        # The handler only sets a flag: the pass in flight finishes and records what it sent.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopping.set())
        every = options["every"] or settings.DC43_ALERT_SEND_SECONDS or 5
        while not stopping.is_set():
            close_old_connections()
            self.send_once()
            stopping.wait(every)

    def send_once(self):
        accepted, failed = send_due()
        pending = Delivery.objects.pending().count()
        self.stdout.write(f"{accepted} delivered, {failed} failed, {pending} pending")
