"""The alerts admin: destinations and subscriptions are edited, a secret is never shown back, alerts are evidence."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from simulate import SimulatedRun, play

from registry.alerts import Alert, Delivery, Destination, Subscription

pytestmark = pytest.mark.django_db


def signed_in(person):
    client = Client()
    client.force_login(person)
    return client


SECRET = "do-not-show-me-0123456789"


@pytest.fixture
def admin_client(django_user_model):
    return signed_in(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))


def test_a_destination_is_created_with_a_secret_that_the_admin_never_shows_back(admin_client):
    response = admin_client.post(
        reverse("admin:registry_destination_add"),
        {"name": "ops", "url": "https://hooks.example.com/dc43", "enabled": "on", "secret": SECRET},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    destination = Destination.objects.get()
    assert destination.secret == SECRET
    change = reverse("admin:registry_destination_change", args=[destination.pk])
    assert SECRET not in admin_client.get(change).content.decode()
    assert SECRET not in admin_client.get(reverse("admin:registry_destination_changelist")).content.decode()


def test_saving_with_the_secret_left_empty_keeps_it_and_clear_removes_it(admin_client):
    destination = Destination.objects.create(name="ops", url="https://hooks.example.com/dc43", secret=SECRET)
    change = reverse("admin:registry_destination_change", args=[destination.pk])
    admin_client.post(change, {"name": "ops renamed", "url": destination.url, "enabled": "on", "secret": ""})
    destination.refresh_from_db()
    assert (destination.name, destination.secret) == ("ops renamed", SECRET)
    admin_client.post(change, {"name": "ops", "url": destination.url, "enabled": "on", "clear_secret": "on"})
    destination.refresh_from_db()
    assert destination.secret == ""


def test_a_destination_must_be_an_http_url(admin_client):
    response = admin_client.post(
        reverse("admin:registry_destination_add"), {"name": "mail", "url": "ftp://example.com/x", "enabled": "on"}
    )
    assert response.status_code == 200
    assert not Destination.objects.exists()


def test_a_subscription_chooses_its_transitions_by_checkbox(admin_client):
    destination = Destination.objects.create(name="ops", url="https://hooks.example.com/dc43")
    response = admin_client.post(
        reverse("admin:registry_subscription_add"),
        {"name": "failures", "destination": destination.pk, "enabled": "on", "transitions": ["failed", "sla_breach"]},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Subscription.objects.get().transitions == ["failed", "sla_breach"]


def test_alerts_are_read_only_and_acknowledged_through_an_action(admin_client):
    play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
    alert = Alert.objects.get()
    assert admin_client.get(reverse("admin:registry_alert_change", args=[alert.pk])).status_code == 200
    admin_client.post(
        reverse("admin:registry_alert_changelist"), {"action": "acknowledge", "_selected_action": [alert.pk]}
    )
    alert.refresh_from_db()
    assert alert.state == "acknowledged"
    response = admin_client.post(reverse("admin:registry_alert_change", args=[alert.pk]), {"state": "resolved"})
    assert response.status_code == 403


def test_the_alert_actions_need_the_permission(django_user_model):
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_alert"))
    play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
    client = signed_in(staff)
    page = client.get(reverse("admin:registry_alert_changelist")).content.decode()
    assert 'value="acknowledge"' not in page
    assert "streaming-dq-rejects" in page


def test_retry_now_makes_a_given_up_delivery_due_again(admin_client):
    Subscription.objects.create(
        name="all", destination=Destination.objects.create(name="ops", url="http://127.0.0.1:8240/x")
    )
    play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=2)
    Delivery.objects.update(gave_up_at="2026-01-01T00:00:00Z", attempts=20)
    delivery = Delivery.objects.get()
    admin_client.post(
        reverse("admin:registry_delivery_changelist"), {"action": "retry_now", "_selected_action": [delivery.pk]}
    )
    delivery.refresh_from_db()
    assert (delivery.gave_up_at, delivery.attempts) == (None, 0)
