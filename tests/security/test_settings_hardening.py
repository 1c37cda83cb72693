"""Settings fail safe: production unless told otherwise, no password in a message, secrets kept private.

The settings are read once per process, so most cases start a fresh one (see tests/test_settings.py).
"""

import os
import stat
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from test_settings import PRODUCTION, ROOT, assert_refused, clean_env, manage, read_settings


@pytest.mark.process
def test_without_debug_in_the_environment_the_site_starts_in_production_mode_or_not_at_all():
    assert_refused(manage("check", DEBUG=None), "SECRET_KEY must be set when DEBUG is off")
    assert read_settings("DEBUG", **{**PRODUCTION, "DEBUG": None}) == {"DEBUG": False}


@pytest.mark.process
def test_the_checkouts_site_env_file_is_read_and_the_environment_wins(tmp_path):
    site_env = tmp_path / "site.env"
    site_env.write_text("# written by make demo\nDEBUG=true\nDC43_SPARK_MASTER=local[1]\n\n")
    found = read_settings("DEBUG", "DC43_SPARK_MASTER", DEBUG=None, DC43_SITE_ENV=str(site_env))
    assert found == {"DEBUG": True, "DC43_SPARK_MASTER": "local[1]"}
    found = read_settings("DC43_SPARK_MASTER", DC43_SITE_ENV=str(site_env), DC43_SPARK_MASTER="local[3]")
    assert found == {"DC43_SPARK_MASTER": "local[3]"}
    assert_refused(manage("check", DEBUG="false", DC43_SITE_ENV=str(site_env)), "SECRET_KEY")


@pytest.mark.process
def test_a_malformed_site_env_line_stops_the_start_naming_the_file_and_line(tmp_path):
    site_env = tmp_path / "site.env"
    site_env.write_text("DEBUG=true\njust words\n")
    assert_refused(manage("check", DC43_SITE_ENV=str(site_env)), str(site_env), "line 2")


@pytest.mark.process
def test_the_forwarded_proto_header_is_trusted_only_behind_a_declared_tls_proxy():
    found = read_settings("SECURE_PROXY_SSL_HEADER", **PRODUCTION)
    assert found == {"SECURE_PROXY_SSL_HEADER": None}
    found = read_settings("SECURE_PROXY_SSL_HEADER", **PRODUCTION, DC43_BEHIND_TLS_PROXY="true")
    assert found == {"SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"]}


@pytest.mark.process
@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("DATABASE_URL", "postgres://dc43:s3cr3t-Pw@db.example.org:port/dc43", "postgres://dc43:***@db.example.org"),
        ("DATABASE_URL", "mysql://dc43:s3cr3t-Pw@db.example.org/dc43", "mysql://dc43:***@db.example.org/dc43"),
        ("DATABASE_URL", "postgres://dc43:s3cr3t-Pw@db.example.org:5432/", "postgres://dc43:***@db.example.org"),
        ("REDIS_URL", "http://default:s3cr3t-Pw@redis.example.org:6379/0", "http://default:***@redis.example.org"),
    ],
)
def test_a_configuration_error_never_prints_a_password(name, value, shown):
    result = manage("check", **{name: value})
    assert_refused(result, name, shown)
    assert "s3cr3t-Pw" not in result.stderr + result.stdout


def test_a_url_loses_only_its_password_in_a_message():
    from dc43site.settings import without_password

    assert without_password("postgres://u:p@ss:w0rd@host:5432/db") == "postgres://u:***@host:5432/db"
    assert without_password("redis://:pw@host:6379/0") == "redis://:***@host:6379/0"
    assert without_password("postgres://u@host/db") == "postgres://u@host/db"
    assert without_password("localhost:5432/db") == "localhost:5432/db"


@pytest.mark.process
def test_the_generated_development_secret_key_is_readable_by_its_owner_only(tmp_path):
    code = "import django; from django.conf import settings; django.setup(); print(len(settings.SECRET_KEY))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean_env(DC43_VAR_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.umask(0o022),  # the usual umask, which leaves a plain new file readable by all
    )
    assert result.returncode == 0, result.stderr
    key_file = tmp_path / "dev-secret-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text()) == int(result.stdout) >= 50


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "reason"),
    [("12345678", "entirely numeric"), ("iloveyou", "too common"), ("admin-01", "too similar to the username")],
)
def test_ensure_admin_refuses_a_weak_password_and_creates_no_account(monkeypatch, django_user_model, password, reason):
    monkeypatch.setenv("DC43_ADMIN_PASSWORD", password)
    with pytest.raises(CommandError) as refused:
        call_command("ensure_admin")
    assert str(refused.value).startswith("DC43_ADMIN_PASSWORD is refused: ")
    assert reason in str(refused.value)
    assert password not in str(refused.value)
    assert not django_user_model.objects.exists()
