"""Where slices live, and the file-system moves that publish them.

Spark's writes and the publish go through Hadoop's FileSystem API, so the data root can be a
local folder, `hdfs://` or `s3a://` alike. The recovery sweep and checkpoint clean-up use plain
local calls for local paths (no JVM for `manage.py sweep_runs`), Hadoop's API otherwise.
"""

import os
import shutil
from urllib.parse import urlparse

from django.conf import settings

STAGING = "_staging"
REPLACED = "_replaced"
ORPHANS = "_orphans"


def join(*parts):
    return "/".join(str(p).rstrip("/") for p in parts)


def slice_path(dataset_name, version):
    return join(settings.DC43_DATA_ROOT, dataset_name, version)


def staging_path(dataset_name, version):
    # Beside the slices but never one of them: readers of a dataset list versions, not folders.
    return join(settings.DC43_DATA_ROOT, dataset_name, STAGING, version)


def aside_path(dataset_name, version, tag):
    """Where a replayed slice's earlier files wait while the new ones move in (until the record commits)."""
    return join(settings.DC43_DATA_ROOT, dataset_name, REPLACED, f"{version}-{tag}")


def checkpoint_path(run_id, name="main"):
    return join(settings.DC43_CHECKPOINT_ROOT, str(run_id), name)


def remove_checkpoint(path, spark=None):
    """Delete a finished run's own checkpoint (a rate source has nothing to resume); a missing one is fine."""
    filesystem(path, spark).delete(path)


def is_local(path):
    return urlparse(str(path)).scheme in ("", "file")


def local(path):
    parsed = urlparse(str(path))
    return parsed.path if parsed.scheme == "file" else str(path)


def filesystem(path, spark=None):
    """The file system of `path`: local calls for a local path, Hadoop's through Spark for any other."""
    if is_local(path):
        return LocalFileSystem()
    if spark is None:
        from pipelines.spark import get_spark

        spark = get_spark()
    return FileSystem(spark)


class LocalFileSystem:
    def exists(self, path):
        return os.path.exists(local(path))

    def delete(self, path):
        path = local(path)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)

    def rename(self, source, target):
        os.makedirs(os.path.dirname(local(target)), exist_ok=True)
        os.rename(local(source), local(target))

    def folders(self, path):
        """Names of the sub-folders of `path` (none when it does not exist)."""
        path = local(path)
        if not os.path.isdir(path):
            return []
        return sorted(e.name for e in os.scandir(path) if e.is_dir())


class FileSystem:
    def __init__(self, spark):
        self.jvm = spark.sparkContext._jvm
        self.conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _fs(self, path):
        jpath = self.jvm.org.apache.hadoop.fs.Path(path)
        return jpath.getFileSystem(self.conf), jpath

    def exists(self, path):
        fs, jpath = self._fs(path)
        return fs.exists(jpath)

    def delete(self, path):
        fs, jpath = self._fs(path)
        if fs.exists(jpath):
            fs.delete(jpath, True)

    def rename(self, source, target):
        """Move a folder to a path that does not exist yet (Hadoop would nest it inside an existing one)."""
        fs, jsource = self._fs(source)
        _, jtarget = self._fs(target)
        fs.mkdirs(jtarget.getParent())
        if not fs.rename(jsource, jtarget):
            raise OSError(f"could not move {source} to {target}")

    def folders(self, path):
        fs, jpath = self._fs(path)
        if not fs.exists(jpath):
            return []
        return sorted(s.getPath().getName() for s in fs.listStatus(jpath) if s.isDirectory())
