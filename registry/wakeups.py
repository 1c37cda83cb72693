"""Waking the live pages that watch a run, after each commit of its event log.

A wake-up only says "event N is committed": pages read the events themselves from the log
(registry.live), and also read it on a timer (DC43_LIVE_POLL_SECONDS), so a lost wake-up
delays a page, never loses it an event. That is why a wake-up may be dropped rather than
make the batch-writing thread wait: `notify` never blocks.

Imports neither the models nor the consumer: both import this module.
"""

import asyncio
import logging
import queue
import threading

from channels.layers import InMemoryChannelLayer, get_channel_layer

logger = logging.getLogger("dc43.registry")


def run_group(run_id):
    return f"run-{run_id}"


def notify(run_id, seq):
    """Wake the pages watching a run, from any thread, without waiting on the channel layer."""
    layer = get_channel_layer()
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        # Its queues belong to the pages' event loop and are not thread-safe: a group_send from this
        # (runner) thread would not wake them. Pages of this process are woken directly instead;
        # pages of other processes read the log on their timer.
        wake_watchers(run_id, seq)
        return
    sender.send(layer, run_group(run_id), seq)


class Sender:
    """One thread that sends the wake-ups queued by every run of the process, each with a short timeout.

    The queue is bounded and a full queue drops the wake-up: with Redis down or slow, a batch's commit
    hook must return at once (it runs while the writer holds its lock), and pages poll meanwhile.
    """

    def __init__(self, size=1000, timeout=1.5):
        self.queue = queue.Queue(maxsize=size)
        self.timeout = timeout
        self.thread = None
        self.stopping = threading.Event()
        self.failing = False
        self.lock = threading.Lock()

    def send(self, layer, group, seq):
        self.start()
        try:
            self.queue.put_nowait((layer, group, seq))
        except queue.Full:
            logger.warning("wake-up queue full: pages of %s read event %s on their next poll", group, seq)

    def start(self):
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.stopping.clear()
                self.thread = threading.Thread(target=self.run, name="dc43-wakeups", daemon=True)
                self.thread.start()

    def stop(self):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(self.timeout + 1)

    def run(self):
        # One event loop for the thread's life: channels-redis keeps its connections per loop.
        loop = asyncio.new_event_loop()
        try:
            while not self.stopping.is_set():
                try:
                    layer, group, seq = self.queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                self.deliver(loop, layer, group, seq)
        finally:
            loop.close()

    def deliver(self, loop, layer, group, seq):
        sending = asyncio.wait_for(layer.group_send(group, {"type": "run.event", "seq": seq}), self.timeout)
        try:
            loop.run_until_complete(sending)
        except Exception:
            # Once per outage, not once per event: pages poll until it is over.
            if not self.failing:
                logger.warning("could not wake the pages of %s; they poll until the channel layer is back", group)
            self.failing = True
            return
        if self.failing:
            logger.info("wake-ups reach the channel layer again")
        self.failing = False


sender = Sender()


# Pages watching runs of this process, when the channel layer is in memory. Its group_send,
# called from a runner thread, queues the wake-up without waking the event loop (asyncio is
# not thread-safe there): the page would learn of a batch only at the loop's next timer, up
# to a second later. So `notify` wakes them here, thread-safely, instead.
_local = {}
_local_lock = threading.Lock()


def watch_locally(consumer):
    consumer.loop = asyncio.get_running_loop()
    with _local_lock:
        _local.setdefault(str(consumer.run_id), set()).add(consumer)


def unwatch_locally(consumer):
    with _local_lock:
        watchers = _local.get(str(consumer.run_id))
        if watchers is not None:
            watchers.discard(consumer)
            if not watchers:
                del _local[str(consumer.run_id)]


def wake_watchers(run_id, seq):
    with _local_lock:
        watchers = list(_local.get(str(run_id), ()))
    for consumer in watchers:
        try:
            consumer.loop.call_soon_threadsafe(consumer.wake, seq)
        except RuntimeError:  # its loop has ended: that page is gone, and the writer's commit must not fail
            unwatch_locally(consumer)
