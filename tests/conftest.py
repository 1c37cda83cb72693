import subprocess

import pytest
from django.contrib.auth.models import Permission
from django.test import Client


def pytest_configure(config):
    # Importing dc43site.asgi starts the site; in tests that must not warm a JVM (Spark tests start their own).
    from django.conf import settings

    settings.DC43_WARM_SPARK = False
    # Nor start the periodic sweep of orphaned runs: a test that wants one starts it.
    settings.DC43_SWEEP_SECONDS = 0
    # Nor the alerts sender thread: a test delivers the outbox itself, or starts one.
    settings.DC43_ALERT_SEND_SECONDS = 0


def signed_in(person):
    client = Client()
    client.force_login(person)
    return client


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
    """May start runs, as a member of the "Pipeline operators" group may."""
    return make_user(django_user_model, "operator", "registry.start_run")


@pytest.fixture
def oncall(django_user_model):
    """May acknowledge and resolve alerts."""
    return make_user(django_user_model, "oncall", "registry.handle_alert")


@pytest.fixture
def viewer(django_user_model):
    """Signed in, without any permission: may watch runs, not start them."""
    return make_user(django_user_model, "viewer")


@pytest.fixture
def demo_contracts(db):
    """The demo contracts and pipelines, present again after a transactional test flushed what the migrations loaded."""
    from contracts.demo import load_demo_contracts
    from contracts.models import Contract, ContractVersion
    from pipelines.specs import load_demo_pipelines
    from registry.pipelines import Pipeline

    load_demo_contracts(Contract, ContractVersion)
    load_demo_pipelines(Pipeline)


@pytest.fixture
def orders_landing(tmp_path, settings, demo_contracts):
    """orders-landing watching a landing folder of this test, its data and checkpoints under tmp_path too."""
    from registry.pipelines import Pipeline

    folder = tmp_path / "landing"
    folder.mkdir()
    Pipeline.objects.filter(key="orders-landing").update(source_path=str(folder))
    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    return folder


@pytest.fixture
def user(django_user_model):
    """A signed-in person without admin rights."""
    return django_user_model.objects.create_user(username="reader", password="reader-pass-123")


@pytest.fixture
def user_client(user):
    return signed_in(user)


@pytest.fixture
def editor(django_user_model):
    """A staff member allowed to edit contracts, and nothing else."""
    person = django_user_model.objects.create_user(username="editor", password="editor-pass-123", is_staff=True)
    person.user_permissions.set(Permission.objects.filter(content_type__app_label="contracts"))
    return person


@pytest.fixture
def editor_client(editor):
    return signed_in(editor)


@pytest.fixture
def live_pid():
    """The pid of a real process that is alive for the whole test: someone else's run_scenario."""
    process = subprocess.Popen(["sleep", "300"])
    yield process.pid
    process.kill()
    process.wait()


@pytest.fixture
def dead_pid():
    """The pid of a process that has ended: a run_scenario killed with its run still `running`."""
    process = subprocess.Popen(["sleep", "300"])
    process.kill()
    process.wait()
    return process.pid
