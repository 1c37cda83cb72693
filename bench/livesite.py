"""The site as the live benchmarks see it: a scratch registry, daphne in its own process, Chromium, sessions.

Everything runs on this machine, so the server's timestamps (Django's `timezone.now()`), this
process's `time.time()` and the page's `performance.timeOrigin + performance.now()` read one clock.
"""

import contextlib
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import ROOT, setup_django

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_REDIS_URL = os.environ.get("DC43_BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
PASSWORD = "bench-password-1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Stamps each micro-batch badge the moment it enters #batches (and the frame after, when it is painted);
# notes the code of every close of the page's socket (htmx reconnects after 1006, 1011-1013).
BADGE_STAMPS = """
window.__badges = {};
window.__closes = [];
document.addEventListener("htmx:wsClose", function (event) { window.__closes.push(event.detail.event.code); });
new MutationObserver(function (records) {
  var t = performance.timeOrigin + performance.now();
  records.forEach(function (record) {
    record.addedNodes.forEach(function (node) {
      if (node.nodeType !== 1) return;
      var found = node.matches('li[id^="batch-"]') ? [node] : Array.from(node.querySelectorAll('li[id^="batch-"]'));
      found.forEach(function (el) {
        if (el.id in window.__badges || !el.closest('#batches')) return;
        var stamp = window.__badges[el.id] = {t: t, cls: el.className};
        requestAnimationFrame(function () { stamp.painted = performance.timeOrigin + performance.now(); });
      });
    });
  });
}).observe(document, {childList: true, subtree: true});
"""


def scratch_registry(prefix, redis_url=None, database_url=None):
    """A fresh default-config site (SQLite under its own DC43_VAR_DIR), migrated, for this process and its servers.

    With `redis_url`, this process's channel layer is Redis: batches it records wake the pages a server shows.
    With `database_url`, the registry is that (scratch) database, emptied first.
    """
    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["DC43_VAR_DIR"] = str(work)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # the demo contracts load with the migrations
    if database_url:
        from contracts.demo import load_demo_contracts
        from contracts.models import Contract, ContractVersion

        call_command("flush", interactive=False, verbosity=0)
        load_demo_contracts(Contract, ContractVersion)
    sys.path.insert(0, str(ROOT / "tests"))
    return work


def make_operator(username="bench"):
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user(username=username, password=PASSWORD)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="registry", codename="start_run"))
    return user


def session_cookies(user, count):
    """`count` signed-in sessions of `user`, as the login view would leave them."""
    from django.test import Client

    cookies = []
    for _ in range(count):
        client = Client()
        client.force_login(user)
        cookies.append(client.cookies["sessionid"].value)
    return cookies


def free_port():
    """A port nobody listens on: within DC43_BENCH_PORTS ("8140-8159") on a shared machine, else any."""
    low, _, high = os.environ.get("DC43_BENCH_PORTS", "0-0").partition("-")
    for port in range(int(low), int(high or low) + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken, maybe by a server this benchmark started a moment ago
            return sock.getsockname()[1]
    raise RuntimeError(f"no free port in DC43_BENCH_PORTS={os.environ['DC43_BENCH_PORTS']}")


def redis_reachable(url=DEFAULT_REDIS_URL):
    import redis

    try:
        return redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


def flush_redis_db(url=DEFAULT_REDIS_URL):
    """Empty the benchmark's own Redis database (never another one): no stale group members."""
    import redis

    redis.Redis.from_url(url).flushdb()


class Server:
    """daphne serving the site from another process, as in production (HTTP and websockets)."""

    def __init__(self, work, name, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(work) / f"{name}.log"
        self.env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="dc43site.settings",
            DEBUG="true",
            DC43_WARM_SPARK="false",
            PYTHONUNBUFFERED="1",
        )
        self.env.update({k: str(v) for k, v in env.items()})
        self.proc = self.pid = None

    def __enter__(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "dc43site.asgi:application"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.pid = self.proc.pid
        try:
            self.wait_until_serving()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def wait_until_serving(self, seconds=90):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the site exited with {self.proc.returncode}; see {self.log_path}")
            try:
                urllib.request.urlopen(self.url + "/login/", timeout=2)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the site did not answer within {seconds} s; see {self.log_path}")

    def log_text(self):
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern, seconds=180):
        """Seconds waited until the server log matches `pattern`."""
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            if re.search(pattern, self.log_text()):
                return time.monotonic() - start
            if self.proc.poll() is not None:
                raise RuntimeError(f"the site exited with {self.proc.returncode}; see {self.log_path}")
            time.sleep(0.1)
        raise RuntimeError(f"no {pattern!r} in the server log within {seconds} s; see {self.log_path}")

    def cpu_seconds(self):
        """User + system CPU of the server process (all its threads), from /proc/<pid>/stat."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def descendants(self):
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    children = [int(c) for c in (task / "children").read_text().split()]
                except OSError:
                    continue
                found.extend(children)
                todo.extend(children)
        return found

    def stop(self):
        """Stop daphne by its PID, then any child it left behind (the JVM of its SparkSession) by theirs."""
        if self.proc is None:
            return
        children = self.descendants() if self.proc.poll() is None else []
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        deadline = time.monotonic() + 15
        for pid in children:
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            if Path(f"/proc/{pid}").exists():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.proc = None
        self.log.close()


class Profile:
    """py-spy sampling a server while the benchmark runs (collapsed stacks, with idle threads): --profile PATH."""

    def __init__(self, pid, path, rate=200):
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--idle",
                "--threads",
                "--output",
                str(path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self):
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def log_in(browser, url, username, password=PASSWORD):
    """A page signed in, with the badge stamps installed in every document it loads."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.add_init_script(BADGE_STAMPS)
    page.goto(url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    return page


def percentile(values, q):
    """Linear interpolation between closest ranks (q from 0 to 100)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values):
    return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95), "max": max(values)}
