"""Pipelines name contracts by id with an optional range; a run resolves the newest active version in range once."""

import json

import pytest

from contracts.models import ContractVersion
from contracts.semver import Semver, bump_between
from registry.models import Run
from registry.pipelines import Pipeline, parse_contract_ref


@pytest.mark.parametrize(
    ("ref", "admitted", "refused"),
    [
        ("shop.orders@^1", ["1.0.0", "1.2.3", "1.99.0"], ["0.9.0", "2.0.0", "1.3.0-rc1"]),
        ("shop.orders@^1.2", ["1.2.0", "1.5.1"], ["1.1.9", "2.0.0"]),
        ("shop.orders@^1.2.3", ["1.2.3", "1.9.0"], ["1.2.2", "2.0.0"]),
        ("shop.orders@~1.2", ["1.2.0", "1.2.9"], ["1.3.0", "1.1.0"]),
        ("shop.orders@~1.2.3", ["1.2.3", "1.2.4"], ["1.2.2", "1.3.0"]),
        ("shop.orders@~1", ["1.0.0", "1.4.0"], ["2.0.0"]),
        ("shop.orders@^0.2", ["0.2.0", "0.2.7"], ["0.3.0", "0.1.9", "1.0.0"]),
        ("shop.orders@1.2.3", ["1.2.3"], ["1.2.4", "1.2.2"]),
        ("shop.orders", ["0.1.0", "7.0.0"], []),
    ],
)
def test_a_reference_admits_the_versions_of_its_range(ref, admitted, refused):
    parsed = parse_contract_ref(ref)
    assert parsed.contract_id == "shop.orders"
    assert all(parsed.admits(v) for v in admitted)
    assert not any(parsed.admits(v) for v in refused)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("@^1", "names no contract"),
        ("shop.orders@", "give a version or a range after '@'"),
        ("shop.orders@^x", "is not a range"),
        ("shop.orders@~1.2.3.4", "is not a range"),
        ("shop.orders@^01", "is not a range"),
    ],
)
def test_a_malformed_reference_says_what_is_wrong(ref, message):
    with pytest.raises(ValueError, match=message):
        parse_contract_ref(ref)


def test_bumps_below_one_count_the_minor_number_as_breaking():
    assert bump_between("0.1.0", "0.2.0") == "major"
    assert bump_between("0.1.0", "0.1.1") == "minor"
    assert bump_between("1.2.3", "2.0.0") == "major"
    assert bump_between("1.2.3", "1.3.0") == "minor"
    assert bump_between("1.2.3", "1.2.4") == "patch"
    assert bump_between("1.2.3", "1.2.3") == "none"
    assert Semver.parse("1.0.0-rc1") < Semver.parse("1.0.0")


# --- with the database ---


def add_version(contract_id, version, status="active"):
    document = ContractVersion.objects.get(contract__contract_id=contract_id, version="0.1.0").document
    document = json.loads(json.dumps(document))
    document["version"] = version
    cv = ContractVersion.from_text(json.dumps(document), status=status)
    cv.save()
    return cv


@pytest.fixture
def orders_versions(demo_contracts):
    for version, status in [("1.0.0", "active"), ("1.2.0", "active"), ("1.3.0", "draft"), ("2.0.0", "active")]:
        add_version("shop.orders", version, status)


def pipeline_with(output):
    pipeline = Pipeline.objects.get(key="orders-landing")
    pipeline.output_contract = output
    pipeline.full_clean()
    pipeline.save()
    return pipeline


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("shop.orders@^1", "1.2.0"),  # newest active in 1.x: never 2.0.0, never the 1.3.0 draft
        ("shop.orders@~1.0", "1.0.0"),
        ("shop.orders@1.3.0", "1.3.0"),  # an exact version is named on purpose, whatever its status
        ("shop.orders", "2.0.0"),
        ("shop.orders@^2", "2.0.0"),
    ],
)
def test_a_reference_resolves_the_newest_active_version_in_its_range(orders_versions, ref, expected):
    assert pipeline_with(ref).contract_version("output_contract").version == expected


@pytest.mark.django_db
def test_activating_a_new_major_version_never_switches_a_caret_pipeline(orders_versions):
    pipeline = pipeline_with("shop.orders@^1")
    add_version("shop.orders", "3.0.0")
    assert pipeline.contract_version("output_contract").version == "1.2.0"
    add_version("shop.orders", "1.4.0")
    assert pipeline.contract_version("output_contract").version == "1.4.0"


@pytest.mark.django_db
def test_a_range_with_nothing_active_is_refused_when_the_pipeline_is_saved(orders_versions):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="has no active version in range \\^5"):
        pipeline_with("shop.orders@^5")
    with pytest.raises(ValidationError, match="is not a range"):
        pipeline_with("shop.orders@^one")


@pytest.mark.django_db
def test_a_run_records_the_versions_it_resolved_at_its_start(orders_versions):
    pipeline = pipeline_with("shop.orders@^1")
    run = Run.objects.create(pipeline=pipeline, scenario=pipeline.key)
    pins = run.pin_contracts()
    assert pins["output_contract"] == ("shop.orders", "1.2.0")
    assert pins["input_contract"] == ("shop.orders_raw", "0.1.0")
    assert pins["rejects_contract"] == ("shop.orders_rejects", "0.1.0")
    run.refresh_from_db()
    assert run.contract_version is None  # the output gate records it, with the pinned version
    assert run.input_contract_version.contract.contract_id == "shop.orders_raw"
    assert run.rejects_contract_version.contract.contract_id == "shop.orders_rejects"
