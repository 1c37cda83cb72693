import pytest
from simulate import SimulatedRun, play

from registry.models import DatasetVersion

pytestmark = pytest.mark.django_db


def test_the_dataset_list_shows_each_dataset_with_its_contract_and_latest_version(client, viewer):
    run = play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=3)
    newest = DatasetVersion.objects.filter(dataset__name="demo.streaming.events_processed").latest("created_at")
    client.force_login(viewer)
    html = client.get("/datasets/").content.decode()
    assert '<a href="/datasets/demo.streaming.events_processed/">' in html
    assert '<a href="/contracts/demo.streaming.events_rejects/">' in html
    assert f"<code>{newest.version}</code>" in html
    assert run.version_prefix in html


def test_the_version_history_is_newest_first_and_links_back(client, viewer):
    run = play(SimulatedRun("streaming-valid"), "valid", batches=4)
    client.force_login(viewer)
    html = client.get("/datasets/demo.streaming.events_processed/").content.decode()
    ids = [run.slice_version(b) for b in (3, 2, 1)]
    positions = [html.index(f'id="v-{v}"') for v in ids]
    assert positions == sorted(positions)
    assert '<a href="/contracts/demo.streaming.events_processed/0.1.0/">' in html
    assert f'href="{run.get_absolute_url()}"' in html
    assert '<a href="/contracts/demo.streaming.events_processed/">' in html


def test_the_run_page_links_to_the_versions_it_published(client, viewer):
    run = play(SimulatedRun("streaming-valid"), "valid", batches=2)
    client.force_login(viewer)
    html = client.get(run.get_absolute_url()).content.decode()
    assert f'href="/datasets/demo.streaming.events_processed/#v-{run.slice_version(1)}"' in html


def test_contract_pages_link_to_the_datasets_they_govern(client, viewer):
    play(SimulatedRun("streaming-valid"), "valid", batches=2)
    client.force_login(viewer)
    html = client.get("/contracts/demo.streaming.events_processed/").content.decode()
    assert '<a href="/datasets/demo.streaming.events_processed/">' in html


def test_empty_states_say_what_to_do_next(client, viewer):
    client.force_login(viewer)
    assert "No datasets yet." in client.get("/datasets/").content.decode()
    from registry.models import Dataset

    Dataset.objects.create(name="lonely")
    assert "No version published yet." in client.get("/datasets/lonely/").content.decode()


def test_version_history_pages_through_every_version(client, viewer):
    sim = SimulatedRun("streaming-valid").start().gate()
    for _ in range(60):
        sim.batch(6)
    client.force_login(viewer)
    first = client.get("/datasets/demo.streaming.events_processed/")
    second = client.get("/datasets/demo.streaming.events_processed/" + first.context["page"].older_link)
    versions = [v.version for v in first.context["versions"]] + [v.version for v in second.context["versions"]]
    assert len(versions) == len(set(versions)) == 60
    assert not second.context["page"].has_older
