"""Invariant 6: all rules of a batch are measured by one Spark job, never one job per rule."""

import uuid

import pytest

from contracts.checks import compile_contract

pytestmark = pytest.mark.spark

SIX_RULES = {
    "apiVersion": "v3.1.0",
    "kind": "DataContract",
    "id": "t",
    "version": "1.0.0",
    "schema": [
        {
            "name": "t",
            "properties": [
                {
                    "name": "a",
                    "required": True,
                    "quality": [{"mustBeGreaterOrEqualTo": 0}, {"mustBeLessThan": 1000000}],
                },
                {"name": "b", "required": True, "quality": [{"rule": "enum", "mustBe": ["x", "y"]}]},
                {"name": "c", "logicalTypeOptions": {"maxLength": 5}},
            ],
        }
    ],
}
NAIVE_PREDICATES = ["a is not null", "a >= 0", "a < 1000000", "b is not null", "b in ('x', 'y')", "length(c) <= 5"]


@pytest.fixture
def jobs_of(spark):
    sc = spark.sparkContext

    def count(fn):
        group = f"one-pass-{uuid.uuid4()}"
        sc.setJobGroup(group, group)
        try:
            fn()
        finally:
            sc.setLocalProperty("spark.jobGroup.id", None)
        return len(sc.statusTracker().getJobIdsForGroup(group))

    # Without adaptive execution an aggregation is exactly one job, so the count reads plainly.
    spark.conf.set("spark.sql.adaptive.enabled", "false")
    yield count
    spark.conf.set("spark.sql.adaptive.enabled", "true")


@pytest.fixture
def data(spark, tmp_path):
    path = str(tmp_path / "src")
    spark.range(0, 100000, numPartitions=4).selectExpr(
        "id as a", "case when id % 3 = 0 then 'x' else 'z' end as b", "'abc' as c"
    ).write.parquet(path)
    return spark.read.parquet(path)


def test_six_rules_are_measured_by_one_job(data, jobs_of):
    from pipelines.checks import measure

    compiled = compile_contract(SIX_RULES)
    assert len(compiled.rules) == 6
    verdict = None

    def run():
        nonlocal verdict
        verdict = measure(data, compiled)

    assert jobs_of(run) == 1
    assert verdict.results[4].failed == 66666  # b.enum: two rows in three are 'z'


def test_the_naive_way_runs_a_job_per_rule_so_the_counter_can_tell(data, jobs_of):
    assert jobs_of(lambda: [data.where(f"not ({p})").count() for p in NAIVE_PREDICATES]) >= 6


def test_measuring_while_writing_adds_no_job_to_the_write(data, jobs_of, tmp_path):
    from pipelines.checks import BatchChecks

    checks = BatchChecks(compile_contract(SIX_RULES), data.schema)
    plain = jobs_of(lambda: data.write.parquet(str(tmp_path / "plain")))
    observed = {}

    def governed():
        df, observation = checks.observe(data)
        df.write.parquet(str(tmp_path / "governed"))
        observed.update(observation.get)

    assert jobs_of(governed) == plain == 1
    assert checks.counts_from(observed)["rows"] == 100000
