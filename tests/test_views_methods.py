"""Every page declares the HTTP methods it serves: anything else is 405."""

import pytest
from django.urls import reverse
from simulate import SimulatedRun, play

pytestmark = pytest.mark.django_db


def test_every_page_refuses_methods_it_does_not_declare(client, operator):
    run = play(SimulatedRun("streaming-valid"), "valid", batches=2)
    client.force_login(operator)
    pages = [
        reverse("pipelines"),
        reverse("pipeline-detail", args=["orders-landing"]),
        reverse("pipeline-detail", args=["streaming-valid"]),
        reverse("run-list"),
        run.get_absolute_url(),
        reverse("dataset-list"),
        reverse("dataset-detail", args=["demo.streaming.events_processed"]),
    ]
    for url in pages:
        assert client.get(url).status_code == 200, url
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            response = client.generic(method, url)
            assert response.status_code == 405, (method, url)
            assert response["Allow"] in ("GET, HEAD", "GET"), url


def test_the_run_endpoints_serve_post_only(client, operator):
    run = play(SimulatedRun("streaming-valid"), "valid", batches=1)
    client.force_login(operator)
    urls = [
        reverse("scenario-run", args=["streaming-valid"]),
        reverse("pipeline-start", args=["streaming-valid"]),
        reverse("run-stop", args=[run.id]),
    ]
    for url in urls:
        for method in ("GET", "HEAD", "PUT", "DELETE"):
            response = client.generic(method, url)
            assert response.status_code == 405, (method, url)
            assert response["Allow"] == "POST"
