"""At run time, on real Spark: sql rules judged on Spark's parsed plan, and patterns Java cannot compile skipped."""

import pytest
from sql_cases import ACCEPTED, REFUSED

from contracts.checks import compile_contract
from pipelines.checks import BatchChecks, measure
from pipelines.scenarios import run_streaming_scenario

pytestmark = pytest.mark.spark


def contract(table_quality=(), value_quality=()):
    return {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": "shop.orders",
        "version": "1.0.0",
        "schema": [
            {
                "name": "orders",
                "properties": [
                    {"name": "x", "logicalType": "integer", "quality": list(value_quality)},
                    {"name": "code", "logicalType": "string"},
                ],
                "quality": list(table_quality),
            }
        ],
    }


def sql_contract(query):
    return contract(table_quality=[{"type": "sql", "name": "check", "query": query, "mustBe": 0}])


@pytest.fixture
def batch(spark):
    return spark.createDataFrame([(1, "a1"), (2, "b2"), (-3, "c3")], "x bigint, code string")


@pytest.fixture
def restricted(settings):
    settings.DC43_SQL_RULES = "restricted"


def vetted(batch, query):
    """The sql rule as the run's checks hold it, after the run-time policy looked at it."""
    [rule] = BatchChecks(compile_contract(sql_contract(query)), batch.schema).compiled.rules
    return rule


@pytest.mark.parametrize("query", ACCEPTED)
def test_spark_accepts_what_the_save_check_accepts(restricted, batch, query):
    rule = vetted(batch, query)
    assert (rule.level, rule.note) == ("metric", "")


@pytest.mark.parametrize("query", list(REFUSED))
def test_spark_refuses_what_the_save_check_refuses(restricted, batch, query):
    rule = vetted(batch, query)
    assert rule.level == "skipped"
    assert rule.note.startswith("refused: ")
    assert REFUSED[query] in rule.note


def test_sql_rules_are_skipped_when_the_site_has_them_off(settings, batch):
    settings.DC43_SQL_RULES = "off"
    verdict = measure(batch, compile_contract(sql_contract("SELECT COUNT(*) FROM {object} WHERE x < 0")))
    [result] = verdict.results
    assert (result.skipped, result.note, result.value) == (True, "sql rules are disabled on this site", None)
    assert verdict.verdict == "ok"


def test_a_restricted_site_measures_an_accepted_query(restricted, batch):
    verdict = measure(batch, compile_contract(sql_contract("SELECT COUNT(*) FROM {object} WHERE x < 0")))
    [result] = verdict.results
    assert (result.skipped, result.value, result.verdict) == (False, 1, "block")


def test_a_refused_query_is_skipped_never_executed(restricted, batch, spark):
    query = "SELECT COUNT(*) FROM {object} WHERE x IN (SELECT CAST(reflect('java.lang.System', 'exit', 1) AS INT))"
    verdict = measure(batch, compile_contract(sql_contract(query)))
    [result] = verdict.results
    assert (result.skipped, result.note) == (True, "refused: calls reflect()")
    assert verdict.verdict == "ok"
    assert spark.range(1).count() == 1  # the JVM is still there


def test_a_failing_query_shows_a_short_message_not_a_spark_exception(restricted, batch):
    verdict = measure(batch, compile_contract(sql_contract("SELECT COUNT(*) FROM {object} WHERE no_such_column < 0")))
    [result] = verdict.results
    assert result.note.startswith("could not run: ")
    assert "no_such_column" in result.note
    assert "\n" not in result.note and len(result.note) <= 200
    assert "at org.apache" not in result.note and "Traceback" not in result.note
    assert "/" not in result.note.replace("<path>", "")


def test_a_pattern_java_cannot_compile_is_skipped_with_the_reason(batch):
    rules = [{"rule": "regex", "mustBe": r"(?P<digits>\d+)"}, {"mustBeGreaterOrEqualTo": 0}]
    verdict = measure(batch, compile_contract(contract(value_quality=rules)), "observe")
    pattern, minimum = verdict.results
    assert pattern.skipped
    assert pattern.note == "pattern Java cannot compile: Unknown inline modifier near index 2"
    assert (minimum.skipped, minimum.failed) == (False, 1)
    assert verdict.verdict == "warn"


@pytest.mark.django_db(transaction=True)
def test_a_stored_contract_with_a_java_invalid_pattern_runs_and_the_rule_is_skipped(
    spark, settings, tmp_path, demo_contracts
):
    from contracts.models import ContractVersion

    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    output = ContractVersion.objects.resolve("demo.streaming.events_processed", "0.1.0")
    document = output.document
    value = next(p for p in document["schema"][0]["properties"] if p["name"] == "value")
    value["quality"] = [*(value.get("quality") or []), {"rule": "regex", "name": "py-only", "mustBe": r"(?P<d>\d+)"}]
    # Saved before the check existed: straight into the table, around the model's validation.
    ContractVersion.objects.filter(pk=output.pk).update(document=document)

    run = run_streaming_scenario("streaming-valid", seconds=3)

    assert (run.status, run.reason) == ("ok", "")
    batches = [b for b in run.batches.all() if b.row_count]
    assert batches
    for batch in batches:
        [rule] = [r for r in batch.metrics["rules"] if r["rule"] == "py-only"]
        assert rule["skipped"] and rule["note"].startswith("pattern Java cannot compile")
