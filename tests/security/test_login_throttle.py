"""Guessing passwords is throttled (django-axes): 5 failures for one username from one address lock that pair."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

SITE, ADMIN = "/login/", "/admin/login/"
HOME, ELSEWHERE = "10.0.0.7", "10.0.0.99"


@pytest.fixture(autouse=True)
def quick_hashing(settings):
    # Some forty sign-ins: a deliberately slow hasher would make this file the slowest of the fast tier.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def ada(django_user_model):
    return django_user_model.objects.create_user(username="ada", password="right-pass-1843", is_staff=True)


def sign_in(url, username, password, address=HOME):
    client = Client(REMOTE_ADDR=address)
    response = client.post(url, {"username": username, "password": password, "next": "/runs/"})
    return response, client.session.get("_auth_user_id")


def fail(url, username, times, address=HOME):
    for _ in range(times):
        sign_in(url, username, "wrong-guess", address)


@pytest.mark.parametrize("url", [SITE, ADMIN])
def test_after_six_bad_passwords_the_right_one_is_refused_and_the_page_says_when_to_retry(ada, url):
    fail(url, "ada", 6)
    response, signed_in = sign_in(url, "ada", "right-pass-1843")
    assert signed_in is None
    assert response.status_code == 429
    html = response.content.decode()
    assert "Sign-in locked" in html
    assert "Try again in 15 minutes" in html


def test_four_bad_passwords_still_let_the_right_one_in_and_a_success_starts_the_count_again(ada):
    fail(SITE, "ada", 4)
    assert sign_in(SITE, "ada", "right-pass-1843")[1] == str(ada.pk)
    fail(SITE, "ada", 4)
    assert sign_in(SITE, "ada", "right-pass-1843")[1] == str(ada.pk)


def test_a_lock_holds_for_the_admin_login_too(ada):
    fail(SITE, "ada", 5)
    response, signed_in = sign_in(ADMIN, "ada", "right-pass-1843")
    assert (response.status_code, signed_in) == (429, None)


def test_a_locked_pair_leaves_other_users_and_other_addresses_alone(ada, django_user_model):
    grace = django_user_model.objects.create_user(username="grace", password="other-pass-1906")
    fail(SITE, "ada", 6)
    assert sign_in(SITE, "grace", "other-pass-1906")[1] == str(grace.pk)
    assert sign_in(SITE, "ada", "right-pass-1843", address=ELSEWHERE)[1] == str(ada.pk)


def test_failures_are_recorded_in_the_migrated_axes_tables(ada):
    from axes.models import AccessAttempt  # a model of an installed app only

    fail(SITE, "ada", 2)
    attempt = AccessAttempt.objects.get(username="ada")
    assert (attempt.ip_address, attempt.failures_since_start) == (HOME, 2)
