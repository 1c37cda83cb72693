"""Waking live pages (registry.wakeups): never on the batch-writing thread's time, and free of import circles."""

import ast
import asyncio
import logging
import time
from pathlib import Path

import pytest

from registry import wakeups

ROOT = Path(__file__).resolve().parent.parent


class HangingLayer:
    """A channel layer whose group_send never returns, as channels-redis with Redis stalled."""

    async def group_send(self, group, message):
        await asyncio.sleep(3600)


class RecordingLayer:
    def __init__(self, failures=0):
        self.sent, self.failures = [], failures

    async def group_send(self, group, message):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Connection refused")
        self.sent.append((group, message))


@pytest.fixture
def sender(monkeypatch):
    sender = wakeups.Sender(size=5, timeout=0.2)
    monkeypatch.setattr(wakeups, "sender", sender)
    yield sender
    sender.stop()


def through(layer, monkeypatch):
    monkeypatch.setattr(wakeups, "get_channel_layer", lambda: layer)


def eventually(condition, timeout=3):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_notify_returns_at_once_when_the_channel_layer_hangs(sender, monkeypatch, caplog):
    through(HangingLayer(), monkeypatch)
    began = time.monotonic()
    for seq in range(200):
        wakeups.notify("r1", seq)
    assert time.monotonic() - began < 0.2  # 200 events, not 200 timeouts
    assert "wake-up queue full" in caplog.text  # the queue is bounded: the rest were dropped
    assert eventually(lambda: "could not wake the pages of run-r1" in caplog.text)


def test_a_wake_up_reaches_the_run_group(sender, monkeypatch):
    layer = RecordingLayer()
    through(layer, monkeypatch)
    wakeups.notify("r1", 7)
    assert eventually(lambda: layer.sent == [("run-r1", {"type": "run.event", "seq": 7})])


def test_the_sender_outlives_an_outage_and_says_so_once(sender, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="dc43.registry")
    layer = RecordingLayer(failures=3)
    through(layer, monkeypatch)
    for seq in range(1, 5):
        wakeups.notify("r1", seq)
    assert eventually(lambda: layer.sent == [("run-r1", {"type": "run.event", "seq": 4})])
    assert caplog.text.count("could not wake the pages") == 1
    assert "wake-ups reach the channel layer again" in caplog.text


def test_a_stalled_send_gives_up_after_its_timeout(sender, monkeypatch):
    layer = HangingLayer()
    through(layer, monkeypatch)
    wakeups.notify("r1", 1)
    recording = RecordingLayer()
    through(recording, monkeypatch)
    wakeups.notify("r1", 2)
    assert eventually(lambda: recording.sent, timeout=1)  # after the first one's 0.2 s, not an hour


def imports_of(path):
    tree = ast.parse((ROOT / path).read_text())
    names = set()
    for node in ast.walk(tree):  # also imports inside functions: a deferred import is still a circle
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_wake_ups_and_the_summary_import_neither_the_models_nor_the_consumer():
    for path in ("registry/wakeups.py", "registry/summary.py"):
        found = {name for name in imports_of(path) if name.startswith(("registry.models", "registry.consumers"))}
        assert found == set(), path


def test_the_models_do_not_import_the_consumer():
    assert not {name for name in imports_of("registry/models.py") if "consumers" in name}
