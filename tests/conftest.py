import pytest
from django.contrib.auth.models import Permission


@pytest.fixture(scope="session")
def spark():
    """The process's shared local SparkSession (created once for the whole test session)."""
    from pipelines.spark import get_spark

    return get_spark()


def make_user(django_user_model, username, *perms):
    user = django_user_model.objects.create_user(username=username, password="pw-" + username)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return user


@pytest.fixture
def operator(django_user_model):
    """May view and start runs."""
    return make_user(django_user_model, "operator", "registry.start_run", "registry.view_run")


@pytest.fixture
def viewer(django_user_model):
    """May view runs, not start them."""
    return make_user(django_user_model, "viewer", "registry.view_run")


@pytest.fixture
def outsider(django_user_model):
    """Logged in, with no permission at all."""
    return make_user(django_user_model, "outsider")
