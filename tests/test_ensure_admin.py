"""manage.py ensure_admin: one admin account on a fresh database, and nothing afterwards."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def ensure_admin(*args):
    out = StringIO()
    call_command("ensure_admin", *args, stdout=out)
    return out.getvalue()


def test_it_creates_an_admin_with_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("DC43_ADMIN_PASSWORD", "workshop-pass-2024")
    output = ensure_admin()
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password("workshop-pass-2024")
    assert "created 'admin' with the password from DC43_ADMIN_PASSWORD" in output
    assert "workshop-pass-2024" not in output


def test_without_a_password_it_generates_one_and_prints_it(monkeypatch):
    monkeypatch.delenv("DC43_ADMIN_PASSWORD", raising=False)
    output = ensure_admin()
    password = re.search(r"created 'admin' with password (\S+)", output).group(1)
    assert len(password) >= 12
    assert get_user_model().objects.get(username="admin").check_password(password)


def test_a_second_call_changes_nothing_and_prints_no_password(monkeypatch):
    monkeypatch.delenv("DC43_ADMIN_PASSWORD", raising=False)
    ensure_admin()
    admin = get_user_model().objects.get(username="admin")
    monkeypatch.setenv("DC43_ADMIN_PASSWORD", "another-password-99")
    output = ensure_admin()
    assert output.strip() == "admin account: already present"
    assert get_user_model().objects.count() == 1
    assert get_user_model().objects.get(username="admin").password == admin.password


def test_an_existing_superuser_of_another_name_is_enough(django_user_model):
    django_user_model.objects.create_superuser(username="root", password="x-long-password-1")
    assert "already present" in ensure_admin()
    assert not django_user_model.objects.filter(username="admin").exists()


def test_the_username_can_be_chosen(monkeypatch):
    monkeypatch.setenv("DC43_ADMIN_PASSWORD", "workshop-pass-2024")
    ensure_admin("--username", "host")
    assert get_user_model().objects.get(username="host").is_superuser


def test_it_creates_the_pipeline_operators_group_allowed_to_start_runs(django_user_model):
    ensure_admin()
    ensure_admin()
    group = Group.objects.get(name="Pipeline operators")
    operator = django_user_model.objects.create_user(username="op", password="x")
    operator.groups.add(group)
    assert operator.has_perm("registry.start_run")
    assert Group.objects.filter(name="Pipeline operators").count() == 1
