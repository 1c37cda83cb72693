"""A site-wide cap on active runs (DC43_MAX_ACTIVE_RUNS): a start beyond it is refused, says why, and records nothing."""

import pytest
from django.urls import reverse

from registry.models import Run, RunEvent, owner_fields
from registry.pipelines import Pipeline

pytestmark = pytest.mark.django_db


def running(key):
    return Run.objects.create(
        pipeline=Pipeline.objects.get(key=key), scenario=key, requested_seconds=8, **owner_fields()
    )


def test_a_start_from_the_page_beyond_the_cap_is_refused_with_the_reason_and_records_nothing(
    client, operator, settings
):
    settings.DC43_MAX_ACTIVE_RUNS = 2
    busy = [running("orders-landing"), running("streaming-dq-rejects")]
    client.force_login(operator)
    response = client.post(reverse("pipeline-start", args=["streaming-valid"]), {"seconds": "5"})
    assert response.status_code == 409
    assert "DC43_MAX_ACTIVE_RUNS=2" in response.content.decode()
    assert sorted(Run.objects.values_list("pk", flat=True)) == sorted(r.pk for r in busy)
    assert not RunEvent.objects.exists()
