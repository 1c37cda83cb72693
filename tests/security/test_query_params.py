"""Whatever a query string holds, a page answers with itself, a 400 or a 404: never a 500.

Every GET page is asked with values that once broke a parser: digits int() refuses ('²', 5,000 digits),
cursors whose key is no key of the table, dates that overflow when made UTC, NUL characters that
PostgreSQL refuses in a literal.
"""

import pytest
from django.contrib.admin import site as admin_site
from django.urls import reverse
from simulate import SimulatedRun, play

pytestmark = pytest.mark.django_db

HOSTILE = [
    "²",
    "9" * 5000,
    "-1",
    "0",
    "1e400",
    "2024-01-01T00:00:00_abc",
    "2024-01-01T00:00:00_" + "9" * 30,
    "2024-01-01T00:00:00_-" + "9" * 30,
    "2024-01-01T00:00:00_00000000-0000-0000-0000-00000000000g",
    "2024-01-01T00:00:00+00:00_",
    "9999-12-31T23:59:59-12:00_1",
    "0001-01-01T00:00:00+14:00_1",
    "not-a-date_1",
    "_",
    "\x00",
    "a\x00b",
    "<script>alert(1)</script>",
    "%",
    "x" * 5000,
]
PARAMS = ["batches_before", "status", "scenario", "page", "q", "o", "p", "e", "all", "seconds", "state"]


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(username="root", password="root-pass-123456")


@pytest.fixture
def pages():
    run = play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=3)
    output, version = "demo.streaming.events_processed", "0.1.0"
    return [
        "/",
        "/runs/",
        run.get_absolute_url(),
        "/datasets/",
        f"/datasets/{output}/",
        "/contracts/",
        f"/contracts/{output}/",
        f"/contracts/{output}/{version}/",
        f"/contracts/{output}/{version}/odcs.yaml",
        "/alerts/",
    ]


def admin_lists():
    return [reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist") for m in admin_site._registry]


def statuses(client, url):
    found = {}
    for value in HOSTILE:
        for cursor in ("before", "after"):
            query = dict.fromkeys(PARAMS, value) | {cursor: value}
            found[(cursor, value[:30])] = client.get(url, query).status_code
        found[("alone", value[:30])] = client.get(url, {"batches_before": value}).status_code
    return found


def assert_no_server_error(found, url):
    broken = {key: status for key, status in found.items() if status >= 500}
    assert not broken, f"{url} answered 500 to {broken}"
    assert set(found.values()) <= {200, 302, 400, 404}, found


def test_no_query_string_turns_a_site_page_into_a_server_error(client, superuser, pages):
    client.force_login(superuser)
    for url in pages:
        assert client.get(url).status_code == 200
        assert_no_server_error(statuses(client, url), url)


def test_no_query_string_turns_an_admin_list_into_a_server_error(client, superuser, pages):
    client.force_login(superuser)
    for url in admin_lists():
        assert client.get(url).status_code == 200
        assert_no_server_error(statuses(client, url), url)


def test_a_cursor_of_garbage_shows_the_first_page_of_runs(client, superuser, pages):
    client.force_login(superuser)
    first = client.get("/runs/")
    for value in ("2024-01-01T00:00:00_abc", "9999-12-31T23:59:59-12:00_1", "2024-01-01T00:00:00_" + "9" * 30):
        response = client.get("/runs/", {"before": value})
        assert response.status_code == 200
        assert [r.pk for r in response.context["runs"]] == [r.pk for r in first.context["runs"]]


def test_a_batch_cursor_that_is_no_whole_number_shows_the_newest_batches(client, superuser, pages):
    client.force_login(superuser)
    run_url = pages[2]
    newest = client.get(run_url).context["page"]
    for value in ("²", "9" * 5000, "-3", "1.5"):
        page = client.get(run_url, {"batches_before": value}).context["page"]
        assert page.before is None
        assert page.window_start == newest.window_start


def test_an_unknown_status_filters_to_no_run(client, superuser, pages):
    client.force_login(superuser)
    response = client.get("/runs/", {"status": "no-such-status"})
    assert response.status_code == 200
    assert list(response.context["runs"]) == []


def test_a_nul_character_in_the_query_or_the_path_is_a_bad_request(client, superuser, pages):
    client.force_login(superuser)
    assert client.get("/runs/", {"status": "ok\x00"}).status_code == 400
    assert client.get("/runs/", {"x\x00": "1"}).status_code == 400
    assert client.get("/datasets/demo\x00/").status_code == 400
    assert client.get("/contracts/demo%00/").status_code == 400
