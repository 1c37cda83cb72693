"""The tests run the site in development mode.

DEBUG is off unless the environment turns it on (production is the default). pytest-django would read
the settings before any conftest.py is imported if pyproject.toml named them, so they are named here,
after the environment is set, and Django is set up for the conftest files below this one. The
processes the tests start inherit DEBUG=true from here. Values already in the environment win.
"""

import os

import django

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dc43site.settings")
django.setup()
