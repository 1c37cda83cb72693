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


def read_source(spark, compiled, *, format, path=None, options=None):
    """A streaming DataFrame of the source, and its input gate. Raises SourceError before any query starts."""
    if format not in FORMATS:
        raise SourceError(f"unknown source format {format!r}; choose one of: {', '.join(FORMATS)}")
    options = {key: str(value) for key, value in (options or {}).items()}
    reader = spark.readStream.format(format)
    malformed = None
    if format == "rate":
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


def is_directory(spark, path):
    jvm = spark.sparkContext._jvm
    jpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = jpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return fs.exists(jpath) and fs.getFileStatus(jpath).isDirectory()
