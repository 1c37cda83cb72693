"""A real site (daphne in its own process, on the test database) and a headless Chromium.

Playwright's sync API keeps an event loop running in the test's thread, so Django
refuses database calls there: tests touch the database through `db()`, in a thread.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection
from processes import database_url_of_tests  # noqa: F401  (the browser tests import it from here)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def db(fn, *args, **kwargs):
    """Run a database call in a worker thread, away from Playwright's event loop."""

    def call():
        try:
            return fn(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url, proc, name, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the site exited with {proc.returncode}; see {ARTIFACTS / name}.log")
        try:
            urllib.request.urlopen(url + "/login/", timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the site did not answer within {seconds} s")


@contextmanager
def serving(name, **env_overrides):
    """Serve the site with daphne from another process, as in production: HTTP and websockets."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="dc43site.settings",
        DEBUG="true",
        DC43_WARM_SPARK="false",
        PYTHONUNBUFFERED="1",
    )
    env.update(env_overrides)
    log = open(ARTIFACTS / f"{name}.log", "ab")  # noqa: SIM115 (held open for the server's whole life, closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "dc43site.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, proc, name)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def site_url(django_db_setup, django_db_blocker):
    """The site without Spark: the runs it shows are simulated by the tests."""
    with django_db_blocker.unblock():
        database_url = database_url_of_tests()
    with serving("server", DATABASE_URL=database_url) as url:
        yield url


@pytest.fixture
def browser(transactional_db, site_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def log_in(browser, site_url, user, password, viewport=None):
    page = browser.new_page(viewport=viewport or {"width": 1280, "height": 900})
    page.goto(site_url + "/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(site_url + "/")
    return page


def screenshot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
