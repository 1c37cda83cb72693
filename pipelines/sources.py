"""Streaming sources under their input contract: Spark's rate source, or a landing folder of files.

A file source is read with the schema its input contract declares, never an inferred one, so a
file that disagrees with the contract cannot change what the stream looks like. JSON and CSV lines
that do not parse are kept, not turned into rows of nulls: their raw text lands in the column
`MALFORMED_COLUMN`, and the writer routes those rows to the rejects as `malformed_record`.
"""

from dataclasses import dataclass

from pyspark.sql.types import StringType, StructField, StructType, _parse_datatype_string

from contracts.checks import normalise_type
from pipelines.checks import schema_gate

FORMATS = ("rate", "json", "csv", "parquet")
FILE_FORMATS = ("json", "csv", "parquet")
# Where a line that does not parse keeps its raw text (Spark's columnNameOfCorruptRecord).
MALFORMED_COLUMN = "_raw_record"
# What each logical type reads as when the contract names no physical type.
LOGICAL_TYPES = {
    "string": "string",
    "integer": "bigint",
    "number": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}


class SourceError(ValueError):
    """A source that cannot be read as asked: a missing landing folder, a type the contract cannot give."""


@dataclass
class Source:
    df: object  # the streaming DataFrame
    gate: dict  # the input schema gate: the source's columns against the input contract
    malformed_column: str | None = None  # set when malformed lines are kept in that column


def contract_schema(compiled):
    """The Spark schema a contract's columns declare, in their order; every column nullable (files may lack values)."""
    fields = []
    for column in compiled.columns:
        type_name = normalise_type(column.physical_type) if column.physical_type else ""
        if not type_name or type_name in ("decimal", "stream", "table"):
            type_name = LOGICAL_TYPES.get(column.logical_type or "", "")
        if not type_name:
            raise SourceError(
                f"column {column.name!r}: the input contract gives no type a file can be read with "
                f"(logicalType {column.logical_type!r}, physicalType {column.physical_type!r})"
            )
        try:
            data_type = _parse_datatype_string(type_name)
        except Exception:
            raise SourceError(f"column {column.name!r}: Spark has no type {type_name!r}") from None
        fields.append(StructField(column.name, data_type, True))
    return StructType(fields)


def read_source(spark, compiled, *, format, path=None, options=None, paced=None):
    """A streaming DataFrame of the source, and its input gate. Raises SourceError before any query starts.

    `paced` = (trigger milliseconds, start epoch milliseconds) reads a rate source one trigger at a time
    from that start (see `paced_rate`), when its options allow it.
    """
    if format not in FORMATS:
        raise SourceError(f"unknown source format {format!r}; choose one of: {', '.join(FORMATS)}")
    options = {key: str(value) for key, value in (options or {}).items()}
    reader = spark.readStream.format(format)
    malformed = None
    if format == "rate":
        per_trigger = paced_rate(options, *paced) if paced else None
        if per_trigger:
            reader, options = spark.readStream.format("rate-micro-batch"), per_trigger
        df = reader.options(**options).load()
        return Source(df, schema_gate(df.schema, compiled))
    if not path:
        raise SourceError(f"a {format} source needs the path of its landing folder")
    if not is_directory(spark, path):
        raise SourceError(
            f"the landing folder {path} does not exist (or is not a folder); create it, or feed it files first"
        )
    schema = contract_schema(compiled)
    if format in ("json", "csv"):
        malformed = MALFORMED_COLUMN
        schema = StructType([*schema.fields, StructField(MALFORMED_COLUMN, StringType(), True)])
        options = {**options, "mode": "PERMISSIVE", "columnNameOfCorruptRecord": MALFORMED_COLUMN}
        if format == "csv":
            options.setdefault("header", "true")
    df = reader.schema(schema).options(**options).load(path)
    declared = df.drop(malformed) if malformed else df
    return Source(df, schema_gate(declared.schema, compiled), malformed)


def paced_rate(options, trigger_ms, start_ms):
    """The options of Spark's "rate-micro-batch" source that give what a rate source promises, or None.

    Spark's rate source counts whole seconds from the moment its query planned the first batch: that
    batch is always empty, and each second's rows wait for the next trigger after it, so the first
    rows of a run reach the page one to two seconds after the query starts. Its per-micro-batch twin
    gives every trigger rowsPerSecond x the trigger's length rows, stamped from `start_ms` (when the
    run opened its source) one trigger apart: the same values, the same rows per second while the batches keep
    up with the trigger, and rows in the first trigger. A ramp-up, or a rate that does not divide into
    whole rows per trigger, keeps Spark's rate source.
    """
    if "rampUpTime" in options or set(options) - {"rowsPerSecond", "numPartitions"}:
        return None
    rows = float(options.get("rowsPerSecond", 1)) * trigger_ms / 1000
    if rows < 1 or rows != int(rows):
        return None
    paced = {
        "rowsPerBatch": str(int(rows)),
        "startTimestamp": str(int(start_ms)),
        "advanceMillisPerBatch": str(trigger_ms),
    }
    if "numPartitions" in options:
        paced["numPartitions"] = options["numPartitions"]
    return paced


def trigger_millis(trigger):
    """A processingTime trigger's interval in milliseconds ("1 second", "500 milliseconds"); None for another."""
    every = (trigger or {}).get("processingTime")
    if not isinstance(every, str):
        return None
    amount, _, unit = every.partition(" ")
    scale = {"millisecond": 1, "second": 1000, "minute": 60_000}.get(unit.rstrip("s"))
    return int(amount) * scale if scale and amount.isdigit() else None


def is_directory(spark, path):
    jvm = spark.sparkContext._jvm
    jpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = jpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return fs.exists(jpath) and fs.getFileStatus(jpath).isDirectory()
