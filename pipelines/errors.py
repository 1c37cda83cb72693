"""How a failure reads in a run's reason, a rule's note or a command's message."""

import re

# py4j's first line names only the JVM method that raised ("An error occurred while calling o387.parquet.").
PY4J_CALL = "An error occurred while calling"
# Spark's own message starts at its error class, e.g. "[FAILED_READ_FILE.NO_HINT] ... reading file file:///x".
SPARK_ERROR = re.compile(r"\[[A-Z][A-Z0-9_]*(?:\.[A-Z0-9_]+)*\][^\n]*")


def first_line(exc, limit=None):
    """The first line of an exception's message (Spark's run to pages), or its type when it says nothing.

    For an error raised in the JVM, py4j's first line says nothing a person can act on: the message of
    Spark's error class says what went wrong (which file could not be read, for instance)."""
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    line = lines[0]
    if line.startswith(PY4J_CALL) and len(lines) > 1:
        spark_error = SPARK_ERROR.search(text)
        line = spark_error.group(0).strip() if spark_error else lines[1].lstrip(": ")
    return line[:limit]
