"""Pipelines in the admin: listed with their source and contracts, edited through the spec validation."""

import pytest
from django.urls import reverse

from pipelines.specs import load_demo_pipelines
from registry.pipelines import Pipeline

pytestmark = pytest.mark.django_db
ADD_URL = reverse("admin:registry_pipeline_add")


@pytest.fixture
def admin_client_with_demo(admin_client, demo_contracts):
    load_demo_pipelines(Pipeline)
    return admin_client


def form(**changes):
    data = {
        "key": "my-orders",
        "title": "My orders",
        "source_format": "json",
        "source_path": "/data/landing/mine",
        "source_options": '{"maxFilesPerTrigger": 2}',
        "input_contract": "shop.orders_raw",
        "output_contract": "shop.orders",
        "rejects_contract": "shop.orders_rejects@0.1.0",
        "transform": "pipelines.transforms.orders",
        "run_type": "observe",
        "trigger": '{"processingTime": "2 seconds"}',
        "default_seconds": "",
    }
    data.update(changes)
    return data


def field_errors(response):
    return {field: list(errors) for field, errors in response.context["adminform"].form.errors.items()}


def test_the_list_shows_key_title_source_contracts_and_run_type(admin_client_with_demo):
    page = admin_client_with_demo.get(reverse("admin:registry_pipeline_changelist")).content.decode()
    assert "orders-landing" in page
    assert "Orders from the landing folder" in page
    assert "json var/landing/orders" in page
    assert "shop.orders_raw → shop.orders, shop.orders_rejects" in page
    assert "streaming-schema-break" in page and "enforce" in page


def test_a_valid_pipeline_is_added(admin_client_with_demo):
    response = admin_client_with_demo.post(ADD_URL, form())
    assert response.status_code == 302
    pipeline = Pipeline.objects.get(key="my-orders")
    assert pipeline.source_options == {"maxFilesPerTrigger": 2}
    assert pipeline.contract_version("rejects_contract").contract.contract_id == "shop.orders_rejects"


def test_each_bad_field_gets_its_own_error_and_nothing_is_saved(admin_client_with_demo):
    response = admin_client_with_demo.post(
        ADD_URL,
        form(
            key="My Orders",
            source_path="",
            source_options='{"nested": {"a": 1}}',
            input_contract="shop.x",
            transform="os.system",
            trigger='{"availableNow": false}',
        ),
    )
    assert response.status_code == 200
    assert field_errors(response) == {
        "key": ["use lower-case letters, digits and '-' only"],
        "input_contract": ["no contract shop.x"],
        "source_path": ["a json source needs the path of the folder it watches"],
        "source_options": ["nested: must be a string, a number or a boolean"],
        "transform": ["'os.system' is outside the allowed modules (pipelines.transforms)"],
        "trigger": ["availableNow can only be true"],
    }
    assert not Pipeline.objects.filter(title="My orders").exists()


def test_a_bad_source_format_and_run_type_are_refused_by_name(admin_client_with_demo):
    response = admin_client_with_demo.post(ADD_URL, form(source_format="xml", run_type="strict"))
    errors = field_errors(response)
    assert "source_format" in errors and "run_type" in errors
    assert not Pipeline.objects.filter(key="my-orders").exists()


def test_an_edit_that_breaks_a_demo_pipeline_is_refused_and_the_stored_one_kept(admin_client_with_demo):
    pipeline = Pipeline.objects.get(key="streaming-valid")
    url = reverse("admin:registry_pipeline_change", args=[pipeline.pk])
    data = form(
        key="streaming-valid",
        source_format="rate",
        source_path="",
        source_options="{}",
        input_contract="demo.streaming.events@0.1.0",
        output_contract="demo.streaming.events_processed@9.9.9",
        rejects_contract="",
        transform="pipelines.transforms.healthy",
    )
    response = admin_client_with_demo.post(url, data)
    assert list(field_errors(response)) == ["output_contract"]
    pipeline.refresh_from_db()
    assert pipeline.output_contract == "demo.streaming.events_processed@0.1.0"
