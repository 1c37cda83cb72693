"""Shared pieces of the benchmark scripts: Django set-up, timing side by side, the RESULT lines."""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(database_url=None):
    """Django for a benchmark; `database_url` points it at a scratch database (the site's own stays untouched)."""
    sys.path.insert(0, str(ROOT))
    # A shared venv may hold an editable install of another checkout; its finder would serve that checkout's
    # modules wherever this tree has none (a migrations package, say): benchmark this tree only.
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__name__", "").startswith("_Editable")]
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dc43site.settings")
    os.environ.setdefault("DC43_WARM_SPARK", "0")
    os.environ.setdefault("DEBUG", "true")  # a benchmark is development: DEBUG is off by default (see README)
    import django

    django.setup()


def scratch_site(work):
    """Django on a scratch registry under `work` (migrated, demo contracts loaded), its data there too; the SparkSession."""
    setup_django(f"sqlite:///{work}/registry.sqlite3")
    from django.conf import settings
    from django.core.management import call_command

    from contracts.demo import load_demo_contracts
    from contracts.models import Contract, ContractVersion
    from pipelines.spark import get_spark

    settings.DC43_DATA_ROOT = f"{work}/data"
    settings.DC43_CHECKPOINT_ROOT = f"{work}/checkpoints"
    call_command("migrate", verbosity=0)
    load_demo_contracts(Contract, ContractVersion)
    return get_spark()


def parser(description, rows=None):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds: proves the script still works")
    if rows is not None:
        p.add_argument("--rows", type=int, default=rows, help=f"rows to process (default {rows:,})")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds per variant (median is reported)")
    return p


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def interleave(variants, rounds):
    """Run each variant once per round, in turn, so drift in the machine hits them all alike; median seconds each."""
    seconds = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            elapsed, _ = timed(fn)
            seconds[name].append(elapsed)
    return {name: statistics.median(values) for name, values in seconds.items()}, seconds


def table(headers, rows):
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = ["  ".join(c.rjust(widths[i]) if i else c.ljust(widths[i]) for i, c in enumerate(r)) for r in cells]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


class Results:
    """Collects RESULT lines and prints them together at the end."""

    def __init__(self, name):
        self.name = name
        self.lines = []

    def at_least(self, figure, value, target):
        self._add(figure, value, target, value >= target)

    def at_most(self, figure, value, target):
        self._add(figure, value, target, value <= target)

    def _add(self, figure, value, target, met):
        self.lines.append(f"RESULT {self.name} {figure}={value:.2f} target={target:.2f} {'met' if met else 'missed'}")

    def print(self):
        for line in self.lines:
            print(line)
