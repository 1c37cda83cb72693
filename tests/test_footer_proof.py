"""Rules proven from parquet footers agree with the full measurement, and are proven where they plainly hold.

The agreement tests write the same rows with Spark and with pyarrow, in the shapes that trip a footer
proof (nulls, NaN, INT96 and INT64 timestamps, long and truncated strings, empty files, several row
groups, dictionary and plain pages), then compare every count the footers settle with
`pipelines.checks.measure` over the same files.
"""

import datetime
import decimal
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contracts.checks import compile_contract
from pipelines.footers import ColumnFacts, Finding, FooterProof, prove

UTC = datetime.UTC


def contract(**properties):
    return compile_contract(
        {
            "id": "footers",
            "version": "1.0.0",
            "schema": [{"name": "t", "properties": [{"name": name, **prop} for name, prop in properties.items()]}],
        }
    )


def q(*items):
    return {"quality": list(items)}


ALL_KINDS = contract(
    v={
        "required": True,
        "quality": [
            {"mustBeGreaterOrEqualTo": 0},
            {"mustBeLessThan": 100},
            {"mustBeBetween": [0, 10]},
            {"mustNotBeBetween": [20, 30]},
            {"mustBe": 5},
            {"mustNotBe": 7},
            {"mustBe": [1, 2, 3, 4, 5]},
            {"mustNotBe": [40, 41]},
            {"metric": "nullValues", "mustBeLessThan": 50, "unit": "percent"},
            {"metric": "missingValues", "arguments": {"missingValues": [99]}, "mustBe": 0},
            {"metric": "invalidValues", "arguments": {"validValues": [1, 2, 3, 4, 5]}},
            {"name": "v.even", "metric": "invalidValues", "arguments": {"pattern": "^[02468]+$"}},
        ],
        "logicalTypeOptions": {"multipleOf": 1},
    },
    s={
        "required": True,
        "logicalTypeOptions": {"maxLength": 10000},
        "quality": [
            {"rule": "enum", "mustBe": ["valid", "warning"]},
            {"mustNotBe": ["bad"]},
            {"mustBeGreaterOrEqualTo": "a"},
            {"metric": "missingValues", "arguments": {"missingValues": ["N/A"]}},
            {"metric": "missingValues", "name": "s.nulls_only", "arguments": {"missingValues": []}},
        ],
    },
    d={"required": True, "quality": [{"mustBeGreaterOrEqualTo": 0}]},
    t={"required": True, "logicalTypeOptions": {"minimum": "2020-01-01T00:00:00Z"}},
)
ALL_KINDS_NAMES = [r.name for r in ALL_KINDS.rules]
HEALTHY_PROVEN = [
    "v.required",
    "v.mustBeGreaterOrEqualTo",
    "v.mustBeLessThan",
    "v.mustBeBetween",
    "v.mustNotBeBetween",
    "v.mustNotBe",
    "v.mustNotBe#2",
    "v.nullValues",
    "v.missingValues",
    "s.required",
    "s.enum",
    "s.mustNotBe",
    "s.mustBeGreaterOrEqualTo",
    "s.missingValues",
    "s.nulls_only",
    "d.required",
    "t.required",
]
T0 = datetime.datetime(2024, 1, 1, tzinfo=UTC)
LONG = "valid" + "x" * 5000


def rows(v, s, d, t):
    return list(zip(v, s, d, t, strict=True))


CASES = {
    "healthy": rows([1, 2, 3, 4, 5], ["valid"] * 5, [0.5, 1.0, 2.0, 3.0, 4.0], [T0] * 5),
    "nulls everywhere": rows(
        [1, None, 3, None, 5],
        [None, "valid", None, "valid", "valid"],
        [None, 1.0, 2.0, 3.0, 4.0],
        [T0, None, T0, T0, None],
    ),
    "only nulls in a column": rows([None] * 3, [None] * 3, [None] * 3, [None] * 3),
    "negatives and a bad flag": rows(
        [-1, 2, 7, 99, 25], ["valid", "warning", "bad", "N/A", "valid"], [-1.0, 1.0, 2.0, 3.0, 4.0], [T0] * 5
    ),
    "every value fails": rows([200, 300, 400], ["bad"] * 3, [-1.0] * 3, [T0] * 3),
    "NaN among doubles": rows([1, 2, 3], ["valid"] * 3, [float("nan"), 1.0, -2.0], [T0] * 3),
    "two flags": rows([1, 2, 3, 4], ["valid", "warning", "valid", "warning"], [1.0] * 4, [T0] * 4),
    "long strings lose their statistics": rows([1, 2], [LONG, LONG + "y"], [1.0, 2.0], [T0, T0]),
    "empty": [],
}


def arrow_table(data):
    columns = list(zip(*data, strict=True)) if data else [[], [], [], []]
    return pa.table(
        {
            "v": pa.array(columns[0], pa.int64()),
            "s": pa.array(columns[1], pa.string()),
            "d": pa.array(columns[2], pa.float64()),
            "t": pa.array(columns[3], pa.timestamp("us", tz="UTC")),
        }
    )


def write_arrow(folder, data, **options):
    folder.mkdir(parents=True)
    pq.write_table(arrow_table(data), folder / "part-0.parquet", **options)
    return folder


ARROW_SHAPES = {
    "one row group": {},
    "a row group per two rows, plain pages": {"row_group_size": 2, "use_dictionary": False},
    "INT96 timestamps": {"use_deprecated_int96_timestamps": True},
    "no statistics": {"write_statistics": False},
}


def agree(proof, verdict):
    """Every count the footers settle equals the measured one; returns the rules they proved (0 failures)."""
    measured = {r.rule: (r.value if r.kind == "row_count" else r.failed) for r in verdict.results}
    assert proof.rows == verdict.row_count
    for name, finding in proof.findings.items():
        if finding.known:
            assert finding.count == measured[name], (name, finding, measured[name])
    if proof.violations is not None:
        assert proof.violations == verdict.violations
    return {name for name, finding in proof.findings.items() if finding.count == 0}


# --- fast: files written by pyarrow, judged by footers only ---------------------------------------------


def test_a_healthy_file_proves_every_rule_the_footers_can_hold(tmp_path):
    proof = prove(write_arrow(tmp_path / "f", CASES["healthy"]), ALL_KINDS)
    assert proof.rows == 5
    assert all(proof.proven(name) for name in HEALTHY_PROVEN)
    assert proof.nulls == {"v": 0, "s": 0, "d": 0, "t": 0}


def test_rules_the_footers_cannot_hold_are_left_to_the_measurement_with_a_reason(tmp_path):
    proof = prove(write_arrow(tmp_path / "f", CASES["healthy"]), ALL_KINDS)
    unknown = {name: proof.findings[name].why for name in proof.unknown}
    assert set(unknown) == {
        "v.multipleOf",
        "v.even",
        "s.maxLength",
        "d.mustBeGreaterOrEqualTo",
        "t.minimum",
        "v.mustBe",  # 1 to 5 are not all 5, nor all other than 5
    }
    # 1 to 5 are in the list: min and max cannot say which values lie between them, the dictionary page can
    assert proof.findings["v.mustBe#2"].why == "every dictionary value passes"
    assert "NaN" in unknown["d.mustBeGreaterOrEqualTo"]
    assert proof.measured() is None


def test_not_null_failures_are_counted_exactly_from_null_counts(tmp_path):
    proof = prove(write_arrow(tmp_path / "f", CASES["nulls everywhere"], row_group_size=2), ALL_KINDS)
    assert proof.findings["v.required"].count == 2
    assert proof.findings["s.required"].count == 2
    assert proof.nulls == {"v": 2, "s": 2, "d": 1, "t": 2}


def test_int96_timestamps_prove_no_comparison_and_from_pyarrow_not_even_their_nulls(tmp_path):
    proof = prove(write_arrow(tmp_path / "f", CASES["healthy"], use_deprecated_int96_timestamps=True), ALL_KINDS)
    assert proof.findings["t.minimum"].count is None
    assert "INT96" in proof.findings["t.minimum"].why
    assert proof.findings["t.required"].count is None  # pyarrow writes no statistics at all for INT96
    assert proof.proven("v.required")


def test_a_file_without_statistics_proves_only_its_row_count_and_what_its_dictionaries_hold(tmp_path):
    proof = prove(write_arrow(tmp_path / "f", CASES["healthy"], write_statistics=False), ALL_KINDS)
    assert proof.rows == 5
    known = {name for name, finding in proof.findings.items() if finding.known}
    assert known == {"v.mustBe#2", "v.mustNotBe#2", "v.invalidValues", "s.enum", "s.mustNotBe"}
    assert all(proof.findings[name].why.startswith("every dictionary value") for name in known)


def test_long_strings_lose_their_min_max_but_their_dictionary_still_settles_the_enum(tmp_path):
    proof = prove(write_arrow(tmp_path / "f", CASES["long strings lose their statistics"]), ALL_KINDS)
    assert proof.findings["s.mustBeGreaterOrEqualTo"].count is None
    assert proof.findings["s.enum"] == Finding("s.enum", 2, "every dictionary value fails")
    assert proof.proven("v.mustBeGreaterOrEqualTo")
    proof = prove(
        write_arrow(tmp_path / "plain", CASES["long strings lose their statistics"], use_dictionary=False), ALL_KINDS
    )
    assert proof.findings["s.enum"].count is None


def test_two_values_of_an_enum_are_proven_from_the_dictionary_page_not_from_min_and_max(tmp_path):
    proof = prove(write_arrow(tmp_path / "dictionary", CASES["two flags"]), ALL_KINDS)
    assert proof.proven("s.enum")
    assert proof.findings["s.enum"].why == "every dictionary value passes"
    proof = prove(write_arrow(tmp_path / "plain", CASES["two flags"], use_dictionary=False), ALL_KINDS)
    assert proof.findings["s.enum"].count is None
    assert "min and max differ" in proof.findings["s.enum"].why


def test_a_dictionary_is_no_proof_once_the_writer_fell_back_to_plain_pages(tmp_path):
    # The dictionary fills up after a few values; the rest, "zzz" included, goes into plain pages.
    keys = [f"k{i:03}" for i in range(200)]
    folder = tmp_path / "f"
    folder.mkdir()
    table = pa.table({"s": keys + ["zzz"]})
    pq.write_table(
        table, folder / "part-0.parquet", dictionary_pagesize_limit=64, write_batch_size=8, data_page_size=64
    )
    rules = contract(s={"quality": [{"rule": "enum", "mustBe": keys}]})
    finding = prove(folder, rules).findings["s.enum"]
    assert finding.count is None
    assert "fell back to plain" in finding.why


def test_an_empty_folder_or_file_proves_every_rule_with_zero_rows(tmp_path):
    assert prove(tmp_path, ALL_KINDS).measured() == {"rows": 0, "violations": 0, **dict.fromkeys(ALL_KINDS_NAMES, 0)}
    proof = prove(write_arrow(tmp_path / "f", CASES["empty"]), ALL_KINDS)
    assert proof.rows == 0 and proof.violations == 0


def test_a_column_missing_from_the_files_fails_required_on_every_row(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    pq.write_table(pa.table({"v": pa.array([1, 2, 3], pa.int64())}), folder / "part-0.parquet")
    proof = prove(folder, ALL_KINDS)
    assert proof.findings["s.required"].count == 3
    assert proof.proven("s.enum")  # nulls pass a set rule
    assert proof.findings["s.missingValues"].count == 3


def test_spark_bookkeeping_files_are_not_read_as_data(tmp_path):
    folder = write_arrow(tmp_path / "f", CASES["healthy"])
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-0.parquet.crc").write_bytes(b"\0\1")
    write_arrow(folder / "_temporary" / "0", CASES["healthy"])
    assert prove(folder, ALL_KINDS).rows == 5


def test_a_folder_that_is_not_there_is_an_error_not_an_empty_slice(tmp_path):
    with pytest.raises(FileNotFoundError):
        prove(tmp_path / "never-written", ALL_KINDS)
    with pytest.raises(ValueError, match="local files only"):
        prove("s3a://bucket/slice", ALL_KINDS)
    assert prove(f"file://{write_arrow(tmp_path / 'f', CASES['healthy'])}", ALL_KINDS).rows == 5


def test_a_column_a_partition_folder_may_hold_is_not_taken_for_nulls(tmp_path):
    folder = tmp_path / "f" / "s=valid"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"v": pa.array([1, 2], pa.int64())}), folder / "part-0.parquet")
    proof = prove(tmp_path / "f", ALL_KINDS)
    assert proof.findings["s.required"].count is None
    assert proof.findings["s.enum"].count is None
    assert proof.proven("v.required")


def test_bounds_that_straddle_a_threshold_settle_nothing():
    facts = ColumnFacts(kind="integer", rows=3, nulls=0, lo=-1, hi=5)
    from pipelines.footers import _settle_compare

    rule = ALL_KINDS.rule("v.mustBeGreaterOrEqualTo")
    assert _settle_compare(rule, facts) == (None, "min/max do not settle it")
    assert _settle_compare(rule, ColumnFacts(kind="integer", rows=3, nulls=1, lo=-9, hi=-1))[0] == 2


def test_violations_are_exact_only_when_the_counts_cannot_overlap():
    def proof(*counts):
        names = [f"r{i}" for i in range(len(counts))]
        return FooterProof(10, {}, {n: Finding(n, c) for n, c in zip(names, counts, strict=True)}, tuple(names))

    assert proof(0, 0).violations == 0
    assert proof(0, 3).violations == 3
    assert proof(2, 3).violations is None
    assert proof(10, 3).violations == 10
    assert proof(0, None).violations is None


def test_a_truncated_lower_bound_still_proves_a_comparison_but_never_an_equality():
    # Truncated statistics stay bounds: a lower bound above the threshold proves it; unequal bounds prove no value.
    from pipelines.footers import _settle_compare, _settle_set

    facts = ColumnFacts(kind="string", rows=2, nulls=0, lo=b"vali", hi=b"valj")
    assert _settle_compare(ALL_KINDS.rule("s.mustBeGreaterOrEqualTo"), facts)[0] == 0
    assert _settle_set(ALL_KINDS.rule("s.enum"), facts)[0] is None


# --- Spark: the footers and the full measurement agree -------------------------------------------------


def spark_frame(spark, data):
    return spark.createDataFrame(data, "v bigint, s string, d double, t timestamp")


SPARK_SHAPES = {
    "default (INT96 timestamps, dictionary pages)": {},
    "INT64 timestamps, plain pages, three files": {
        "conf": {"spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS"},
        "options": {"parquet.enable.dictionary": "false"},
        "partitions": 3,
    },
    "statistics truncated to 4 bytes": {"options": {"parquet.statistics.truncate.length": "4"}},
}


@pytest.fixture
def measure_folder(spark):
    from pipelines.checks import measure

    def run(folder):
        return measure(spark.read.parquet(str(folder)), ALL_KINDS)

    return run


@pytest.mark.spark
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("shape", list(SPARK_SHAPES))
def test_footers_of_spark_files_agree_with_the_measurement(spark, tmp_path, measure_folder, case, shape):
    settings = SPARK_SHAPES[shape]
    previous = {key: spark.conf.get(key) for key in settings.get("conf", {})}
    for key, value in settings.get("conf", {}).items():
        spark.conf.set(key, value)
    try:
        df = spark_frame(spark, CASES[case]).repartition(settings.get("partitions", 1))
        df.write.options(**settings.get("options", {})).parquet(str(tmp_path / "f"))
    finally:
        for key, value in previous.items():
            spark.conf.set(key, value)
    proven = agree(prove(tmp_path / "f", ALL_KINDS), measure_folder(tmp_path / "f"))
    if case == "healthy":
        # Truncated, "valid" has the bounds "vali" and "valj": no longer one value, so the enum is not proven.
        expected = set(HEALTHY_PROVEN) - ({"s.enum"} if "truncated" in shape else set())
        assert expected <= proven
    if case == "two flags" and "plain pages" not in shape:
        assert "s.enum" in proven  # from the dictionary page Spark wrote


@pytest.mark.spark
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("shape", list(ARROW_SHAPES))
def test_footers_of_pyarrow_files_agree_with_the_measurement(tmp_path, measure_folder, case, shape):
    folder = write_arrow(tmp_path / "f", CASES[case], **ARROW_SHAPES[shape])
    proven = agree(prove(folder, ALL_KINDS), measure_folder(folder))
    if case == "healthy" and shape != "no statistics":
        # pyarrow writes no statistics at all for an INT96 column, not even its null count
        assert set(HEALTHY_PROVEN) - ({"t.required"} if "INT96" in shape else set()) <= proven


@pytest.mark.spark
def test_a_truncated_string_statistic_is_a_bound_spark_agrees_with(spark, tmp_path, measure_folder):
    folder = tmp_path / "f"
    spark_frame(spark, CASES["long strings lose their statistics"][:1] * 3).coalesce(1).write.option(
        "parquet.statistics.truncate.length", "8"
    ).parquet(str(folder))
    stats = pq.read_metadata(next(folder.glob("*.parquet"))).row_group(0).column(1).statistics
    assert stats.has_min_max and len(stats.max_raw) <= 8 < len(LONG)  # really truncated
    proof = prove(folder, ALL_KINDS)
    # Bounds "validxxx" to "validxxy": neither listed value lies between them, so every row fails, exactly.
    assert proof.findings["s.enum"].count == 3
    assert proof.proven("s.mustBeGreaterOrEqualTo")
    agree(proof, measure_folder(folder))


def test_nan_is_what_the_float_rule_would_miss(tmp_path):
    # The reason float comparisons are never proven: Spark writes NaN as the max, pyarrow leaves it out.
    folder = write_arrow(tmp_path / "f", CASES["NaN among doubles"])
    stats = pq.read_metadata(folder / "part-0.parquet").row_group(0).column(2).statistics
    assert not math.isnan(stats.max)
    assert prove(folder, ALL_KINDS).findings["d.mustBeGreaterOrEqualTo"].count is None


# --- the slices the governed writer publishes ---------------------------------------------------------


def contract_like_demo(contract_id, **quality):
    """The demo output contract under another id, with more quality rules per column."""
    import copy

    from contracts.models import Contract, ContractVersion, derived_fields
    from pipelines.catalog import OUTPUT_CONTRACT

    document = copy.deepcopy(ContractVersion.objects.resolve(OUTPUT_CONTRACT, None).document)
    document["id"] = contract_id
    for prop in document["schema"][0]["properties"]:
        prop.setdefault("quality", []).extend(quality.get(prop["name"], []))
    contract = Contract.objects.create(contract_id=contract_id, name=contract_id)
    ContractVersion.objects.create(
        contract=contract,
        version=document["version"],
        status="active",
        document=document,
        **derived_fields(document["version"], document),
    )
    return contract_id


# 50 % of the flags may be other than `valid`: a tolerant metric rule, counted over every row of a batch.
FLAGS_METRIC = {
    "quality_flag": [
        {"metric": "invalidValues", "arguments": {"validValues": ["valid"]}, "mustBeLessThan": 50, "unit": "percent"}
    ]
}


@pytest.fixture
def governed_run(spark, settings, tmp_path, demo_contracts):
    """Drain a 3-file backlog of 8 rows each (every fourth row breaks `value >= 0`, unless healthy) through
    the real governed writer."""
    from pyspark.sql import functions as F

    from pipelines.catalog import OUTPUT_CONTRACT
    from pipelines.streaming import read_stream_with_contract, resolve_contract, write_stream_with_contract
    from registry.models import Run

    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")

    def backlog(healthy):
        source = str(tmp_path / ("healthy" if healthy else "backlog"))
        if not (tmp_path / ("healthy" if healthy else "backlog")).exists():
            bad = F.lit(False) if healthy else F.col("id") % 4 == 3
            spark.range(24, numPartitions=3).select(
                F.timestamp_seconds("id").alias("timestamp"),
                F.when(bad, -F.col("id")).otherwise(F.col("id")).alias("value"),
                F.when(bad, "warning").otherwise("valid").alias("quality_flag"),
            ).write.parquet(source)
        return source

    def run(rejects, contract=OUTPUT_CONTRACT, run_type="observe", healthy=False):
        source = backlog(healthy)
        run = Run.objects.create(scenario="footers", run_type=run_type, requested_seconds=1, started_via="python")
        schema = spark.read.parquet(source).schema
        options = {"maxFilesPerTrigger": 1}
        df = read_stream_with_contract(
            spark, OUTPUT_CONTRACT, format="parquet", path=source, schema=schema, options=options
        )
        handle = write_stream_with_contract(
            df, contract, run=run, run_type=run_type, rejects=rejects, trigger={"availableNow": True}
        )
        try:
            handle.query.awaitTermination()
        except Exception:
            assert handle.exception() is None  # a trigger refused after an enforce block ends the stream cleanly
        run.finish()
        return run, resolve_contract(contract)[1]

    return run


def recorded(batch, field="by"):
    return {r["rule"]: r.get(field) for r in batch.metrics["rules"]}


def assert_slices_hold_their_row_counts(spark, run):
    versions = list(run.dataset_versions.all())
    for version in versions:
        assert spark.read.parquet(version.path).count() == version.row_count == prove(version.path, ALL_KINDS).rows
    return versions


@pytest.mark.spark
@pytest.mark.django_db(transaction=True)
def test_a_healthy_stream_is_written_plainly_and_every_rule_is_proven_from_its_footers(spark, governed_run):
    run, _ = governed_run(None, healthy=True)
    batches = list(run.batches.order_by("batch_id"))
    assert [b.row_count for b in batches] == [8, 8, 8] and run.status == "ok"
    for batch in batches:
        assert set(recorded(batch).values()) == {"footer"}
        assert batch.metrics["timings"]["write_output"] > 0
    assert len(assert_slices_hold_their_row_counts(spark, run)) == 3


@pytest.mark.spark
@pytest.mark.django_db(transaction=True)
def test_rules_the_footers_do_not_settle_are_counted_by_one_scan_of_the_staged_files(spark, governed_run):
    run, _ = governed_run(None, contract=contract_like_demo("footers.metric", **FLAGS_METRIC))
    for batch in run.batches.all():
        by = recorded(batch)
        # `value >= 0` straddles zero and two flags share the dictionary: both need the rows
        assert by.pop("value.mustBeGreaterOrEqualTo") == by.pop("quality_flag.invalidValues") == "scan"
        assert set(by.values()) == {"footer"}
        failed = recorded(batch, "failed")
        assert failed["value.mustBeGreaterOrEqualTo"] == failed["quality_flag.invalidValues"] == 2
        assert batch.violations == 2 and batch.status == "warn"
    assert sum(v.row_count for v in assert_slices_hold_their_row_counts(spark, run)) == 24


@pytest.mark.spark
@pytest.mark.django_db(transaction=True)
def test_under_enforce_failures_found_after_the_plain_write_keep_the_batch_out_of_the_output(
    spark, settings, governed_run
):
    run, compiled = governed_run(None, run_type="enforce")
    assert run.status == "blocked"
    blocked = run.batches.get()
    assert blocked.status == "block" and recorded(blocked)["value.mustBeGreaterOrEqualTo"] == "scan"
    assert not run.dataset_versions.exists()
    # nor is anything of the batch left in staging: the plain write was removed, not published
    assert run.dataset_versions.count() == 0 and parquet_under(settings.DC43_DATA_ROOT, compiled.contract_id) == []


def parquet_under(root, name):
    from pathlib import Path

    return sorted(Path(root, name).rglob("*.parquet"))


@pytest.mark.spark
@pytest.mark.django_db(transaction=True)
def test_routing_counts_failures_on_the_rejects_write_and_the_rest_from_the_outputs_footers(spark, governed_run):
    from pipelines.catalog import REJECTS_CONTRACT

    run, _ = governed_run(REJECTS_CONTRACT, contract=contract_like_demo("footers.routed", **FLAGS_METRIC))
    for batch in run.batches.all():
        by, failed = recorded(batch), recorded(batch, "failed")
        assert by["value.mustBeGreaterOrEqualTo"] == "observe" and by["quality_flag.enum"] == "observe"
        # the tolerant metric: none of the output's rows (its footers), both of the rejected rows (observed)
        assert by["quality_flag.invalidValues"] == "footer" and failed["quality_flag.invalidValues"] == 2
        assert (batch.row_count, batch.rejected_rows, batch.violations) == (8, 2, 2)
    assert sorted(v.row_count for v in assert_slices_hold_their_row_counts(spark, run)) == [2, 2, 2, 6, 6, 6]


@pytest.mark.spark
@pytest.mark.django_db(transaction=True)
def test_a_contract_with_a_rule_footers_never_settle_is_measured_on_the_write(spark, governed_run):
    pattern = {"quality_flag": [{"rule": "regex", "mustBe": "^(valid|warning)$"}]}
    run, _ = governed_run(None, contract=contract_like_demo("footers.pattern", **pattern), healthy=True)
    for batch in run.batches.all():
        assert set(recorded(batch).values()) == {"observe"}
        assert batch.row_count == 8 and batch.violations == 0


@pytest.mark.spark
@pytest.mark.django_db(transaction=True)
def test_every_output_rule_is_proven_from_the_slices_a_routing_run_published(governed_run):
    from pipelines.catalog import REJECTS_CONTRACT

    run, compiled = governed_run(REJECTS_CONTRACT)
    versions = list(run.dataset_versions.filter(dataset__name=compiled.contract_id))
    assert len(versions) == 3
    for version in versions:
        proof = prove(version.path, compiled)
        assert proof.rows == version.row_count
        assert proof.unknown == [] and proof.violations == 0  # the output holds the passing rows only


@pytest.mark.spark
@pytest.mark.django_db(transaction=True)
def test_what_the_footers_of_a_published_slice_settle_equals_what_its_batch_recorded(governed_run):
    run, compiled = governed_run(None)
    for version in run.dataset_versions.select_related("micro_batch"):
        proof = prove(version.path, compiled)
        recorded = {r["rule"]: r["failed"] for r in version.micro_batch.metrics["rules"]}
        known = {name: f.count for name, f in proof.findings.items() if f.known}
        assert known == {name: recorded[name] for name in known}
        # required from null counts, the enum from the dictionary page; `value >= 0` straddles zero
        assert {"timestamp.required", "value.required", "quality_flag.required", "quality_flag.enum"} <= set(known)
        assert proof.findings["value.mustBeGreaterOrEqualTo"].count is None


# --- decimals, dates and NaN: the types whose statistics are easiest to over-read ----------------------

TYPED = contract(
    m={
        "required": True,
        "quality": [{"mustBeGreaterOrEqualTo": 0}, {"mustBeBetween": [0, 100]}, {"mustBeLessThan": 99.5}],
    },
    e={"required": True, "logicalTypeOptions": {"minimum": "2020-01-01"}},
    f={"required": True, "quality": [{"mustBeLessThan": 10}, {"mustNotBe": [1.5]}]},
)
TYPED_PROVEN_WHEN_HEALTHY = {"m.required", "m.mustBeGreaterOrEqualTo", "m.mustBeBetween", "e.required", "f.required"}
D = decimal.Decimal
DAY = datetime.date(2024, 1, 1)
TYPED_CASES = {
    "healthy": [(D("1.00"), DAY, 0.5), (D("2.50"), DAY, 1.0), (D("99.99"), DAY, 2.0)],
    "nulls and values on both sides": [
        (None, None, None),
        (D("-0.01"), datetime.date(2019, 12, 31), -1.0),
        (D("5.00"), DAY, 1.5),
    ],
    # Spark orders NaN above every number: NaN < 10 is false, so the row fails; min/max without NaN say 2.0.
    "NaN among doubles": [(D("1.00"), DAY, float("nan")), (D("2.00"), DAY, 1.0), (D("3.00"), DAY, 2.0)],
    "every decimal fails": [(D("-1.00"), DAY, 1.0), (D("-2.00"), DAY, 1.0)],
    "empty": [],
}


def typed_table(data):
    columns = list(zip(*data, strict=True)) if data else [[], [], []]
    return pa.table(
        {
            "m": pa.array(columns[0], pa.decimal128(10, 2)),
            "e": pa.array(columns[1], pa.date32()),
            "f": pa.array(columns[2], pa.float64()),
        }
    )


def measure_typed(spark, folder):
    from pipelines.checks import measure

    return measure(spark.read.parquet(str(folder)), TYPED)


@pytest.mark.spark
@pytest.mark.parametrize("case", list(TYPED_CASES))
@pytest.mark.parametrize("writer", ["spark", "pyarrow", "pyarrow, no dictionary"])
def test_decimal_date_and_double_footers_agree_with_the_measurement(spark, tmp_path, case, writer):
    folder = tmp_path / "f"
    if writer == "spark":
        spark.createDataFrame(TYPED_CASES[case], "m decimal(10,2), e date, f double").coalesce(1).write.parquet(
            str(folder)
        )
    else:
        folder.mkdir()
        pq.write_table(typed_table(TYPED_CASES[case]), folder / "part-0.parquet", use_dictionary="no" not in writer)
    proof = prove(folder, TYPED)
    proven = agree(proof, measure_typed(spark, folder))
    if case == "healthy":
        assert proven == TYPED_PROVEN_WHEN_HEALTHY
    if case == "every decimal fails":
        assert proof.findings["m.mustBeGreaterOrEqualTo"].count == 2  # max -1.00 < 0: every row, exactly
    # dates compare through Spark's cast of an ISO string, doubles may hide a NaN: never settled
    for name in ("e.minimum", "f.mustBeLessThan", "f.mustNotBe", "m.mustBeLessThan"):
        assert proof.findings[name].known is (case == "empty"), (name, proof.findings[name])


def test_min_and_max_of_doubles_leave_nan_out_so_a_proof_from_them_would_be_wrong(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    pq.write_table(typed_table(TYPED_CASES["NaN among doubles"]), folder / "part-0.parquet")
    stats = pq.read_metadata(folder / "part-0.parquet").row_group(0).column(2).statistics
    assert (stats.min, stats.max, stats.null_count) == (1.0, 2.0, 0)  # the NaN row is in neither bound
    finding = prove(folder, TYPED).findings["f.mustBeLessThan"]
    assert finding.count is None and "NaN" in finding.why
    assert prove(folder, TYPED).findings["f.required"].count == 0  # NaN is a value, not a null


def test_decimal_bounds_compare_exactly_with_whole_and_decimal_thresholds():
    from pipelines.footers import _settle_compare

    facts = ColumnFacts(kind="decimal", rows=2, nulls=0, lo=D("0.00"), hi=D("99.99"))
    assert _settle_compare(TYPED.rule("m.mustBeGreaterOrEqualTo"), facts)[0] == 0
    assert _settle_compare(TYPED.rule("m.mustBeBetween"), facts)[0] == 0
    assert _settle_compare(TYPED.rule("m.mustBeLessThan"), facts)[0] is None  # 99.5 is a double to Spark


def test_the_writer_plans_a_plain_write_only_for_rules_footers_can_ever_settle():
    from pipelines.footers import could_prove

    demo_like = contract(
        timestamp={"required": True},
        value={"required": True, "quality": [{"mustBeGreaterOrEqualTo": 0}]},
        quality_flag={"required": True, "quality": [{"rule": "enum", "mustBe": ["valid", "warning"]}]},
    )
    types = {"timestamp": "timestamp", "value": "bigint", "quality_flag": "string"}
    assert all(could_prove(rule, types[rule.column]) for rule in demo_like.rules)
    cases = {
        ("v.mustBeGreaterOrEqualTo", "double"): False,  # NaN
        ("v.mustBeGreaterOrEqualTo", "int"): True,
        ("v.mustBeGreaterOrEqualTo", "decimal(10,2)"): True,
        ("v.mustBe#2", "decimal(10,2)"): False,  # no set proof for decimals
        ("v.mustBe#2", "bigint"): True,
        ("v.even", "bigint"): False,  # a pattern
        ("v.multipleOf", "bigint"): False,
        ("t.minimum", "timestamp"): False,
        ("t.required", "timestamp"): True,
        ("s.maxLength", "string"): False,
        ("s.enum", "string"): True,
        ("s.missingValues", "string"): True,
        ("s.mustBeGreaterOrEqualTo", "bigint"): False,  # a string threshold on a number: Spark's cast
    }
    for (name, spark_type), expected in cases.items():
        assert could_prove(ALL_KINDS.rule(name), spark_type) is expected, (name, spark_type)
