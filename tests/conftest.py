import pytest
from django.contrib.auth.models import Permission


@pytest.fixture
def user(django_user_model):
    """A signed-in person without admin rights."""
    return django_user_model.objects.create_user(username="reader", password="reader-pass-123")


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def editor(django_user_model):
    """A staff member allowed to edit contracts, and nothing else."""
    person = django_user_model.objects.create_user(username="editor", password="editor-pass-123", is_staff=True)
    person.user_permissions.set(Permission.objects.filter(content_type__app_label="contracts"))
    return person


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client
