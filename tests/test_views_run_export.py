"""The run page's downloads: one view, ?format=junit|json|openlineage."""

import json

import pytest
from django.urls import reverse
from junitparser import JUnitXml

from tests.simulate import SimulatedRun, play

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(demo_contracts):
    return play(SimulatedRun(scenario="streaming-dq-rejects"), "rejects")


def test_each_format_downloads_as_a_file(user_client, run):
    url = reverse("run-export", args=[run.id])

    junit = user_client.get(url, {"format": "junit"})
    report = user_client.get(url, {"format": "json"})
    lineage = user_client.get(url, {"format": "openlineage"})

    assert junit["Content-Disposition"] == f'attachment; filename="run-{run.id}.junit.xml"'
    assert JUnitXml.fromstring(junit.content).tests == 8
    assert json.loads(report.content)["run"]["id"] == str(run.id)
    assert len(lineage.content.decode().splitlines()) == 6


def test_an_unknown_format_is_a_bad_request_and_an_unknown_run_is_not_found(user_client, run):
    assert user_client.get(reverse("run-export", args=[run.id]), {"format": "csv"}).status_code == 400
    missing = reverse("run-export", args=["2f1b7c1e-0000-4000-8000-000000000000"])
    assert user_client.get(missing).status_code == 404


def test_downloads_need_a_login_and_a_get(client, user_client, run):
    url = reverse("run-export", args=[run.id])
    assert client.get(url).status_code == 302
    assert user_client.post(url).status_code == 405


def test_the_run_page_header_links_the_three_downloads(user_client, run):
    page = user_client.get(run.get_absolute_url()).content.decode()

    for format in ("junit", "json", "openlineage"):
        assert f"{reverse('run-export', args=[run.id])}?format={format}" in page
