"""The runner reads the input gate's verdict: a source that breaks its contract blocks an enforce run and is said so under observe."""

import copy

import pytest

from contracts.demo import demo_contracts as demo_documents
from contracts.models import Contract, ContractVersion
from pipelines.scenarios import run_streaming_scenario
from registry.pipelines import Pipeline

pytestmark = [pytest.mark.spark, pytest.mark.django_db(transaction=True)]

STRICTER_INPUT = "test.events.with_region"


@pytest.fixture(autouse=True)
def stricter_input_contract(settings, tmp_path, demo_contracts):
    """An input contract the rate source breaks: it also requires a `region` column."""
    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    document = copy.deepcopy(next(p.document for p in demo_documents() if p.contract_id == "demo.streaming.events"))
    document["id"] = STRICTER_INPUT
    document["schema"][0]["properties"].append(
        {"name": "region", "logicalType": "string", "physicalType": "string", "required": True}
    )
    contract = Contract.objects.create(contract_id=STRICTER_INPUT)
    ContractVersion(contract=contract, version="0.1.0", status="active", document=document).save()
    # The scenario is a pipeline row: point its input at the stricter contract.
    Pipeline.objects.filter(key="streaming-valid").update(input_contract=STRICTER_INPUT)


def read_stage(run):
    return [e.payload for e in run.events.filter(kind="stage").order_by("seq") if e.payload["stage"] == "read"][-1]


def test_a_source_breaking_its_input_contract_blocks_an_enforce_run_before_any_query_starts():
    run = run_streaming_scenario("streaming-valid", seconds=2, run_type="enforce")

    assert run.status == "blocked"
    assert run.reason == (
        "input schema gate blocked the stream: region: required column is missing (expected string, found missing)"
    )
    assert (read_stage(run)["status"], read_stage(run)["detail"]) == ("blocked", run.reason)
    assert not run.batches.exists() and not run.dataset_versions.exists()
    assert run.contract_version is None  # the output gate was never reached
    assert run.events.order_by("seq").last().kind == "complete"


def test_an_observe_run_goes_on_and_its_read_stage_says_the_source_breaks_the_input_contract():
    run = run_streaming_scenario("streaming-valid", seconds=1, run_type="observe")

    assert run.status == "ok"
    assert read_stage(run) == {
        "stage": "read",
        "status": "done",
        "detail": "source breaks the input contract; observed, the run goes on",
    }
    assert run.batches.exists()
