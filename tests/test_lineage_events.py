"""A run's event log as OpenLineage RunEvents (registry.lineage_events), checked against the spec's schemas."""

import copy
import json

import pytest
from openlineage.client.serde import Serde

from registry.lineage_events import dataset_name, run_lineage
from registry.models import RunStatus
from tests.openlineage_schema import problems
from tests.simulate import VALUE_MISSING, SimulatedRun, play

pytestmark = pytest.mark.django_db

ASSERTIONS_1_1_0 = "https://openlineage.io/spec/facets/1-1-0/DataQualityAssertionsDatasetFacet.json"


def told(run):
    return [json.loads(Serde.to_json(event)) for event in run_lineage(run)]


@pytest.fixture
def rejects_run(demo_contracts):
    return play(SimulatedRun(scenario="streaming-dq-rejects"), "rejects")


def test_a_run_is_told_as_start_a_running_event_per_batch_then_complete(rejects_run):
    events = told(rejects_run)

    assert [e["eventType"] for e in events] == ["START", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "COMPLETE"]
    assert {e["run"]["runId"] for e in events} == {str(rejects_run.id)}
    assert {(e["job"]["namespace"], e["job"]["name"]) for e in events} == {("dc43", "streaming-dq-rejects")}
    assert [e["run"]["facets"]["dc43"].get("batchId") for e in events] == [None, 0, 1, 2, 3, None]


def test_every_event_validates_against_the_openlineage_schemas_facets_included(rejects_run):
    for event in told(rejects_run):
        assert problems(event) == [], event["eventType"]


def test_the_schema_check_can_fail_a_facet_on_the_wrong_side_or_missing_a_field(rejects_run):
    running = told(rejects_run)[2]
    misplaced = copy.deepcopy(running)
    misplaced["outputs"][0]["outputFacets"] = misplaced["inputs"][0].pop("inputFacets")
    incomplete = copy.deepcopy(running)
    del incomplete["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"][0]["success"]
    wrong_version = copy.deepcopy(running)
    wrong_version["inputs"][0]["inputFacets"]["dataQualityAssertions"]["_schemaURL"] = ASSERTIONS_1_1_0.replace(
        "1-1-0", "1-0-1"
    )

    assert any("dataQualityAssertions" in p for p in problems(misplaced))
    assert any("'success' is a required property" in p for p in problems(incomplete))
    assert any("_schemaURL" in p for p in problems(wrong_version))


def test_assertions_sit_on_the_input_side_one_per_rule_with_their_results(rejects_run):
    running = told(rejects_run)[2]  # batch 1: 2 of 6 rows broke value >= 0

    (source,) = running["inputs"]
    facet = source["inputFacets"]["dataQualityAssertions"]
    assert facet["_schemaURL"].startswith(ASSERTIONS_1_1_0)
    assert [(a["assertion"], a["column"], a["success"], a["severity"]) for a in facet["assertions"]] == [
        ("value >= 0", "value", False, "error"),
        ("not_null", "value", True, "error"),
    ]
    assert all({"actual", "expected"} <= set(a) for a in facet["assertions"])
    assert not any("dataQualityAssertions" in o.get("outputFacets", {}) for o in running["outputs"])


def test_each_written_slice_carries_its_row_count_and_null_counts(rejects_run):
    running = told(rejects_run)[2]

    metrics = {o["name"].rpartition("/")[2]: o["facets"]["dataQualityMetrics"] for o in running["outputs"]}
    assert metrics["demo.streaming.events_processed"]["rowCount"] == 4
    assert metrics["demo.streaming.events_rejects"]["rowCount"] == 2
    assert metrics["demo.streaming.events_processed"]["columnMetrics"]["value"]["nullCount"] == 0
    versions = {o["facets"]["version"]["datasetVersion"] for o in running["outputs"]}
    assert versions == {rejects_run.slice_version(1)}


def test_the_dc43_run_facet_names_the_run_the_batch_and_the_contract_fingerprint(rejects_run):
    start, running = told(rejects_run)[:2]

    facet = running["run"]["facets"]["dc43"]
    assert facet["runId"] == str(rejects_run.id)
    assert facet["batchId"] == 0 and facet["batchStatus"] == "empty"
    assert facet["contract"] == "demo.streaming.events_processed@0.1.0"
    rejects_run.refresh_from_db()
    assert facet["contractFingerprint"] == rejects_run.contract_version.fingerprint
    assert facet["_schemaURL"] == "http://127.0.0.1:8000/static/openlineage/Dc43RunFacet-1-0-0.json#/$defs/Dc43RunFacet"
    assert start["run"]["facets"]["dc43"]["runType"] == "observe"


def test_a_blocked_run_fails_with_its_reason(demo_contracts):
    run = play(SimulatedRun(scenario="streaming-schema-break", run_type="enforce"), "schema-break")

    *_, end = told(run)
    assert run.status == RunStatus.BLOCKED
    assert end["eventType"] == "FAIL"
    assert "required column `value` is missing" in end["run"]["facets"]["errorMessage"]["message"]
    assert end["run"]["facets"]["dc43"]["status"] == "blocked"
    assert VALUE_MISSING["column"] == "value" and problems(end) == []


def test_an_interrupted_run_is_aborted(demo_contracts):
    sim = SimulatedRun().start().gate()
    sim.batch(6)
    sim.run.interrupt("its process (pid 1 on elsewhere) is no longer running")

    *_, end = told(sim.run)
    assert end["eventType"] == "ABORT"
    assert problems(end) == []


def test_datasets_are_named_from_the_contract_servers_with_a_fallback(settings):
    def named(*servers):
        return dataset_name({"id": "acme.orders", "servers": list(servers), "schema": [{"name": "orders"}]})

    assert named({"server": "s", "type": "local", "path": "/data/orders"}) == ("file", "/data/orders")
    assert named({"server": "s", "type": "s3", "location": "s3://lake/raw/orders"}) == ("s3://lake", "raw/orders")
    assert named({"server": "s", "type": "hdfs", "path": "hdfs://nn:9000/orders"}) == ("hdfs://nn:9000", "/orders")
    assert named({"server": "k", "type": "kafka", "host": "broker:9093", "topic": "orders"}) == (
        "kafka://broker:9093",
        "orders",
    )
    assert named({"server": "p", "type": "postgres", "host": "db", "port": 5433, "database": "shop"}) == (
        "postgres://db:5433",
        "shop.public.orders",
    )
    assert named({"server": "r", "type": "custom"}) == ("dc43", "acme.orders")
    assert named() == ("dc43", "acme.orders")
    settings.DC43_OPENLINEAGE_NAMESPACE = "acme-site"
    assert named() == ("acme-site", "acme.orders")


def test_a_queued_run_starts_when_a_worker_claims_it(demo_contracts):
    sim = SimulatedRun()
    sim.run.log("started", {"scenario": sim.run.scenario, "run_type": "observe", "queued": True})
    sim.run.log("claimed", {"host": "worker-1", "pid": 42, "waited": 0.5})
    sim.gate()
    sim.batch(6)
    sim.finish()

    assert [e["eventType"] for e in told(sim.run)] == ["START", "RUNNING", "COMPLETE"]
