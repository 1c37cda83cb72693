"""`manage.py load_pipelines`: create, update or leave pipelines from YAML, all or nothing across the files."""

import textwrap
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from pipelines.specs import demo_spec_files
from registry.pipelines import Pipeline

pytestmark = pytest.mark.django_db


def run_command(*args):
    out = StringIO()
    try:
        call_command("load_pipelines", *[str(a) for a in args], stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)
    return 0, out.getvalue(), ""


def spec_file(folder, name, text):
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


ORDERS = """\
    key: my-orders
    title: My orders
    source:
      format: json
      path: /data/landing/mine
    input_contract: shop.orders_raw
    output_contract: shop.orders
    run_type: observe
    trigger: {availableNow: true}
    """


@pytest.fixture
def no_pipelines(demo_contracts):
    Pipeline.objects.all().delete()


def test_a_new_spec_creates_its_pipeline_and_loading_it_again_changes_nothing(tmp_path, no_pipelines):
    path = spec_file(tmp_path, "orders.yaml", ORDERS)
    assert run_command(path) == (0, "created: my-orders\n", "")
    first = Pipeline.objects.get(key="my-orders")
    assert (first.source_path, first.trigger, first.rejects_contract) == (
        "/data/landing/mine",
        {"availableNow": True},
        "",
    )
    assert run_command(path) == (0, "unchanged: my-orders\n", "")
    assert Pipeline.objects.get(key="my-orders").updated_at == first.updated_at


def test_a_changed_spec_updates_its_pipeline_and_a_left_out_field_returns_to_its_default(tmp_path, no_pipelines):
    spec_file(tmp_path, "orders.yaml", ORDERS + "rejects_contract: shop.orders_rejects\n")
    run_command(tmp_path / "orders.yaml")
    spec_file(tmp_path, "orders.yaml", ORDERS.replace("run_type: observe", "run_type: enforce"))
    assert run_command(tmp_path / "orders.yaml") == (0, "updated: my-orders\n", "")
    pipeline = Pipeline.objects.get(key="my-orders")
    assert (pipeline.run_type, pipeline.rejects_contract) == ("enforce", "")


def test_a_file_may_list_several_pipelines(tmp_path, no_pipelines):
    second = ORDERS.replace("key: my-orders", "key: more-orders")
    text = "pipelines:\n" + "".join(
        "  - " + textwrap.indent(textwrap.dedent(spec), "    ").lstrip() for spec in (ORDERS, second)
    )
    path = tmp_path / "all.yaml"
    path.write_text(text)
    code, out, _ = run_command(path)
    assert (code, out) == (0, "created: my-orders\ncreated: more-orders\n")
    assert Pipeline.objects.count() == 2


def test_one_invalid_spec_saves_nothing_from_any_file_and_names_the_file_and_field(tmp_path, no_pipelines):
    good = spec_file(tmp_path, "good.yaml", ORDERS)
    bad = spec_file(
        tmp_path, "bad.yaml", ORDERS.replace("my-orders", "bad-orders").replace("shop.orders\n", "shop.x\n")
    )
    code, out, err = run_command(good, bad)
    assert code == 2
    assert out == ""
    assert f"{bad}: output_contract: no contract shop.x" in err
    assert str(good) not in err
    assert not Pipeline.objects.exists()


def test_an_invalid_update_leaves_the_stored_pipeline_as_it_was(tmp_path, no_pipelines):
    path = spec_file(tmp_path, "orders.yaml", ORDERS)
    run_command(path)
    spec_file(tmp_path, "orders.yaml", ORDERS.replace("format: json", "format: xml") + "transform: os.system\n")
    code, _, err = run_command(path)
    assert code == 2
    assert "source.format: 'xml' is not a source format" in err
    assert "transform: 'os.system' is outside the allowed modules" in err
    assert Pipeline.objects.get(key="my-orders").source_format == "json"


def test_unknown_keys_and_malformed_yaml_are_refused_naming_them(tmp_path, no_pipelines):
    unknown = spec_file(tmp_path, "unknown.yaml", ORDERS + "schedule: hourly\n")
    broken = spec_file(tmp_path, "broken.yaml", "key: [\n")
    code, _, err = run_command(unknown, broken)
    assert code == 2
    assert f"{unknown}: schedule: unknown key" in err
    assert f"{broken}: malformed YAML" in err
    assert not Pipeline.objects.exists()


def test_the_same_key_in_two_files_is_refused(tmp_path, no_pipelines):
    first = spec_file(tmp_path, "a.yaml", ORDERS)
    second = spec_file(tmp_path, "b.yaml", ORDERS)
    code, _, err = run_command(first, second)
    assert code == 2
    assert f"{second}: key: my-orders is also defined in {first}" in err
    assert not Pipeline.objects.exists()


def test_a_missing_file_is_refused(tmp_path, no_pipelines):
    code, _, err = run_command(tmp_path / "nowhere.yaml")
    assert code == 2
    assert "nowhere.yaml: cannot be read" in err


def test_the_demo_spec_files_load(no_pipelines):
    code, out, _ = run_command(*demo_spec_files())
    assert code == 0
    assert sorted(out.splitlines()) == [
        "created: orders-landing",
        "created: streaming-dq-rejects",
        "created: streaming-schema-break",
        "created: streaming-valid",
    ]
