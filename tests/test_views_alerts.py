"""The alerts page: every signed-in person sees it; Acknowledge and Resolve are POSTs that need registry.handle_alert."""

import pytest
from django.test import Client
from django.urls import reverse
from simulate import SimulatedRun, play

from registry.alerts import Alert

pytestmark = pytest.mark.django_db


def signed_in(person):
    client = Client()
    client.force_login(person)
    return client


@pytest.fixture
def alert():
    play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
    return Alert.objects.get()


def test_the_page_lists_alerts_linked_to_their_runs(viewer, alert):
    response = signed_in(viewer).get(reverse("alert-list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="alert-{alert.pk}"' in html
    assert alert.run.get_absolute_url() in html
    assert "streaming-dq-rejects" in html


def test_the_page_filters_by_state(viewer, alert):
    client = signed_in(viewer)
    assert f'id="alert-{alert.pk}"' in client.get(reverse("alert-list"), {"state": "open"}).content.decode()
    assert f'id="alert-{alert.pk}"' in client.get(reverse("alert-list"), {"state": "unresolved"}).content.decode()
    assert "No resolved alert" in client.get(reverse("alert-list"), {"state": "resolved"}).content.decode()


def test_someone_without_the_permission_sees_disabled_buttons_and_is_refused(viewer, alert):
    client = signed_in(viewer)
    assert "disabled" in client.get(reverse("alert-list")).content.decode()
    assert client.post(reverse("alert-acknowledge", args=[alert.pk])).status_code == 403
    assert client.post(reverse("alert-resolve", args=[alert.pk])).status_code == 403
    alert.refresh_from_db()
    assert alert.state == "open"


def test_acknowledge_records_who_and_when_and_returns_to_the_filtered_page(oncall, alert):
    response = signed_in(oncall).post(reverse("alert-acknowledge", args=[alert.pk]), {"state": "open"})
    assert response.status_code == 302
    assert response["Location"] == reverse("alert-list") + "?state=open"
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledged_by) == ("acknowledged", oncall)
    assert alert.acknowledged_at is not None


def test_resolve_by_hand_says_by_whom(oncall, alert):
    signed_in(oncall).post(reverse("alert-resolve", args=[alert.pk]), {"state": "https://elsewhere.example"})
    alert.refresh_from_db()
    assert (alert.state, alert.resolved_by, alert.resolution) == ("resolved", oncall, "by hand, by oncall")


def test_the_buttons_need_a_csrf_token(oncall, alert):
    client = Client(enforce_csrf_checks=True)
    client.force_login(oncall)
    assert client.post(reverse("alert-acknowledge", args=[alert.pk])).status_code == 403
    alert.refresh_from_db()
    assert alert.state == "open"


def test_the_page_serves_get_and_the_buttons_post_only(oncall, alert):
    client = signed_in(oncall)
    assert client.post(reverse("alert-list")).status_code == 405
    assert client.get(reverse("alert-acknowledge", args=[alert.pk])).status_code == 405
    assert client.get(reverse("alert-resolve", args=[alert.pk])).status_code == 405


def test_an_unknown_alert_is_404(oncall):
    assert signed_in(oncall).post(reverse("alert-resolve", args=[999999])).status_code == 404


def test_signed_out_people_are_sent_to_log_in(alert):
    response = Client().get(reverse("alert-list"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]
