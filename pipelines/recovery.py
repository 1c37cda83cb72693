"""The recovery sweep: files and registry agree again after a crash.

A publish renames the earlier slice aside, moves the staged one into place and commits the
record (`streaming.Publication`). A process killed between two of those steps leaves folders
the registry does not describe. `reconcile` puts each one right, per dataset:

- a staging folder, or a slice folder without a DatasetVersion: moved to
  `<data root>/_orphans/<stamp>/<dataset>/<folder>` and reported;
- an aside copy (`_replaced/<version>-<tag>`, tag = the publishing run): when the record says
  that run published the version, the commit happened and the copy is stale (orphaned);
  otherwise the commit never happened, so the uncommitted slice is orphaned and the copy, which
  the record still describes, moves back into place;
- a DatasetVersion whose folder is gone is flagged (`files_missing_at`), and shows "missing".

Folders of runs still running elsewhere are left alone: their publish may be in flight.
Local paths are swept with plain file calls (no JVM); other schemes through Spark's Hadoop API.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone

from pipelines import storage
from registry.models import Dataset, DatasetVersion, Run, RunStatus

logger = logging.getLogger("dc43.recovery")


@dataclass
class Report:
    orphaned: list = field(default_factory=list)  # [(from, to)]
    restored: list = field(default_factory=list)  # [(aside, slice)]
    missing: list = field(default_factory=list)  # ["dataset@version"]

    def lines(self):
        yield from (f"orphaned {source} -> {target}" for source, target in self.orphaned)
        yield from (f"restored {slice_} from {aside}" for aside, slice_ in self.restored)
        yield from (f"missing files: {name}" for name in self.missing)

    def __bool__(self):
        return bool(self.orphaned or self.restored or self.missing)


def reconcile(datasets=None, spark=None, run=None):
    """Sweep the named datasets (all of them by default); `run` is the caller's own run, never in flight here."""
    names = list(datasets) if datasets is not None else list(Dataset.objects.values_list("name", flat=True))
    report = Report()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    in_flight = _in_flight_markers(run)
    for name in names:
        Sweep(name, storage.filesystem(settings.DC43_DATA_ROOT, spark), stamp, in_flight, report).run()
    for line in report.lines():
        logger.warning("recovery: %s", line)
    return report


def _in_flight_markers(run):
    """Parts of folder names that only a running run's slices carry: its id, or its pipeline's slice prefix."""
    running = Run.objects.filter(status=RunStatus.RUNNING).exclude(pk=getattr(run, "pk", None))
    markers = []
    for run_id, key in running.values_list("id", "scenario"):
        markers += [run_id.hex[:8], f"-{key}-b"]
    return markers


class Sweep:
    def __init__(self, name, fs, stamp, in_flight, report):
        self.name, self.fs, self.report, self.in_flight = name, fs, report, in_flight
        self.root = storage.join(settings.DC43_DATA_ROOT, name)
        self.orphans = storage.join(settings.DC43_DATA_ROOT, storage.ORPHANS, stamp, name)
        self.versions = {
            v.version: v
            for v in DatasetVersion.objects.filter(dataset__name=name).only(
                "version", "path", "run_id", "files_missing_at"
            )
        }

    def run(self):
        for folder in self.fs.folders(storage.join(self.root, storage.REPLACED)):
            if not self.busy(folder):
                self.settle_aside(folder)
        for folder in self.fs.folders(storage.join(self.root, storage.STAGING)):
            if not self.busy(folder):
                self.orphan(storage.join(self.root, storage.STAGING, folder), storage.join(storage.STAGING, folder))
        for folder in self.fs.folders(self.root):
            if not folder.startswith("_") and folder not in self.versions and not self.busy(folder):
                self.orphan(storage.join(self.root, folder), folder)
        self.flag_missing()

    def busy(self, folder):
        return any(marker in folder for marker in self.in_flight)

    def settle_aside(self, folder):
        aside = storage.join(self.root, storage.REPLACED, folder)
        version, _, tag = folder.rpartition("-")
        record = self.versions.get(version)
        if record is None or record.run_id.hex.startswith(tag):
            # Committed (the record names the publishing run), or nothing describes it: not needed any more.
            self.orphan(aside, storage.join(storage.REPLACED, folder))
            return
        # The record was never committed: it still describes the aside copy, not what moved in.
        final = storage.join(self.root, version)
        if self.fs.exists(final):
            self.orphan(final, version + ".uncommitted")
        self.fs.rename(aside, final)
        self.report.restored.append((aside, final))

    def orphan(self, path, relative):
        target = storage.join(self.orphans, relative)
        self.fs.rename(path, target)
        self.report.orphaned.append((path, target))

    def flag_missing(self):
        """One listing of the dataset's folder answers for every slice in it; a path elsewhere is asked on its own."""
        now = timezone.now()
        present = set(self.fs.folders(self.root))
        for record in self.versions.values():
            if record.files_missing_at:
                continue
            in_place = record.path == storage.join(self.root, record.version)
            if not (record.version in present if in_place else self.fs.exists(record.path)):
                DatasetVersion.objects.filter(pk=record.pk).update(files_missing_at=now)
                self.report.missing.append(f"{self.name}@{record.version}")
