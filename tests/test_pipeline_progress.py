"""A pipeline's progress is its checkpoint: one folder per epoch, named on the first checkpointed run; "reset progress"
(the admin action, or `Pipeline.reset_progress`) starts a new epoch, keeps the old folder as the archive, and is logged."""

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from registry.models import Run, owner_fields
from registry.pipelines import Pipeline

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:registry_pipeline_changelist")


@pytest.fixture
def landing(settings, tmp_path):
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    return Pipeline.objects.get(key="orders-landing")


def test_the_first_epoch_is_named_once_and_gives_the_checkpoint_and_the_slice_key(landing, tmp_path):
    assert landing.checkpoint_epoch == ""
    epoch = landing.ensure_epoch()
    assert re.fullmatch(r"\d{8}T\d{6}Z", epoch)
    assert landing.ensure_epoch() == epoch == Pipeline.objects.get(pk=landing.pk).checkpoint_epoch
    assert landing.checkpoint_location() == f"{tmp_path}/checkpoints/pipelines/orders-landing/{epoch}"
    assert landing.slice_key() == f"orders-landing@{epoch}"


def test_reset_progress_starts_a_new_epoch_each_time_and_logs_who_did_it(landing, admin_user):
    first = landing.ensure_epoch()
    second = landing.reset_progress(admin_user)
    third = landing.reset_progress(admin_user)
    assert first < second < third  # even within one second, each reset has an epoch of its own
    landing.refresh_from_db()
    assert (landing.checkpoint_epoch, landing.progress_reset_at is not None) == (third, True)
    messages = list(LogEntry.objects.filter(object_id=str(landing.pk)).values_list("change_message", flat=True))
    assert sorted(messages) == sorted(
        [
            f"Reset progress: new checkpoint epoch {second} (was {first})",
            f"Reset progress: new checkpoint epoch {third} (was {second})",
        ]
    )


def test_progress_cannot_be_reset_while_a_run_reads_the_checkpoint(landing):
    landing.ensure_epoch()
    run = Run.objects.create(pipeline=landing, scenario=landing.key, mode="until-stopped", **owner_fields())
    with pytest.raises(
        ValueError, match=f"pipeline orders-landing has an active run \\(/runs/{run.id}/\\); stop it first"
    ):
        landing.reset_progress()
    assert Pipeline.objects.get(pk=landing.pk).checkpoint_epoch == landing.checkpoint_epoch


def test_the_admin_action_resets_the_progress_of_the_chosen_pipelines(landing, admin_client):
    old = landing.ensure_epoch()
    response = admin_client.post(
        CHANGELIST, {"action": "reset_progress", "_selected_action": [landing.pk]}, follow=True
    )
    assert response.status_code == 200
    landing.refresh_from_db()
    assert landing.checkpoint_epoch > old
    said = [str(message) for message in response.context["messages"]]
    assert said == [f"orders-landing: progress reset; new checkpoint epoch {landing.checkpoint_epoch}"]
    assert LogEntry.objects.filter(object_id=str(landing.pk), change_message__startswith="Reset progress").count() == 1
