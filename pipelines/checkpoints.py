"""What a pipeline's checkpoint says is done, read from the folder Spark keeps: no Spark here.

Spark's checkpoint holds `offsets/N` (batch N is planned), `commits/N` (batch N is done) and,
for a file source, the file-source log `sources/0/N`: a "v1" line, then one JSON object per
file that batch N read ({"path", "timestamp", "batchId"}). Every tenth log file is written as
`N.compact`, which repeats the entries of all earlier batches (the plain files before it may
then be deleted). The pipeline page reads these to say which files are ingested, which batch
is in flight, and which files still wait in the landing folder.
"""

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

LOG_NAME = re.compile(r"^(\d+)(\.compact)?$")


@dataclass(frozen=True)
class SourceFile:
    path: str  # as Spark wrote it: a URI such as file:///.../orders-0001.json
    batch_id: int
    timestamp: int  # the file's modification time in milliseconds, as Spark saw it

    @property
    def name(self):
        return local_path(self.path).rsplit("/", 1)[-1]


@dataclass
class Progress:
    location: str
    readable: bool = False  # a local folder that exists; other schemes and missing folders are not read
    last_planned: int | None = None
    last_committed: int | None = None
    offsets: list = field(default_factory=list)  # the source offsets of the last planned batch, as Spark wrote them
    files: list = field(default_factory=list)  # SourceFiles of committed batches, oldest first
    in_flight: list = field(default_factory=list)  # SourceFiles of a planned batch not committed yet

    @property
    def started(self):
        return self.last_planned is not None

    @property
    def pending_batch(self):
        """The batch planned but not committed (a resumed run replays it first), or None."""
        if self.last_planned is not None and self.last_planned != self.last_committed:
            return self.last_planned
        return None

    def seen_paths(self):
        return {local_path(f.path) for f in self.files + self.in_flight}


def local_path(path):
    """A local path for a file: URI or a plain path; other schemes stay as they are."""
    if path.startswith("file:"):
        return unquote(urlparse(path).path)
    return path


def is_local(location):
    return bool(location) and ("://" not in location or location.startswith("file:"))


def read_progress(location):
    """The checkpoint's batches and files; nothing read (readable False) when it is not a local folder."""
    progress = Progress(location)
    if not is_local(location):
        return progress
    root = Path(local_path(location))
    if not root.is_dir():
        return progress
    progress.readable = True
    planned = batch_numbers(root / "offsets")
    committed = batch_numbers(root / "commits")
    progress.last_planned = max(planned, default=None)
    progress.last_committed = max(committed, default=None)
    if progress.last_planned is not None:
        progress.offsets = offset_lines(root / "offsets" / str(progress.last_planned))
    done = -1 if progress.last_committed is None else progress.last_committed
    for entry in source_log(root / "sources" / "0"):
        (progress.files if entry.batch_id <= done else progress.in_flight).append(entry)
    return progress


def batch_numbers(folder):
    """The batch ids of a folder of Spark metadata files (N), skipping checksums (.N.crc) and temporary files."""
    if not folder.is_dir():
        return []
    return [int(p.name) for p in folder.iterdir() if p.name.isdigit()]


def offset_lines(path):
    """An offsets file's source offsets: the lines after its version and its metadata."""
    lines = read_lines(path)
    return lines[2:] if len(lines) > 2 else []


def source_log(folder):
    """Every file the source log names, once, by batch and then path: the newest compact file and the files after it."""
    if not folder.is_dir():
        return []
    logs = {}
    for path in folder.iterdir():
        match = LOG_NAME.match(path.name)
        if match:
            logs[int(match.group(1))] = (path, bool(match.group(2)))
    compacts = [n for n, (_, compact) in logs.items() if compact]
    start = max(compacts, default=min(logs, default=0))
    entries = {}
    for number in sorted(n for n in logs if n >= start):
        for line in read_lines(logs[number][0])[1:]:
            entry = parse_entry(line, number)
            if entry is not None:
                entries[entry.path] = entry
    return sorted(entries.values(), key=lambda e: (e.batch_id, e.path))


def parse_entry(line, batch_id):
    try:
        data = json.loads(line)
        return SourceFile(str(data["path"]), int(data.get("batchId", batch_id)), int(data.get("timestamp", 0)))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None  # a line this reader does not know: Spark's own reader would stop here, the page goes on


def read_lines(path):
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()]


def waiting_files(folder, seen):
    """Files in a local landing folder that the checkpoint has not read, oldest first; None for other schemes.

    Spark skips names starting with "." or "_" (files being written, metadata), and so does this list.
    """
    if not is_local(folder):
        return None
    root = Path(local_path(folder))
    if not root.is_dir():
        return []
    waiting = []
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.name.startswith((".", "_")) or not entry.is_file():
                continue
            if str(Path(entry.path).resolve()) not in seen and entry.path not in seen:
                waiting.append((entry.stat().st_mtime, entry.name))
    return [name for _, name in sorted(waiting)]
