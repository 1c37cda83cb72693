"""Where slices live, and the Hadoop file-system moves that publish them.

Every path goes through Hadoop's FileSystem API, so the data root can be a local
folder, `hdfs://` or `s3a://` alike.
"""

from django.conf import settings


def join(*parts):
    return "/".join(str(p).rstrip("/") for p in parts)


def slice_path(dataset_name, version):
    return join(settings.DC43_DATA_ROOT, dataset_name, version)


def staging_path(dataset_name, version):
    # Beside the slices but never one of them: readers of a dataset list versions, not folders.
    return join(settings.DC43_DATA_ROOT, dataset_name, "_staging", version)


def checkpoint_path(run_id, name="main"):
    return join(settings.DC43_CHECKPOINT_ROOT, str(run_id), name)


class FileSystem:
    def __init__(self, spark):
        self.jvm = spark.sparkContext._jvm
        self.conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _fs(self, path):
        jpath = self.jvm.org.apache.hadoop.fs.Path(path)
        return jpath.getFileSystem(self.conf), jpath

    def delete(self, path):
        fs, jpath = self._fs(path)
        if fs.exists(jpath):
            fs.delete(jpath, True)

    def publish(self, staging, target):
        """Move a completely written folder into place. A replayed batch replaces its earlier slice:
        Hadoop's rename onto an existing folder would nest the source inside it, so the target goes first."""
        fs, source = self._fs(staging)
        _, destination = self._fs(target)
        if fs.exists(destination):
            fs.delete(destination, True)
        fs.mkdirs(destination.getParent())
        if not fs.rename(source, destination):
            raise OSError(f"could not move {staging} to {target}")
