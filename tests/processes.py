"""Helpers for tests that start another process of the site (daphne, manage.py) on the test database."""

from django.db import connection


def database_url_of_tests():
    """DATABASE_URL naming the database this test session uses, for a child process."""
    conf = connection.settings_dict
    if conf["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{conf['NAME']}"
    return f"postgres://{conf['USER']}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{conf['NAME']}"


def command_env():
    """The environment of a child `manage.py` command: this test's database, data root and checkpoints."""
    import os

    from django.conf import settings

    return {
        **os.environ,
        "DC43_WARM_SPARK": "0",
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url_of_tests(),
        "DC43_DATA_ROOT": settings.DC43_DATA_ROOT,
        "DC43_CHECKPOINT_ROOT": settings.DC43_CHECKPOINT_ROOT,
    }


def interrupt_after_first_rows(*args, timeout=120):
    """Run `manage.py ARGS`, press Ctrl-C once a batch with rows is printed; (exit code, lines before, rest, stderr)."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    proc = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=Path(__file__).resolve().parent.parent,
        env=command_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("batch ") and not line.startswith("batch 0:"):
                break
        assert any(line.startswith("batch ") for line in lines), "".join(lines) + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, lines, rest, err
