"""Settings come from the environment: dev defaults, production guards, and clear messages when a variable is wrong.

Each case starts a fresh Python process with a controlled environment, since settings are read once per process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k3y-for-tests-" + "x7Yq2Lm9Pz4Rt8Wv1Bn6Cd3Fg5Hj0Ks" * 2,
    "ALLOWED_HOSTS": "dc43.example.org",
    "DATABASE_URL": "postgres://dc43:secret@db.example.org:5432/dc43",
    "CSRF_TRUSTED_ORIGINS": "https://dc43.example.org",
}


def clean_env(**variables):
    """The machine's environment without any of the site's variables, plus the ones given (None removes one).

    Development mode unless DEBUG is given; a checkout's var/site.env is not read.
    """
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "JAVA_HOME", "TMPDIR")}
    env = {**keep, "DJANGO_SETTINGS_MODULE": "dc43site.settings", "DC43_SITE_ENV": "", "DEBUG": "true", **variables}
    return {k: v for k, v in env.items() if v is not None}


def manage(*args, **variables):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean_env(**variables),
        capture_output=True,
        text=True,
        timeout=120,
    )


def read_settings(*names, **variables):
    code = (
        "import json, django; from django.conf import settings; django.setup();"
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean_env(**variables), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_refused(result, *words):
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("dc43: configuration error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in message


def test_in_development_mode_without_other_variables_the_site_uses_sqlite_under_var_and_the_in_process_layer():
    found = read_settings("DATABASES", "CHANNEL_LAYERS", "DEBUG", "DC43_SPARK_MASTER", "DC43_DATA_ROOT")
    assert found["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert found["DATABASES"]["default"]["NAME"] == str(ROOT / "var" / "dc43.sqlite3")
    assert found["CHANNEL_LAYERS"]["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"
    assert found["DEBUG"] is True
    assert found["DC43_SPARK_MASTER"] == "local[2]"
    assert found["DC43_DATA_ROOT"] == str(ROOT / "var" / "data")


def test_database_url_switches_to_postgresql():
    found = read_settings("DATABASES", DATABASE_URL="postgres://dc43:pw@db.example.org:5433/audit")
    db = found["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["PORT"], db["NAME"], db["USER"]) == ("db.example.org", 5433, "audit", "dc43")
    assert db["CONN_MAX_AGE"] == 0


def test_redis_url_switches_to_channels_redis():
    found = read_settings("CHANNEL_LAYERS", REDIS_URL="redis://127.0.0.1:6379/3")
    layer = found["CHANNEL_LAYERS"]["default"]
    assert layer["BACKEND"] == "dc43site.channel_layers.RedisChannelLayer"  # channels-redis, outliving outages
    assert layer["CONFIG"]["hosts"] == [{"address": "redis://127.0.0.1:6379/3", "socket_timeout": 15}]


def test_spark_and_runner_variables_are_read():
    found = read_settings(
        "DC43_SPARK_MASTER",
        "DC43_DATA_ROOT",
        "DC43_SPARK_UI_PORT",
        "DC43_SPARK_CONF",
        "DC43_WARM_SPARK",
        "DC43_HEARTBEAT_TIMEOUT",
        DC43_SPARK_MASTER="spark://spark.example.org:7077",
        DC43_DATA_ROOT="s3a://bucket/dc43",
        DC43_SPARK_UI_PORT="4050",
        DC43_SPARK_CONF="spark.executor.memory=2g; spark.sql.shuffle.partitions=8",
        DC43_WARM_SPARK="off",
        DC43_HEARTBEAT_TIMEOUT="90",
    )
    assert found == {
        "DC43_SPARK_MASTER": "spark://spark.example.org:7077",
        "DC43_DATA_ROOT": "s3a://bucket/dc43",
        "DC43_SPARK_UI_PORT": 4050,
        "DC43_SPARK_CONF": {"spark.executor.memory": "2g", "spark.sql.shuffle.partitions": "8"},
        "DC43_WARM_SPARK": False,
        "DC43_HEARTBEAT_TIMEOUT": 90,
    }


def test_production_variables_are_used():
    found = read_settings("DEBUG", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "SESSION_COOKIE_SECURE", **PRODUCTION)
    assert found == {
        "DEBUG": False,
        "ALLOWED_HOSTS": ["dc43.example.org"],
        "CSRF_TRUSTED_ORIGINS": ["https://dc43.example.org"],
        "SESSION_COOKIE_SECURE": True,
    }


def test_check_deploy_passes_with_production_variables():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_development_defaults_pass_the_ordinary_check():
    result = manage("check")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"])
def test_production_without_a_required_variable_fails_at_start_naming_it(missing):
    variables = {k: v for k, v in PRODUCTION.items() if k != missing}
    assert_refused(manage("check", **variables), missing, "must be set when DEBUG is off")


def test_production_with_a_short_secret_key_fails_at_start():
    assert_refused(manage("check", **{**PRODUCTION, "SECRET_KEY": "short"}), "SECRET_KEY", "50 characters")


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("DEBUG", "maybe", ["DEBUG must be a boolean", "'maybe'"]),
        ("DC43_WARM_SPARK", "sometimes", ["DC43_WARM_SPARK must be a boolean"]),
        ("DATABASE_URL", "localhost:5432/dc43", ["DATABASE_URL must be postgres://"]),
        ("DATABASE_URL", "mysql://db/dc43", ["DATABASE_URL must be postgres://"]),
        ("DATABASE_URL", "postgres://u@db:port/dc43", ["DATABASE_URL is malformed"]),
        ("DATABASE_URL", "postgres://u@db:5432/", ["DATABASE_URL names no database"]),
        ("REDIS_URL", "127.0.0.1:6379", ["REDIS_URL must be redis://"]),
        ("REDIS_URL", "redis://", ["REDIS_URL must be redis://"]),
        ("DC43_HEARTBEAT_TIMEOUT", "a minute", ["DC43_HEARTBEAT_TIMEOUT must be an integer"]),
        ("DC43_HEARTBEAT_TIMEOUT", "0", ["DC43_HEARTBEAT_TIMEOUT must be a number of seconds above 0"]),
        ("DC43_SPARK_UI_PORT", "99999", ["DC43_SPARK_UI_PORT must be a port number"]),
        ("DC43_SPARK_CONF", "spark.executor.memory 2g", ["DC43_SPARK_CONF must be key=value pairs"]),
    ],
)
def test_a_malformed_variable_fails_at_start_naming_it(name, value, words):
    assert_refused(manage("check", **{name: value}), *words)


@pytest.mark.parametrize(("name", "value"), [("DATABASE_URL", "nonsense"), ("REDIS_URL", "localhost"), ("DEBUG", "2")])
def test_a_malformed_variable_fails_in_production_too(name, value):
    assert_refused(manage("check", **{**PRODUCTION, name: value}), name)


def test_a_configuration_error_stops_every_command():
    assert_refused(manage("ensure_admin", DEBUG="false"), "SECRET_KEY")
    assert_refused(manage("migrate", REDIS_URL="nope"), "REDIS_URL")


def test_daphne_is_the_first_installed_app_so_runserver_serves_websockets():
    found = read_settings("INSTALLED_APPS", "ASGI_APPLICATION")
    assert found["INSTALLED_APPS"][0] == "daphne"
    assert found["ASGI_APPLICATION"] == "dc43site.asgi.application"


def test_login_is_required_by_default():
    found = read_settings("MIDDLEWARE", "LOGIN_URL")
    assert "django.contrib.auth.middleware.LoginRequiredMiddleware" in found["MIDDLEWARE"]
    assert found["LOGIN_URL"] == "login"


def redis_is_up():
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not redis_is_up(), reason="no Redis on 127.0.0.1:6379")
def test_with_redis_url_a_message_crosses_the_channel_layer():
    code = (
        "import django, asyncio; django.setup();"
        "from channels.layers import get_channel_layer\n"
        "async def main():\n"
        "    layer = get_channel_layer()\n"
        "    name = await layer.new_channel()\n"
        "    await layer.group_add('dc43-settings-test', name)\n"
        "    await layer.group_send('dc43-settings-test', {'type': 'run.event', 'seq': 7})\n"
        "    print(type(layer).__name__, (await asyncio.wait_for(layer.receive(name), 5))['seq'])\n"
        "    await layer.group_discard('dc43-settings-test', name)\n"
        "asyncio.run(main())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean_env(REDIS_URL="redis://127.0.0.1:6379/15"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["RedisChannelLayer", "7"]
