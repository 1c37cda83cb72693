#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dc43site.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A setting read from the environment is missing or malformed: say which, without a traceback.
        sys.exit(f"dc43: configuration error: {exc}")


if __name__ == "__main__":
    main()
