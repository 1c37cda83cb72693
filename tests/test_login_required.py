"""Every page needs a signed-in person; the admin needs staff. The list of pages comes from the URLconf itself."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from registry.models import Dataset, Run

pytestmark = pytest.mark.django_db

# Pages anyone may open: signing in and out.
PUBLIC = {"login", "logout", "admin:login", "admin:logout"}
# Endpoints that act rather than show: POST only, so a signed-in GET is 405 by design.
ACTIONS = {"scenario-run", "pipeline-start", "run-stop"}


def named_patterns(patterns=None, namespace=""):
    """(name, parameter names) of every named URL pattern, admin included."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from named_patterns(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            parameters = getattr(entry.pattern, "converters", None) or entry.pattern.regex.groupindex
            yield f"{namespace}{entry.name}", sorted(parameters)


PAGES = sorted(dict(named_patterns()).items())


@pytest.fixture
def arguments():
    """A real value for every URL parameter the site uses."""
    run = Run.objects.create(scenario="streaming-valid", requested_seconds=1, status="ok")
    dataset = Dataset.objects.create(name="demo.streaming.events_processed")
    return {
        "contract_id": "demo.streaming.events",
        "version": "0.1.0",
        "run_id": run.id,
        "key": "streaming-valid",
        "name": dataset.name,
        "object_id": "1",
        "id": "1",
        "content_type_id": "1",
        "app_label": "contracts",
        "url": "anything/",
        "fmt": "json",
        "from_version": "0.1.0",
        "to_version": "0.1.0",
    }


def url_of(name, params, arguments):
    missing = [p for p in params if p not in arguments]
    assert not missing, f"{name} takes {missing}: give the `arguments` fixture a value for it"
    return reverse(name, kwargs={p: arguments[p] for p in params})


def test_the_enumeration_finds_the_site_pages():
    names = {name for name, _ in PAGES}
    expected = {
        "scenarios",
        "pipelines",
        "pipeline-detail",
        "run-list",
        "run-detail",
        "dataset-list",
        "dataset-detail",
        "contract-list",
        "contract-detail",
        "contract-version",
        "contract-version-export",
        "contract-diff",
        "admin:index",
        "admin:contracts_contractversion_changelist",
        "admin:registry_run_change",
    }
    assert expected <= names


@pytest.mark.parametrize(
    ("name", "params"), [page for page in PAGES if page[0] not in PUBLIC], ids=lambda v: v if isinstance(v, str) else ""
)
def test_an_anonymous_visitor_is_sent_to_log_in(client, arguments, name, params):
    url = url_of(name, params, arguments)
    response = client.get(url)
    assert response.status_code == 302, f"{url} answered {response.status_code}"
    target = urlsplit(response["Location"])
    assert target.path in (reverse("login"), reverse("admin:login")), response["Location"]
    assert parse_qs(target.query)["next"] == [url]


@pytest.mark.parametrize(
    ("name", "params"), [page for page in PAGES if page[0] not in PUBLIC | ACTIONS and not page[0].startswith("admin:")]
)
def test_a_signed_in_person_reaches_every_site_page(user_client, arguments, name, params):
    response = user_client.get(url_of(name, params, arguments))
    assert response.status_code == 200


def test_a_signed_in_person_who_is_not_staff_is_kept_out_of_the_admin(user_client):
    response = user_client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == reverse("admin:login")


def test_the_login_page_is_reachable_without_signing_in(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b'name="password"' in response.content


def test_signing_in_leads_to_the_page_asked_for(client, user):
    page = reverse("contract-list")
    response = client.post(reverse("login"), {"username": "reader", "password": "reader-pass-123", "next": page})
    assert response.status_code == 302
    assert response["Location"] == page


def test_a_wrong_password_is_refused(client, user):
    response = client.post(reverse("login"), {"username": "reader", "password": "wrong"})
    assert response.status_code == 200
    assert b"didn&#x27;t match" in response.content or b"didn't match" in response.content


def test_logging_out_ends_the_session(user_client):
    response = user_client.post(reverse("logout"))
    assert response.status_code == 302
    assert user_client.get(reverse("contract-list")).status_code == 302
