"""A pytest plugin loaded first (`-p tests.devmode` in pyproject.toml): the tests run in development mode.

DEBUG is off unless the environment turns it on, and pytest-django reads the settings before any
conftest.py is imported, so this must run earlier than a conftest could. The processes the tests
start inherit DEBUG=true from here. A DEBUG already in the environment wins.
"""

import os

os.environ.setdefault("DEBUG", "true")
