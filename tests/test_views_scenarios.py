import pytest
from django.test import Client
from django.urls import reverse
from simulate import SimulatedRun

from pipelines.catalog import check_run_request
from registry.models import Run

pytestmark = pytest.mark.django_db
RUN_VALID = reverse("scenario-run", args=["streaming-valid"])


@pytest.fixture
def fake_runner(monkeypatch):
    """Stands in for pipelines.runner.start_run: records the call, creates the Run, starts nothing."""
    calls = []

    def start_run(key, *, seconds=None, run_type=None, user=None, via="user"):
        scenario, seconds, run_type = check_run_request(key, seconds, run_type)
        calls.append({"key": key, "seconds": seconds, "run_type": run_type, "user": user, "via": via})
        return Run.objects.create(scenario=key, run_type=run_type, requested_seconds=seconds, started_by=user)

    monkeypatch.setattr("pipelines.views.start_run", start_run)
    return calls


def test_the_page_shows_the_three_scenarios_with_run_buttons(client, operator):
    client.force_login(operator)
    response = client.get("/")
    html = response.content.decode()
    for key in ("streaming-valid", "streaming-dq-rejects", "streaming-schema-break"):
        assert f'action="{reverse("scenario-run", args=[key])}"' in html
        assert f"Run {key}</button>" in html
    assert "disabled" not in html
    assert "Not run yet." in html


def test_users_without_the_permission_see_why_run_is_disabled(client, viewer):
    client.force_login(viewer)
    html = client.get("/").content.decode()
    assert html.count('disabled aria-describedby="why-disabled"') == 3
    assert "needs the <strong>Can start pipeline runs</strong> permission" in html


def test_the_latest_runs_of_each_scenario_are_listed(client, viewer):
    run = SimulatedRun("streaming-valid").run
    client.force_login(viewer)
    html = client.get("/").content.decode()
    assert run.get_absolute_url() in html


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_get_on_the_run_endpoint_is_405(client, operator, fake_runner):
    client.force_login(operator)
    response = client.get(RUN_VALID)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert fake_runner == []


def test_pressing_run_starts_the_run_and_redirects_to_its_page(client, operator, fake_runner):
    client.force_login(operator)
    response = client.post(RUN_VALID)
    run = Run.objects.get()
    assert response.status_code == 302
    assert response["Location"] == run.get_absolute_url()
    assert fake_runner == [
        {"key": "streaming-valid", "seconds": 8, "run_type": "observe", "user": operator, "via": "user"}
    ]


def test_the_options_reach_the_runner(client, operator, fake_runner):
    client.force_login(operator)
    client.post(reverse("scenario-run", args=["streaming-schema-break"]), {"seconds": "5", "run_type": "observe"})
    assert fake_runner[0]["seconds"] == 5
    assert fake_runner[0]["run_type"] == "observe"


def test_bad_options_are_refused_with_the_reason_and_record_nothing(client, operator, fake_runner):
    client.force_login(operator)
    response = client.post(RUN_VALID, {"seconds": "soon", "run_type": "observe"}, follow=True)
    assert response.redirect_chain == [(reverse("scenarios"), 302)]
    assert "The run did not start: seconds must be a whole number from 1 to 3600" in response.content.decode()
    assert not Run.objects.exists()


def test_users_without_the_permission_cannot_start_runs(client, viewer, fake_runner):
    client.force_login(viewer)
    response = client.post(RUN_VALID)
    assert response.status_code == 403
    assert fake_runner == []
    assert not Run.objects.exists()


def test_an_unknown_scenario_is_404(client, operator, fake_runner):
    client.force_login(operator)
    assert client.post(reverse("scenario-run", args=["streaming-nope"])).status_code == 404
    assert fake_runner == []


def test_starting_a_run_needs_the_csrf_token(operator, fake_runner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post(RUN_VALID).status_code == 403
    assert fake_runner == []

    page = client.get("/")
    token = page.context["csrf_token"]
    assert client.post(RUN_VALID, {"csrfmiddlewaretoken": str(token)}).status_code == 302
    assert len(fake_runner) == 1
