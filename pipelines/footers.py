"""Rules proven from the parquet footers of files just written, without reading their rows.

A staged slice's footers hold, per row group and column, the row count, the null count and a
min/max of the non-null values. From those alone many rules are settled exactly: a not-null rule
fails on exactly `null_count` rows; `value >= 0` holds for every row when the smallest value is
>= 0 (nulls pass a comparison, docs/semantics.md); an enum holds when the only value is in the set,
or when every value of the chunks' dictionary pages is (read only when min and max cannot tell).

A finding is a proof or nothing: whenever the footers cannot settle a rule exactly (no statistic,
INT96 timestamps, floats whose NaN the statistics ignore, a type whose comparison is Spark's own
cast), the rule is "not known" with the reason, and the caller measures it with Spark.

Statistics may be shortened by the writer (parquet-java truncates long binary values when asked,
and both writers drop values above a size), but the format requires min_value/max_value to remain
bounds of the values, truncated or not; so the proofs here only use them as bounds, and "the only
value" only when the lower and upper bound are equal.

Why one module of this size: every rule kind's proof sits beside its exactness conditions, since
a proof is only as good as its weakest case, and the agreement test holds them all at once.
"""

import decimal
import functools
import struct
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from contracts.checks import ROW, SKIPPED

SIGNED_INTEGERS = {"NONE", "INT_8", "INT_16", "INT_32", "INT_64"}
NOT_FROM_FOOTERS = {
    "pattern": "footers hold no statistic a pattern can be judged by",
    "length": "footers hold no string lengths",
    "size": "footers hold no array sizes",
    "multiple_of": "min/max cannot show divisibility",
    "duplicate_values": "footers cannot count duplicates",
    "sql": "a query needs the rows",
}


@dataclass(frozen=True)
class Finding:
    """What the footers say about one rule: `count` is exact when not None (failing rows; rows for rowCount)."""

    rule: str
    count: int | None
    why: str = ""

    @property
    def known(self):
        return self.count is not None


@dataclass
class ColumnFacts:
    """One column over every row group of every file: exact null count and bounds of the non-null values."""

    kind: str = ""
    rows: int = 0
    nulls: int | None = 0
    lo: object = None
    hi: object = None
    bounds_known: bool = True
    why: str = ""
    chunks: list = field(default_factory=list)  # (file, ColumnChunkMetaData) with non-null values

    @functools.cached_property
    def dictionary(self):
        """(every distinct value a non-null row can hold, why) from the chunks' dictionary pages; (None, why)."""
        if self.kind not in ("integer", "string"):
            return None, f"no dictionary proof for a {self.kind} column"
        if not self.chunks:
            return None, "no column chunk to read"
        values = set()
        for path, chunk in self.chunks:
            found, why = dictionary_values(path, chunk)
            if found is None:
                return None, why
            values |= found
        return values, ""

    @property
    def non_null(self):
        return None if self.nulls is None else self.rows - self.nulls

    def add_chunk(self, kind, rows, nulls, stats, chunk=None):
        if self.kind and kind != self.kind:
            self.kind, self.why = "mixed", "the files disagree about the column's type"
        self.kind = self.kind or kind
        self.rows += rows
        self.nulls = None if self.nulls is None or nulls is None else self.nulls + nulls
        if nulls is not None and rows - nulls == 0:
            return  # only nulls here: nothing to bound
        self.chunks.append(chunk)
        if kind not in ("integer", "decimal", "string"):
            self._unknown(f"no usable min/max for a {kind} column")
        elif stats is None or not stats.has_min_max:
            self._unknown("a row group has no min/max")
        else:
            lo, hi = (stats.min_raw, stats.max_raw) if kind == "string" else (stats.min, stats.max)
            self.lo = lo if self.lo is None or lo < self.lo else self.lo
            self.hi = hi if self.hi is None or hi > self.hi else self.hi

    def add_absent(self, rows, as_null=True):
        """A file without the column: its rows read as null (docs/semantics.md), unless a partition folder names it."""
        self.rows += rows
        self.nulls = None if self.nulls is None or not as_null else self.nulls + rows
        if not as_null:
            self._unknown("the column may come from a partition folder")

    def _unknown(self, why):
        if self.bounds_known:
            self.bounds_known, self.why = False, why


@dataclass
class FooterProof:
    """The footers of one slice: its row count, per-column null counts, and a finding per rule."""

    rows: int
    nulls: dict
    findings: dict = field(default_factory=dict)
    row_rules: tuple = ()

    @property
    def unknown(self):
        """Rules the footers could not settle: these need a Spark measurement."""
        return [f.rule for f in self.findings.values() if not f.known]

    def proven(self, rule):
        """The rule's failures are exactly zero, known for sure."""
        return self.findings[rule].count == 0

    @property
    def violations(self):
        """Rows breaking at least one row rule, when the counts alone make it exact; else None."""
        counts = [self.findings[name].count for name in self.row_rules]
        if any(c is None for c in counts):
            return None
        failing = [c for c in counts if c]
        if len(failing) <= 1:
            return sum(failing)
        if max(failing) == self.rows:
            return self.rows  # one rule fails every row: every row is a violation
        return None  # several rules fail some rows: their overlap is not in the footers

    def measured(self):
        """The measurements `contracts.checks.judge` takes, when every rule is known; else None."""
        if self.unknown or self.violations is None:
            return None
        return {"rows": self.rows, "violations": self.violations, **{n: f.count for n, f in self.findings.items()}}


# Spark's type names (`DataType.simpleString`) by what their parquet statistics can settle.
SPARK_FAMILIES = {
    "tinyint": "integer",
    "smallint": "integer",
    "int": "integer",
    "bigint": "integer",
    "string": "string",
}
SET_KINDS = ("in_set", "not_in_set", "invalid_values", "missing_values")


def could_prove(rule, spark_type):
    """Whether footers can ever settle `rule` on a column Spark types `spark_type`: the writer's plan.

    A rule that cannot is measured on the write itself (`observe`), since it would need the rows
    anyway; one that can may still fail to be proven on a given batch (a straddling min/max, a missing
    statistic), and then one aggregation over the staged files counts it.
    """
    kind = rule.kind
    if rule.level == SKIPPED or kind in ("not_null", "null_values", "row_count"):
        return True
    if kind in NOT_FROM_FOOTERS or kind not in ("compare", *SET_KINDS):
        return False
    family = "decimal" if spark_type.startswith("decimal") else SPARK_FAMILIES.get(spark_type)
    if family is None:
        return False
    facts = ColumnFacts(kind=family)
    if kind == "compare":
        raw = rule.threshold if isinstance(rule.threshold, (list, tuple)) else [rule.threshold]
        return rule.operator in INTERVALS and all(_operand(v, facts) is not None for v in raw)
    if family == "decimal" or (kind == "invalid_values" and rule.params.get("pattern") is not None):
        return False
    values = rule.params.get("values")
    if kind == "missing_values" and not values:
        return True
    return values is not None and _members(values, family) is not None


def parquet_files(path):
    """The data files of a written folder (Spark's `_SUCCESS`, `.crc` and other hidden files are not data)."""
    text = str(path).removeprefix("file://").removeprefix("file:")
    if "://" in text:
        raise ValueError(f"footers are read from local files only, not {path}")
    folder = Path(text)
    if not folder.is_dir():
        # A folder that is not there must never read as "no rows, every rule holds".
        raise FileNotFoundError(f"no written folder at {path}")
    files = [p for p in folder.rglob("*.parquet") if not p.name.startswith(("_", "."))]
    # `_temporary/` holds an unfinished write's attempts; `.hidden/` is nobody's data either
    return sorted(p for p in files if not any(part.startswith(("_", ".")) for part in p.relative_to(folder).parts))


def prove(files, compiled):
    """Read the footers of `files` (a folder, or a list of parquet files) and settle what they can of `compiled`."""
    if isinstance(files, (str, Path)):
        files = parquet_files(files)
    # In a partitioned layout (`k=v/` folders) a column a file lacks may come from its folder: not a null.
    absent_is_null = not any("=" in part for path in files for part in Path(path).parent.parts[-1:])
    rules = [r for r in compiled.rules if r.level != SKIPPED]
    columns = {}
    rows = 0
    wanted = {r.column for r in rules if r.column} | set(compiled.column_names)
    for path in files:
        metadata = pq.read_metadata(path)
        rows += metadata.num_rows
        schema = _flat_columns(metadata.schema)
        for name in wanted | set(schema):
            facts = columns.setdefault(name, ColumnFacts())
            if name not in schema:
                facts.add_absent(metadata.num_rows, absent_is_null)
                continue
            index, kind, required = schema[name]
            for g in range(metadata.num_row_groups):
                group = metadata.row_group(g)
                chunk = group.column(index)
                stats = chunk.statistics
                facts.add_chunk(kind, group.num_rows, _null_count(stats, required), stats, (path, chunk))
    proof = FooterProof(
        rows=rows,
        nulls={name: facts.nulls for name, facts in columns.items()},
        row_rules=tuple(r.name for r in rules if r.level == ROW),
    )
    for rule in rules:
        facts = columns.get(rule.column) if rule.column else None
        count, why = _settle(rule, facts, rows)
        proof.findings[rule.name] = Finding(rule.name, count, why)
    return proof


def _flat_columns(schema):
    """{name: (column index, kind, required)} of the top-level, non-repeated columns of a parquet schema."""
    found = {}
    for i in range(len(schema.names)):
        column = schema.column(i)
        if "." in column.path or column.max_repetition_level:
            continue  # nested or repeated: no rule here reads them from footers
        found[column.path] = (i, _kind(column), column.max_definition_level == 0)
    return found


def _kind(column):
    physical, logical = column.physical_type, column.logical_type.type
    if physical in ("INT32", "INT64") and logical in ("NONE", "INT") and column.converted_type in SIGNED_INTEGERS:
        return "integer"
    if logical == "DECIMAL":
        return "decimal"
    if physical == "BYTE_ARRAY" and logical == "STRING":
        return "string"
    if physical in ("FLOAT", "DOUBLE"):
        return "float"
    if physical == "INT96":
        return "INT96 timestamp"
    return logical.lower() if logical != "NONE" else physical.lower()


def _null_count(stats, required):
    if required:
        return 0  # the schema itself forbids nulls
    if stats is None or not stats.has_null_count:
        return None
    return stats.null_count


def _settle(rule, facts, rows):
    """(exact count or None, why) for one rule."""
    kind = rule.kind
    if kind == "row_count":
        return rows, ""
    if rows == 0 and kind != "sql":  # a query may return a value even over no rows
        return 0, "no rows"
    if kind in NOT_FROM_FOOTERS:
        return None, NOT_FROM_FOOTERS[kind]
    if facts is None:
        return None, "the rule names no column"
    if kind in ("not_null", "null_values"):
        return (facts.nulls, "") if facts.nulls is not None else (None, "a row group has no null count")
    if facts.non_null == 0:
        return (0 if kind != "missing_values" else facts.nulls), "only nulls, and nulls pass"
    if kind == "compare":
        return _settle_compare(rule, facts)
    if kind in ("in_set", "not_in_set", "invalid_values", "missing_values"):
        return _settle_set(rule, facts)
    return None, f"no footer proof for {kind} rules"


def _operand(value, facts):
    """The threshold in the statistics' own terms, or None when Spark's comparison would need a cast we do not copy."""
    if facts.kind in ("integer", "decimal"):
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if facts.kind == "decimal" and isinstance(value, decimal.Decimal):
            return value
        return None
    if facts.kind == "string" and isinstance(value, str):
        return value.encode("utf-8")  # Spark orders strings by their UTF-8 bytes, as parquet does
    return None


def _usable(facts):
    if facts.kind not in ("integer", "decimal", "string"):
        return f"a {facts.kind} column's statistics do not settle it" + (
            " (min/max ignore NaN)" if facts.kind == "float" else ""
        )
    if not facts.bounds_known:
        return facts.why
    return ""


# operator -> (every non-null value passes, every non-null value fails), given the bounds lo <= v <= hi
INTERVALS = {
    "mustBeGreaterThan": (lambda lo, hi, t: lo > t, lambda lo, hi, t: hi <= t),
    "mustBeGreaterOrEqualTo": (lambda lo, hi, t: lo >= t, lambda lo, hi, t: hi < t),
    "mustBeLessThan": (lambda lo, hi, t: hi < t, lambda lo, hi, t: lo >= t),
    "mustBeLessOrEqualTo": (lambda lo, hi, t: hi <= t, lambda lo, hi, t: lo > t),
    "mustBeBetween": (lambda lo, hi, t: lo >= t[0] and hi <= t[1], lambda lo, hi, t: hi < t[0] or lo > t[1]),
    "mustNotBeBetween": (lambda lo, hi, t: hi < t[0] or lo > t[1], lambda lo, hi, t: lo >= t[0] and hi <= t[1]),
    "mustBe": (lambda lo, hi, t: lo == hi == t, lambda lo, hi, t: t < lo or t > hi),
    "mustNotBe": (lambda lo, hi, t: t < lo or t > hi, lambda lo, hi, t: lo == hi == t),
}


def _settle_compare(rule, facts):
    problem = _usable(facts)
    if problem:
        return None, problem
    if rule.operator not in INTERVALS:
        return None, f"unknown operator {rule.operator}"
    between = rule.operator in ("mustBeBetween", "mustNotBeBetween")
    raw = list(rule.threshold) if between and isinstance(rule.threshold, (list, tuple)) else [rule.threshold]
    threshold = [_operand(v, facts) for v in raw]
    if any(t is None for t in threshold) or (between and len(threshold) != 2):
        return None, "the threshold compares through a cast Spark does, not the footers"
    t = threshold if between else threshold[0]
    passes, fails = INTERVALS[rule.operator]
    if passes(facts.lo, facts.hi, t):
        return 0, "min/max within bounds"
    if fails(facts.lo, facts.hi, t) and facts.non_null is not None:
        return facts.non_null, "min/max show every non-null value fails"
    return None, "min/max do not settle it"


def _settle_set(rule, facts):
    values = rule.params.get("values")
    if rule.kind == "invalid_values" and rule.params.get("pattern") is not None:
        return None, "a pattern needs the rows"
    if rule.kind == "missing_values" and not values:
        return (facts.nulls, "only nulls are missing") if facts.nulls is not None else (None, "no null count")
    if values is None:
        return None, "no list of values"
    if facts.kind not in ("integer", "string"):
        return None, f"no set proof for a {facts.kind} column" + (
            " (min/max ignore NaN)" if facts.kind == "float" else ""
        )
    members = _members(values, facts.kind)
    if members is None:
        return None, "the values compare as text, through Spark's cast"
    extra = facts.nulls if rule.kind == "missing_values" else 0
    if extra is None:
        return None, "a row group has no null count"
    listed_fails = rule.kind in ("not_in_set", "missing_values")  # else a value missing from the list fails
    why = facts.why
    if facts.bounds_known:
        inside = [m for m in members if facts.lo <= m <= facts.hi]
        only_listed = facts.lo == facts.hi and facts.lo in members
        all_pass, all_fail = (not inside, only_listed) if listed_fails else (only_listed, not inside)
        if all_pass:
            return extra, "min/max settle the set"
        if all_fail and facts.non_null is not None:
            return facts.non_null + extra, "min/max show every non-null value fails"
        why = "min and max differ: the footer does not list the values between them"
    dictionary, dictionary_why = facts.dictionary
    if dictionary is None:
        return None, f"{why}; {dictionary_why}"
    fails = {v for v in dictionary if (v in members) == listed_fails}
    if not fails:
        return extra, "every dictionary value passes"
    if fails == dictionary and facts.non_null is not None:
        return facts.non_null + extra, "every dictionary value fails"
    return None, "some dictionary values fail: how many rows hold them is in the rows"


def _members(values, kind):
    """The listed values as the statistics hold them, following pipelines.checks._values_match."""
    if kind == "string":
        return {str(v).encode("utf-8") for v in values}
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return set(values)
    return None


# --- dictionary pages --------------------------------------------------------------------------------
# The footer does not list a dictionary's values, the chunk's first page does. They prove a set rule
# only when every data page of the chunk is dictionary-encoded (a writer falls back to plain pages when
# the dictionary grows too large, and those pages may hold any value): so every page header is read.

DICTIONARY_PAGE, DATA_PAGE, DATA_PAGE_V2 = 2, 0, 3
DICTIONARY_ENCODINGS = {2, 8}  # PLAIN_DICTIONARY, RLE_DICTIONARY
CODECS = {
    "UNCOMPRESSED": None,
    "SNAPPY": "snappy",
    "GZIP": "gzip",
    "ZSTD": "zstd",
    "BROTLI": "brotli",
    "LZ4_RAW": "lz4_raw",
}
MAX_CHUNK_BYTES = 16 * 1024 * 1024


def dictionary_values(path, chunk):
    """(the values of one column chunk's dictionary page, "") when all its data pages use it; else (None, why)."""
    if not chunk.has_dictionary_page:
        return None, "a column chunk has no dictionary"
    if chunk.compression not in CODECS:
        return None, f"{chunk.compression} pages are not read here"
    if chunk.total_compressed_size > MAX_CHUNK_BYTES:
        return None, "a column chunk too large to walk"
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(chunk.total_compressed_size)
    try:
        return _walk_pages(data, chunk)
    except (IndexError, ValueError, KeyError, struct.error) as exc:
        return None, f"a page header could not be read ({exc})"


def _walk_pages(data, chunk):
    values, pos = None, 0
    while pos < len(data):
        header, pos = _thrift_struct(data, pos)
        page_type, uncompressed, compressed = header[1], header[2], header[3]
        if page_type == DICTIONARY_PAGE:
            if values is not None:
                return None, "a column chunk has two dictionaries"
            body = data[pos : pos + compressed]
            codec = CODECS[chunk.compression]
            if codec:
                body = pa.Codec(codec).decompress(body, decompressed_size=uncompressed).to_pybytes()
            values = _plain_values(body, header[7][1], chunk.physical_type)
        elif page_type in (DATA_PAGE, DATA_PAGE_V2):
            encoding = header[5][2] if page_type == DATA_PAGE else header[8][4]
            if encoding not in DICTIONARY_ENCODINGS:
                return None, "a data page is not dictionary-encoded (the writer fell back to plain)"
            if values is None:
                return None, "a data page comes before the dictionary"
        pos += compressed
    if values is None:
        return None, "no dictionary page found"
    return values, ""


def _plain_values(body, count, physical_type):
    if physical_type == "BYTE_ARRAY":
        values, pos = set(), 0
        for _ in range(count):
            (length,) = struct.unpack_from("<i", body, pos)
            values.add(bytes(body[pos + 4 : pos + 4 + length]))
            pos += 4 + length
        return values
    width, form = {"INT32": (4, "<i"), "INT64": (8, "<q")}[physical_type]
    return {struct.unpack_from(form, body, i * width)[0] for i in range(count)}


def _varint(data, pos):
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _zigzag(n):
    return (n >> 1) ^ -(n & 1)


def _thrift_struct(data, pos):
    """A Thrift compact-protocol struct as {field id: value} (page headers are small structs of these)."""
    fields, last = {}, 0
    while True:
        head = data[pos]
        pos += 1
        if head == 0:
            return fields, pos
        delta, kind = head >> 4, head & 0x0F
        if delta:
            last += delta
        else:
            raw, pos = _varint(data, pos)
            last = _zigzag(raw)
        fields[last], pos = _thrift_value(data, pos, kind)


def _thrift_value(data, pos, kind):
    if kind in (1, 2):  # booleans live in the field header
        return kind == 1, pos
    if kind == 3:
        return data[pos], pos + 1
    if kind in (4, 5, 6):
        raw, pos = _varint(data, pos)
        return _zigzag(raw), pos
    if kind == 7:
        return struct.unpack_from("<d", data, pos)[0], pos + 8
    if kind == 8:
        length, pos = _varint(data, pos)
        return bytes(data[pos : pos + length]), pos + length
    if kind in (9, 10):
        head = data[pos]
        pos += 1
        size, element = head >> 4, head & 0x0F
        if size == 15:
            size, pos = _varint(data, pos)
        items = []
        for _ in range(size):
            if element in (1, 2):  # in a list, a boolean takes a byte of its own
                item, pos = data[pos] == 1, pos + 1
            else:
                item, pos = _thrift_value(data, pos, element)
            items.append(item)
        return items, pos
    if kind == 11:
        size, pos = _varint(data, pos)
        if not size:
            return {}, pos
        types = data[pos]
        pos += 1
        found = {}
        for _ in range(size):
            key, pos = _thrift_value(data, pos, types >> 4)
            found[key], pos = _thrift_value(data, pos, types & 0x0F)
        return found, pos
    if kind == 12:
        return _thrift_struct(data, pos)
    raise ValueError(f"unknown thrift type {kind}")
