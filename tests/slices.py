"""What a landing folder held and what the registry says was published, read back from the files themselves.

The exactly-once tests compare the two: every order of the landing files, and every line that did not parse,
must sit in exactly one published slice (output or rejects), and every slice must hold the rows its record says.
"""

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# What may sit beside the slices of a dataset folder while nothing is being published: the sweep's archive.
ORPHANS = "_orphans"
# What must never remain once a publish is over: staged slices and old slices moved aside by a replay.
LEFTOVERS = ("_staging", "_replaced")


@dataclass
class Landed:
    """The landing files' content: order ids and the raw text of the lines that do not parse (both counted)."""

    orders: Counter = field(default_factory=Counter)
    malformed: Counter = field(default_factory=Counter)

    @property
    def lines(self):
        return sum(self.orders.values()) + sum(self.malformed.values())


def landed(folder):
    """Read every landing file (hidden files are still being written: Spark skips them, so do we)."""
    result = Landed()
    for path in sorted(Path(folder).iterdir()):
        if path.name.startswith((".", "_")) or not path.is_file():
            continue
        for line in path.read_text().splitlines():
            try:
                result.orders[json.loads(line)["order_id"]] += 1
            except json.JSONDecodeError:
                result.malformed[line] += 1
    return result


@dataclass
class Version:
    """A DatasetVersion as the registry records it (whichever database it lives in)."""

    dataset: str
    version: str
    path: str
    row_count: int


@dataclass
class Published:
    """What the published slices hold, read back with Spark."""

    orders: Counter = field(default_factory=Counter)
    malformed: Counter = field(default_factory=Counter)
    miscounted: list = field(default_factory=list)  # (version, recorded row_count, rows in the files)
    missing: list = field(default_factory=list)  # versions whose folder is gone

    @property
    def rows(self):
        return sum(self.orders.values()) + sum(self.malformed.values())


def published(spark, versions):
    """Read the files of every version: order ids (output and rejects), raw lines kept in rejects, counts checked."""
    result = Published()
    for v in versions:
        location = v.path.removeprefix("file://")
        if not os.path.isdir(location):
            result.missing.append(v.version)
            continue
        df = spark.read.parquet(v.path)
        columns = ["order_id"] + (["raw_record"] if "raw_record" in df.columns else [])
        rows = df.select(*columns).collect()
        if len(rows) != v.row_count:
            result.miscounted.append((f"{v.dataset}@{v.version}", v.row_count, len(rows)))
        for row in rows:
            raw = row["raw_record"] if "raw_record" in columns else None
            if raw is not None:
                result.malformed[raw] += 1
            else:
                result.orders[row["order_id"]] += 1
    return result


def versions_in_registry(datasets, **filters):
    """The DatasetVersions of these datasets in the test database (Django ORM), narrowed by `filters`."""
    from registry.models import DatasetVersion

    rows = DatasetVersion.objects.filter(dataset__name__in=datasets, **filters).values_list(
        "dataset__name", "version", "path", "row_count"
    )
    return [Version(*row) for row in rows]


def not_once(expected, found):
    """{key: times found} for every key not found exactly as many times as it was expected."""
    return {key: found.get(key, 0) for key in set(expected) | set(found) if found.get(key, 0) != expected.get(key, 0)}


def stray_folders(data_root, datasets, versions):
    """Folders under each dataset that no record explains: unrecorded slices, staged or set-aside ones.

    The sweep's `_orphans` archive is the one place such folders may go."""
    recorded = {os.path.normpath(v.path.removeprefix("file://")) for v in versions}
    stray = []
    for name in datasets:
        folder = Path(data_root) / name
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name == ORPHANS:
                continue
            if entry.name in LEFTOVERS:
                stray += [str(p) for p in entry.iterdir()]
            elif entry.is_dir() and os.path.normpath(str(entry)) not in recorded:
                stray.append(str(entry))
    return sorted(stray)
