"""ODCS slaProperties read as per-batch SLAs, measured and judged: pure Python, no Spark."""

from contracts.checks import BLOCK, ENFORCE, METRIC, OBSERVE, OK, SKIPPED, WARN, compile_contract, judge
from contracts.sla import Sla, element_column, measure, parse_slas


def contract(*slas, custom=None):
    document = {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": "c",
        "version": "1.0.0",
        "schema": [{"name": "events", "properties": [{"name": "ts"}, {"name": "value"}]}],
        "slaProperties": list(slas),
    }
    if custom:
        document["customProperties"] = custom
    return document


LATENCY = {"property": "latency", "value": 10, "unit": "m", "element": "events.ts", "driver": "operational"}


def test_latency_frequency_and_time_to_detect_are_read_with_their_unit_element_and_driver():
    slas = parse_slas(
        contract(
            LATENCY,
            {"property": "frequency", "value": 2, "unit": "h"},
            {"property": "timeToDetect", "value": 1, "unit": "days", "element": "ts"},
        )
    )
    assert [(s.property, s.value, s.unit, s.column, s.driver, s.problem) for s in slas] == [
        ("latency", 10.0, "m", "ts", "operational", ""),
        ("frequency", 2.0, "h", None, "", ""),
        ("timeToDetect", 1.0, "days", "ts", "", ""),
    ]


def test_properties_a_batch_cannot_measure_are_left_out():
    assert (
        parse_slas(
            contract(
                {"property": "retention", "value": 3, "unit": "y"},
                {"property": "generalAvailability", "value": "2024-01-01"},
            )
        )
        == []
    )


def test_an_unknown_unit_a_missing_element_or_a_text_value_is_a_problem_not_a_crash():
    slas = parse_slas(
        contract(
            {"property": "latency", "value": 4, "unit": "fortnights", "element": "ts"},
            {"property": "latency", "value": 4, "unit": "h"},
            {"property": "frequency", "value": "hourly", "unit": "h"},
        )
    )
    assert [s.problem for s in slas] == [
        "unit 'fortnights' is not d, h, m or s",
        "latency needs `element` naming the event-time column",
        "value 'hourly' is not a number",
    ]


def test_element_names_a_column_alone_or_after_its_table():
    assert element_column("events.ts") == "ts"
    assert element_column("ts") == "ts"
    assert element_column("orders.created_at, orders.updated_at") == "created_at"
    assert element_column("") is None


def test_slas_compile_to_metric_rules_after_the_quality_rules_and_problems_to_skipped_ones():
    compiled = compile_contract(contract(LATENCY, {"property": "latency", "value": 4, "unit": "h"}))
    rules = [r for r in compiled.rules if r.kind == "sla"]
    assert [(r.name, r.level, r.operator, r.threshold, r.unit) for r in rules] == [
        ("sla.latency@ts", METRIC, "mustBeLessOrEqualTo", 10.0, "m"),
        ("sla.latency", SKIPPED, "mustBeLessOrEqualTo", 0.0, "h"),
    ]


def test_latency_is_verdict_time_minus_the_oldest_event_time_in_the_sla_unit():
    sla = Sla("latency", 10, "m", column="ts")
    assert measure(sla, verdict_at=1000.0, oldest_event=400.0) == 10.0
    assert measure(sla, verdict_at=1000.0, oldest_event=None) == {"skipped": "no event time in ts"}


def test_frequency_is_the_gap_since_the_previous_batch_with_rows():
    sla = Sla("frequency", 1, "s")
    assert measure(sla, verdict_at=99.0, started_at=70.5, previous_started=60.0) == 10.5
    assert "skipped" in measure(sla, verdict_at=99.0, started_at=70.5, previous_started=None)


def test_time_to_detect_starts_at_the_oldest_failing_row_and_is_skipped_without_one():
    sla = Sla("timeToDetect", 1, "h", column="ts")
    assert measure(sla, verdict_at=7200.0, oldest_event=0.0, oldest_failing_event=3600.0) == 1.0
    assert measure(sla, verdict_at=7200.0, oldest_event=0.0) == {"skipped": "no failing row with an event time"}


def sla_result(document, measured, run_type=ENFORCE):
    verdict = judge(compile_contract(document), {"rows": 5, **measured}, run_type)
    return verdict, next(r for r in verdict.results if r.kind == "sla")


def test_a_breach_warns_by_default_even_under_enforce():
    verdict, result = sla_result(contract(LATENCY), {"sla.latency@ts": 12.5})
    assert (result.passed, result.verdict, result.value, result.unit, result.threshold) == (
        False,
        WARN,
        12.5,
        "m",
        10.0,
    )
    assert verdict.verdict == WARN


def test_a_breach_blocks_under_enforce_when_the_contract_says_error_for_it():
    severe = [{"property": "dc43.slaSeverity", "value": {"latency": "error"}}]
    assert sla_result(contract(LATENCY, custom=severe), {"sla.latency@ts": 12.5})[1].verdict == BLOCK
    assert sla_result(contract(LATENCY, custom=severe), {"sla.latency@ts": 12.5}, OBSERVE)[1].verdict == WARN
    assert sla_result(contract(LATENCY, custom=severe), {"sla.latency@ts": 9.0})[1].verdict == OK


def test_an_sla_the_batch_gives_nothing_to_measure_is_skipped_and_ok():
    _, result = sla_result(contract(LATENCY), {"sla.latency@ts": {"skipped": "no event time in ts"}})
    assert (result.skipped, result.verdict, result.note) == (True, OK, "no event time in ts")
