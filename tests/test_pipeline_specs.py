"""Pipeline specs: what a YAML spec may say, and a refusal that names the field for each thing it may not."""

import sys
import textwrap

import pytest

from pipelines.specs import SpecInvalid, build, demo_spec_files, fields_of, load_demo_pipelines, read_specs
from registry.pipelines import Pipeline

pytestmark = pytest.mark.django_db


def landing_spec(**changes):
    spec = {
        "key": "my-orders",
        "title": "My orders",
        "source": {"format": "json", "path": "var/landing/mine", "options": {"maxFilesPerTrigger": 2}},
        "input_contract": "shop.orders_raw",
        "output_contract": "shop.orders@0.1.0",
        "rejects_contract": "shop.orders_rejects",
        "transform": "pipelines.transforms.orders",
        "run_type": "observe",
        "trigger": {"processingTime": "2 seconds"},
    }
    spec.update(changes)
    return spec


def refusals(spec):
    with pytest.raises(SpecInvalid) as caught:
        build(spec)
    return caught.value.problems


@pytest.fixture
def allowed_module(tmp_path, settings, monkeypatch):
    """A transform module of our own on sys.path: importing it would leave a mark, so a check must only read it."""
    module = tmp_path / "dc43_test_transforms.py"
    mark = tmp_path / "imported"
    module.write_text(
        textwrap.dedent(
            f"""\
            open({str(mark)!r}, "w").close()


            def tidy(df):
                return df


            class NotAFunction:
                pass
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.DC43_TRANSFORM_MODULES = ["pipelines.transforms", "dc43_test_transforms"]
    yield mark
    sys.modules.pop("dc43_test_transforms", None)


def test_a_valid_landing_spec_builds_an_unsaved_pipeline(demo_contracts):
    pipeline, outcome = build(landing_spec())
    assert outcome == "created"
    assert pipeline.pk is None
    assert pipeline.source_format == "json"
    assert pipeline.source_options == {"maxFilesPerTrigger": 2}
    assert pipeline.contract_version("output_contract").version == "0.1.0"
    assert pipeline.contract_version("input_contract").contract.contract_id == "shop.orders_raw"


def test_an_unknown_input_contract_is_refused_naming_the_field(demo_contracts):
    assert refusals(landing_spec(input_contract="shop.x")) == ["input_contract: no contract shop.x"]


def test_an_unknown_version_of_a_known_contract_is_refused_naming_the_field_and_version(demo_contracts):
    [problem] = refusals(landing_spec(rejects_contract="shop.orders_rejects@9.9.9"))
    assert problem.startswith("rejects_contract: ")
    assert "'9.9.9'" in problem and "0.1.0" in problem


def test_a_transform_outside_the_allowed_modules_is_refused(demo_contracts):
    [problem] = refusals(landing_spec(transform="os.system"))
    assert problem == "transform: 'os.system' is outside the allowed modules (pipelines.transforms)"


def test_a_transform_in_an_allowed_module_is_found_by_reading_the_module_never_importing_it(
    demo_contracts, allowed_module
):
    pipeline, _ = build(landing_spec(transform="dc43_test_transforms.tidy"))
    assert pipeline.transform == "dc43_test_transforms.tidy"
    assert not allowed_module.exists()
    assert "dc43_test_transforms" not in sys.modules


def test_a_name_the_allowed_module_does_not_define_as_a_function_is_refused(demo_contracts, allowed_module):
    assert refusals(landing_spec(transform="dc43_test_transforms.NotAFunction")) == [
        "transform: module dc43_test_transforms defines no function NotAFunction"
    ]
    assert refusals(landing_spec(transform="dc43_test_transforms.missing")) == [
        "transform: module dc43_test_transforms defines no function missing"
    ]
    assert not allowed_module.exists()


def test_an_allowed_module_that_does_not_exist_is_refused(demo_contracts, settings):
    settings.DC43_TRANSFORM_MODULES = ["dc43_no_such_module"]
    assert refusals(landing_spec(transform="dc43_no_such_module.f")) == [
        "transform: module dc43_no_such_module cannot be found"
    ]


def test_a_bad_source_format_is_refused_naming_source_format(demo_contracts):
    [problem] = refusals(landing_spec(source={"format": "xml", "path": "var/landing/mine"}))
    assert problem == "source.format: 'xml' is not a source format; use rate, json, csv or parquet"


def test_a_file_source_without_a_path_and_a_rate_source_with_one_are_refused(demo_contracts):
    assert refusals(landing_spec(source={"format": "csv"})) == [
        "source.path: a csv source needs the path of the folder it watches"
    ]
    assert refusals(landing_spec(source={"format": "rate", "path": "var/x"})) == [
        "source.path: the rate source reads no files; leave the path empty"
    ]


def test_options_must_be_a_mapping_of_scalars(demo_contracts):
    source = {"format": "json", "path": "var/landing/mine"}
    assert refusals(landing_spec(source={**source, "options": ["a"]})) == [
        "source.options: must be a mapping of option names to values"
    ]
    assert refusals(landing_spec(source={**source, "options": {"nested": {"a": 1}}})) == [
        "source.options: nested: must be a string, a number or a boolean"
    ]


def test_unknown_keys_are_refused_by_name_at_the_top_and_in_the_source(demo_contracts):
    spec = landing_spec(schedule="hourly", source={"format": "json", "path": "p", "glob": "*.json"})
    assert refusals(spec) == ["schedule: unknown key", "source.glob: unknown key"]


def test_missing_required_keys_are_each_named():
    with pytest.raises(SpecInvalid) as caught:
        fields_of({"key": "k"})
    assert caught.value.problems == [
        "source: is required",
        "input_contract: is required",
        "output_contract: is required",
    ]


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ({"processingTime": "2 hours"}, "processingTime must read 'N seconds', 'N milliseconds' or 'N minutes'"),
        ({"processingTime": 2}, "processingTime must read"),
        ({"availableNow": False}, "availableNow can only be true"),
        ({"once": True}, "unknown trigger 'once'"),
        ({"processingTime": "2 seconds", "availableNow": True}, "give exactly one of"),
        ("2 seconds", "give exactly one of"),
    ],
)
def test_a_bad_trigger_is_refused(demo_contracts, trigger, message):
    [problem] = refusals(landing_spec(trigger=trigger))
    assert problem.startswith("trigger: " + message)


@pytest.mark.parametrize("trigger", [{"processingTime": "500 milliseconds"}, {"availableNow": True}])
def test_both_kinds_of_trigger_are_accepted(demo_contracts, trigger):
    pipeline, _ = build(landing_spec(trigger=trigger))
    assert pipeline.trigger == trigger


def test_a_bad_run_type_and_a_bad_key_are_refused_naming_them(demo_contracts):
    assert refusals(landing_spec(run_type="strict")) == ["run_type: 'strict' is not a run type; use observe or enforce"]
    assert refusals(landing_spec(key="My_Orders")) == ["key: use lower-case letters, digits and '-' only"]


def test_a_file_may_hold_a_list_of_specs_under_pipelines():
    text = "pipelines:\n  - key: a\n  - key: b\n"
    assert [spec["key"] for spec in read_specs(text)] == ["a", "b"]
    with pytest.raises(SpecInvalid, match="pipelines: must be a list"):
        read_specs("pipelines: {key: a}\n")


def test_malformed_yaml_is_refused_with_its_position():
    with pytest.raises(SpecInvalid, match="malformed YAML at line 2"):
        read_specs("key: a\n  source: [\n")


def test_the_four_demo_specs_are_valid_and_match_the_scenarios(demo_contracts):
    pipelines = {}
    for path in demo_spec_files():
        [spec] = read_specs(path.read_text())
        pipeline, _ = build(spec)
        pipelines[pipeline.key] = pipeline
    assert sorted(pipelines) == ["orders-landing", "streaming-dq-rejects", "streaming-schema-break", "streaming-valid"]
    assert [pipelines[k].default_seconds for k in ("streaming-valid", "streaming-dq-rejects")] == [8, 8]
    assert pipelines["streaming-schema-break"].default_seconds == 3
    assert pipelines["streaming-schema-break"].run_type == "enforce"
    assert pipelines["streaming-dq-rejects"].rejects_contract.startswith("demo.streaming.events_rejects")
    landing = pipelines["orders-landing"]
    assert (landing.source_format, landing.source_options) == ("json", {"maxFilesPerTrigger": 2})
    assert landing.source_location().endswith("var/landing/orders")


def test_the_demo_loader_of_the_migration_restores_missing_pipelines_and_leaves_edited_ones_alone(demo_contracts):
    load_demo_pipelines(Pipeline)
    Pipeline.objects.filter(key="orders-landing").delete()
    Pipeline.objects.filter(key="streaming-valid").update(title="Renamed by an admin")
    assert load_demo_pipelines(Pipeline) == 1
    assert Pipeline.objects.get(key="orders-landing").source_path == "var/landing/orders"
    assert Pipeline.objects.get(key="streaming-valid").title == "Renamed by an admin"
    assert Pipeline.objects.count() == 4


def test_default_seconds_must_be_at_least_one_and_a_left_out_trigger_is_two_seconds(demo_contracts):
    assert refusals(landing_spec(default_seconds=0)) == [
        "default_seconds: Ensure this value is greater than or equal to 1."
    ]
    spec = landing_spec()
    del spec["trigger"]
    pipeline, _ = build(spec)
    assert pipeline.trigger == {"processingTime": "2 seconds"}
