"""The Pipelines page, a pipeline's page, Start and Stop."""

import io
import json
import shlex
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from markup import by_id, elements, has_element
from simulate import SimulatedRun

from registry.live import updates_since
from registry.models import Run, RunStatus, owner_fields
from registry.pipelines import Pipeline

pytestmark = pytest.mark.django_db
KEYS = ["orders-landing", "streaming-dq-rejects", "streaming-schema-break", "streaming-valid"]
START_VALID = reverse("pipeline-start", args=["streaming-valid"])


@pytest.fixture
def fake_runner(monkeypatch):
    """Stands in for pipelines.runner.start_run: records what the page asked for, creates the Run, starts nothing."""
    calls = []

    def start_run(key, **options):
        calls.append({"key": key, **options})
        return Run.objects.create(
            scenario=key, requested_seconds=options.get("seconds") or 1, started_by=options["user"]
        )

    monkeypatch.setattr("pipelines.views.start_run", start_run)
    return calls


def running(key, **fields):
    """A run of the pipeline that is active now, as start_run records it."""
    return Run.objects.create(
        pipeline=Pipeline.objects.get(key=key), scenario=key, requested_seconds=60, **owner_fields(), **fields
    )


def page(client, url="/"):
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


# The Pipelines page


def test_the_page_shows_a_card_with_a_start_button_for_every_pipeline(client, operator):
    client.force_login(operator)
    html = page(client)
    assert [e.id for e in elements(html, "section") if e.id.startswith("pipeline-")] == [f"pipeline-{k}" for k in KEYS]
    for key in KEYS:
        assert has_element(html, "form", action=reverse("pipeline-start", args=[key]))
        assert has_element(html, "button", f"Start {key}", type="submit", class_="primary")
    assert not elements(html, "button", disabled="")
    assert "Not run yet." in html


def test_a_card_shows_the_source_and_links_each_contract(client, viewer):
    client.force_login(viewer)
    html = page(client)
    assert "<strong>json</strong> <code>var/landing/orders</code> · maxFilesPerTrigger 2" in html
    assert "<strong>rate</strong> · numPartitions 1, rowsPerSecond 6" in html
    # orders-landing names its contracts without a version, the demo scenarios with one.
    assert has_element(html, "a", "shop.orders_rejects", href=reverse("contract-detail", args=["shop.orders_rejects"]))
    version_link = reverse("contract-version", args=["demo.streaming.events", "0.1.0"])
    assert has_element(html, "a", "demo.streaming.events 0.1.0", href=version_link)


def test_the_start_options_preselect_what_a_run_without_options_does(client, operator):
    client.force_login(operator)
    html = page(client)
    checked = [e.attrs["name"] + ":" + e.attrs["value"] for e in elements(html, "input", type="radio", checked="")]
    # Four cards: the demo scenarios have a window; orders-landing runs every 2 seconds until stopped.
    assert sorted(checked) == ["mode:until-stopped"] + ["mode:window"] * 3
    assert by_id(html, "seconds-streaming-valid").attrs["value"] == "8"


def test_a_card_shows_the_last_run_and_a_live_badge_while_a_run_is_active(client, viewer):
    finished = SimulatedRun("streaming-valid").run
    finished.finish(RunStatus.OK)
    active = running("orders-landing")
    client.force_login(viewer)
    html = page(client)

    valid = html.split('id="pipeline-streaming-valid"')[1].split("</section>")[0]
    assert finished.get_absolute_url() in valid
    assert "status-ok" in valid and "live-pill" not in valid
    landing = html.split('id="pipeline-orders-landing"')[1].split("</section>")[0]
    assert active.get_absolute_url() in landing
    assert "live-pill" in landing
    assert reverse("run-stop", args=[active.id]) in landing  # Stop instead of Start while it runs
    assert reverse("pipeline-start", args=["orders-landing"]) not in landing


def test_users_without_the_permission_see_why_start_and_stop_are_disabled(client, viewer):
    running("orders-landing")
    client.force_login(viewer)
    html = page(client)
    assert len(elements(html, "button", disabled="", aria_describedby="why-disabled")) == 4
    assert "needs the <strong>Can start pipeline runs</strong> permission" in html


def test_without_pipelines_the_page_says_how_to_load_one(client, viewer):
    Pipeline.objects.all().delete()
    client.force_login(viewer)
    assert "python manage.py load_pipelines FILE" in page(client)


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_old_name_of_the_page_still_leads_to_it(client, viewer):
    assert reverse("scenarios") == reverse("pipelines") == "/"
    client.force_login(viewer)
    html = page(client)
    assert has_element(html, "a", "Pipelines", href="/", aria_current="page")


# Start


def test_get_on_start_is_405(client, operator, fake_runner):
    client.force_login(operator)
    response = client.get(START_VALID)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert fake_runner == []


def test_pressing_start_starts_the_run_and_redirects_to_its_page(client, operator, fake_runner):
    client.force_login(operator)
    response = client.post(START_VALID)
    run = Run.objects.get()
    assert response.status_code == 302
    assert response["Location"] == run.get_absolute_url()
    # Without options the runner takes the pipeline's own.
    assert fake_runner == [
        {"key": "streaming-valid", "seconds": None, "run_type": None, "user": operator, "via": "user"}
    ]


def test_the_options_reach_the_runner(client, operator, fake_runner):
    client.force_login(operator)
    url = reverse("pipeline-start", args=["orders-landing"])
    client.post(url, {"mode": "window", "seconds": "30", "run_type": "enforce"})
    client.post(url, {"mode": "until-stopped", "seconds": "30", "run_type": "observe"})
    client.post(url, {"mode": "available-now", "seconds": "30"})
    assert [{k: v for k, v in call.items() if k not in ("user", "via")} for call in fake_runner] == [
        {"key": "orders-landing", "mode": "window", "seconds": 30, "run_type": "enforce"},
        {"key": "orders-landing", "mode": "until-stopped", "run_type": "observe"},
        {"key": "orders-landing", "mode": "available-now", "run_type": None},
    ]


def test_the_old_run_endpoint_still_starts_a_windowed_run(client, operator, fake_runner):
    client.force_login(operator)
    response = client.post(reverse("scenario-run", args=["streaming-schema-break"]), {"seconds": "5"})
    assert response["Location"] == Run.objects.get().get_absolute_url()
    assert fake_runner[0]["seconds"] == 5 and "mode" not in fake_runner[0]


def test_bad_options_are_refused_with_the_reason_and_record_nothing(client, operator):
    client.force_login(operator)
    response = client.post(START_VALID, {"seconds": "soon", "run_type": "observe"}, follow=True)
    assert response.redirect_chain == [(reverse("pipelines"), 302)]
    assert "The run did not start: seconds must be a whole number" in response.content.decode()
    assert not Run.objects.exists()


def test_a_second_start_is_409_with_a_link_to_the_active_run(client, operator):
    active = running("orders-landing")
    client.force_login(operator)
    response = client.post(reverse("pipeline-start", args=["orders-landing"]), {"mode": "until-stopped"})
    assert response.status_code == 409
    assert has_element(response.content.decode(), "a", href=active.get_absolute_url())
    assert list(Run.objects.all()) == [active]


def test_users_without_the_permission_cannot_start_runs(client, viewer, fake_runner):
    client.force_login(viewer)
    assert client.post(START_VALID).status_code == 403
    assert fake_runner == []
    assert not Run.objects.exists()


def test_an_unknown_pipeline_is_404(client, operator, fake_runner):
    client.force_login(operator)
    assert client.post(reverse("pipeline-start", args=["streaming-nope"])).status_code == 404
    assert client.post(reverse("scenario-run", args=["streaming-nope"])).status_code == 404
    assert client.get(reverse("pipeline-detail", args=["streaming-nope"])).status_code == 404
    assert fake_runner == []


def test_starting_a_run_needs_the_csrf_token(operator, fake_runner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post(START_VALID).status_code == 403
    assert fake_runner == []

    token = client.get("/").context["csrf_token"]
    assert client.post(START_VALID, {"csrfmiddlewaretoken": str(token)}).status_code == 302
    assert len(fake_runner) == 1


# Stop


def test_stop_serves_post_only_and_needs_the_permission(client, viewer):
    run = running("orders-landing")
    client.force_login(viewer)
    url = reverse("run-stop", args=[run.id])
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403
    run.refresh_from_db()
    assert run.is_running and not run.events.filter(kind="stop_requested").exists()


def test_stopping_a_run_that_has_ended_is_409_with_a_link_back(client, operator):
    run = SimulatedRun("streaming-valid").run
    run.finish(RunStatus.OK)
    client.force_login(operator)
    response = client.post(reverse("run-stop", args=[run.id]))
    assert response.status_code == 409
    assert has_element(response.content.decode(), "a", "Back to the run", href=run.get_absolute_url())


def test_pressing_stop_asks_the_run_to_stop_and_returns_to_its_page(client, operator):
    run = running("orders-landing")
    client.force_login(operator)
    response = client.post(reverse("run-stop", args=[run.id]))
    assert response.status_code == 302
    assert response["Location"] == run.get_absolute_url()
    run.refresh_from_db()
    assert run.stopping and run.stop_requested_by == "operator"
    assert run.events.get(kind="stop_requested").payload == {"by": "operator"}

    html = page(client, run.get_absolute_url())
    assert by_id(html, "run-stopping").text == "stopping…"
    assert "is-stopping" in by_id(html, "run-header").attrs["class"]


# The run page


def test_the_run_page_offers_stop_while_running_to_those_who_may(client, operator, viewer):
    run = running("orders-landing")
    client.force_login(operator)
    assert has_element(page(client, run.get_absolute_url()), "form", action=reverse("run-stop", args=[run.id]))
    client.force_login(viewer)
    assert not has_element(page(client, run.get_absolute_url()), "form", action=reverse("run-stop", args=[run.id]))
    run.finish(RunStatus.OK)
    client.force_login(operator)
    assert not has_element(page(client, run.get_absolute_url()), "form", action=reverse("run-stop", args=[run.id]))


def test_a_stop_request_reaches_an_open_page_as_a_new_header_and_a_timeline_entry(operator):
    sim = SimulatedRun("streaming-valid", user=operator).start()
    seen = sim.run.last_seq
    assert sim.run.request_stop("operator")

    update = updates_since(sim.run.id, seen)

    assert not update.finished
    assert by_id(update.html, "run-header").attrs["hx-swap-oob"] == "true"
    assert "Stop requested by operator" in update.html
    assert by_id(update.html, "run-stopping").text == "stopping…"


# A pipeline's page


def test_the_pipeline_page_shows_the_definition_and_its_runs_newest_first_in_pages(client, viewer):
    now = timezone.now()
    for n in range(30):
        Run.objects.create(
            scenario="streaming-valid", requested_seconds=8, status="ok", started_at=now - timedelta(minutes=n)
        )
    Run.objects.create(scenario="streaming-dq-rejects", requested_seconds=8, status="ok")
    client.force_login(viewer)
    html = page(client, reverse("pipeline-detail", args=["streaming-valid"]))

    assert "<code>pipelines.transforms.healthy</code>" in html
    every = Pipeline.objects.get(key="streaming-valid").trigger["processingTime"]
    assert f"a batch every {every}" in html
    assert len(elements(html, "tr")) == 25 + 1
    older = next(e for e in elements(html, "a", rel="next"))
    second = page(client, reverse("pipeline-detail", args=["streaming-valid"]) + older.attrs["href"])
    assert len(elements(second, "tr")) == 5 + 1
    assert "A rate source keeps no progress" in html


def test_the_pipeline_page_lists_the_files_waiting_in_a_local_landing_folder(client, viewer, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    for name in ["orders-1.json", "orders-2.json", ".orders-3.json.tmp"]:
        (landing / name).write_text(json.dumps({"order_id": 1}) + "\n")
    Pipeline.objects.filter(key="orders-landing").update(source_path=str(landing))
    client.force_login(viewer)
    html = page(client, reverse("pipeline-detail", args=["orders-landing"]))

    waiting = [e.text for e in elements(html, "code") if ".json" in e.text]
    assert waiting == ["orders-1.json", "orders-2.json"]
    assert "Not run yet: the first run reads every file in the landing folder." in html


def test_a_landing_folder_on_another_file_system_is_not_listed(client, viewer):
    Pipeline.objects.filter(key="orders-landing").update(source_path="s3a://bucket/landing/orders")
    client.force_login(viewer)
    assert "Not listed: the landing folder is not on this machine." in page(
        client, reverse("pipeline-detail", args=["orders-landing"])
    )


def test_the_pipeline_page_shows_the_files_its_checkpoint_has_read(client, viewer, tmp_path, settings):
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    landing = tmp_path / "landing"
    landing.mkdir()
    for name in ["a.json", "b.json", "c.json"]:
        (landing / name).write_text("{}\n")
    pipeline = Pipeline.objects.get(key="orders-landing")
    pipeline.source_path = str(landing)
    pipeline.ensure_epoch()
    pipeline.save()
    checkpoint = tmp_path / "checkpoints" / "pipelines" / "orders-landing" / pipeline.checkpoint_epoch
    assert pipeline.checkpoint_location() == str(checkpoint)
    (checkpoint / "sources" / "0").mkdir(parents=True)
    (checkpoint / "sources" / "0" / "0").write_text(
        "v1\n" + json.dumps({"path": f"file://{landing}/a.json", "timestamp": 1, "batchId": 0})
    )
    for folder in ("offsets", "commits"):
        (checkpoint / folder).mkdir()
        (checkpoint / folder / "0").write_text('v1\n{}\n{"logOffset":0}')
    client.force_login(viewer)
    html = page(client, reverse("pipeline-detail", args=["orders-landing"]))

    assert "batches up to <strong>0</strong> committed" in html
    assert [e.text for e in elements(html, "code") if e.text.endswith(".json")] == ["a.json", "b.json", "c.json"]
    assert html.index("a.json") < html.index("Waiting in") < html.index("b.json")


# The README's "Your own pipeline"


def readme_commands(name):
    """The `python manage.py NAME ...` lines of the README's "Your own pipeline" section, as argument lists."""
    readme = (settings.BASE_DIR / "README.md").read_text()
    section = readme.split("## Your own pipeline", 1)[1].split("\n## ", 1)[0]
    prefix = f"python manage.py {name} "
    return [shlex.split(line[len(prefix) :]) for line in section.splitlines() if line.startswith(prefix)]


def test_the_readme_imports_and_loads_its_example_pipeline_which_then_has_a_card_and_a_page(client, viewer):
    commands = [("import_contracts", args) for args in readme_commands("import_contracts")]
    commands += [("load_pipelines", args) for args in readme_commands("load_pipelines")]
    assert len(commands) == 2
    for name, args in commands:
        call_command(name, *args, stdout=io.StringIO())
    client.force_login(viewer)
    assert has_element(page(client), "section", id="pipeline-acme-orders")
    html = page(client, reverse("pipeline-detail", args=["acme-orders"]))
    for contract in ("acme.orders_raw", "acme.orders", "acme.orders_rejects"):
        assert has_element(html, "a", contract, href=reverse("contract-detail", args=[contract]))
