"""Helpers for tests that start another process of the site (daphne, manage.py) on the test database."""

from django.db import connection


def database_url_of_tests():
    """DATABASE_URL naming the database this test session uses, for a child process."""
    conf = connection.settings_dict
    if conf["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{conf['NAME']}"
    return f"postgres://{conf['USER']}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{conf['NAME']}"
