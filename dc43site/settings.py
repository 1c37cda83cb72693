"""Settings for the dc43 site, read from the environment.

Every variable has a development default (see README). DEBUG itself is off
unless the environment or the checkout's var/site.env turns it on; in production
mode (DEBUG off) the variables that guard the site must be set, and a missing or
malformed one stops the start with a message naming it.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DC43_VAR_DIR", BASE_DIR / "var"))


def read_site_env(path):
    """KEY=value lines of a checkout's own settings (`make demo` writes DEBUG=true there); the environment wins.

    A production deployment has no such file: its operator sets the environment.
    """
    if not path or not Path(path).is_file():
        return
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ImproperlyConfigured(f"{path}, line {number}: expected KEY=value, got {line!r}")
        os.environ.setdefault(key.strip(), value.strip())


read_site_env(os.environ.get("DC43_SITE_ENV", str(VAR_DIR / "site.env")))


def envbool(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def envint(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def envfloat(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise ImproperlyConfigured(f"{name} must be a number above 0, got {value!r}")
    return number


def envlist(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def envchoice(name, default, choices):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.strip().lower() not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value.strip().lower()


def envport(name, default):
    value = envint(name, default)
    if not 0 <= value <= 65535:
        raise ImproperlyConfigured(f"{name} must be a port number from 0 to 65535, got {value!r}")
    return value


def envpairs(name):
    """ "key=value" pairs separated by ";", e.g. DC43_SPARK_CONF="spark.executor.memory=2g;spark.sql.shuffle.partitions=8"."""
    pairs = {}
    for item in os.environ.get(name, "").split(";"):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ImproperlyConfigured(f"{name} must be key=value pairs separated by ';', got {item.strip()!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def required_in_production(name):
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(
            f"{name} must be set when DEBUG is off (production mode); see README, 'Configuration'."
        )
    return value


def dev_secret_key():
    # Generated once per checkout so sessions survive restarts; never committed (var/ is ignored).
    path = VAR_DIR / "dev-secret-key"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    # Created readable by its owner only: a chmod afterwards would leave a moment when others can read it.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of this checkout (runserver's reloader) made it first
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as file:
        file.write(key)
    return key


def without_password(url):
    """A URL fit for an error message: postgres://u:***@host/db."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


# Off unless turned on: a forgotten variable must not serve tracebacks. `make demo` and the tests turn it on.
DEBUG = envbool("DEBUG", False)

if DEBUG:
    SECRET_KEY = os.environ.get("SECRET_KEY") or dev_secret_key()
    ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
else:
    SECRET_KEY = required_in_production("SECRET_KEY")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters long in production mode.")
    required_in_production("ALLOWED_HOSTS")
    ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", [])

CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "django_htmx",
    "template_partials",
    "contracts",
    "registry",
    "pipelines",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "dc43site.middleware.refuse_nul_characters",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a refused sign-in into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dc43site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "dc43site.wsgi.application"
ASGI_APPLICATION = "dc43site.asgi.application"


def database_config():
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        if not DEBUG:
            # Production on a file in the checkout by accident is worse than not starting.
            required_in_production("DATABASE_URL")
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "dc43.sqlite3",
            # Runner threads write batches while pages read: WAL lets readers go on,
            # IMMEDIATE makes writers queue instead of failing on upgrade deadlocks.
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": VAR_DIR / "test-dc43.sqlite3"},
        }
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in ("postgres", "postgresql", "pgsql", "sqlite"):
        raise ImproperlyConfigured(
            "DATABASE_URL must be postgres://user:password@host:port/name (or sqlite:///path), "
            f"got {without_password(url)!r}"
        )
    try:
        # Persistent connections do not mix with ASGI (each request may run on a new thread): open per request.
        config = dj_database_url.parse(url, conn_max_age=0)
    except Exception:
        # The parser's own message may quote the password: only the masked URL is shown.
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {without_password(url)!r}") from None
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"DATABASE_URL names no database: {without_password(url)!r}")
    return config


DATABASES = {"default": database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")) or REDIS_URL.split("://", 1)[1] in ("", "/"):
        raise ImproperlyConfigured(
            f"REDIS_URL must be redis://host:port/db (or rediss://, unix://), got {without_password(REDIS_URL)!r}"
        )
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "dc43site.channel_layers.RedisChannelLayer",
            # redis-py's 5 s socket timeout equals channels-redis's 5 s blocking read: a quiet page's
            # socket would be closed with 1011. A longer timeout lets the blocking read end first.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}], "capacity": 1500, "expiry": 30},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sign-in throttle (django-axes), for the site's login and the admin's alike: after 5 failures for one
# username from one address, that pair is refused for 15 minutes after its last failure; a success resets
# the count. Other users, and the same user from elsewhere, are not affected. Behind a proxy every client
# has the proxy's address (REMOTE_ADDR), so the pair is in effect the username.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "scenarios"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# WhiteNoise warns about a missing root even when it serves from the finders.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Without collectstatic (dev, daphne run by hand) WhiteNoise serves from the finders.
WHITENOISE_USE_FINDERS = True

if not DEBUG:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    # Only a proxy that sets X-Forwarded-Proto itself may be trusted with it; otherwise any client could claim https.
    if envbool("DC43_BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # The header only allows preloading; a site joins the browsers' list when its operator submits it.
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True

# Spark and the data the governed streams write.
DC43_SPARK_MASTER = os.environ.get("DC43_SPARK_MASTER", "local[2]")
DC43_DATA_ROOT = os.environ.get("DC43_DATA_ROOT", str(VAR_DIR / "data"))
DC43_CHECKPOINT_ROOT = os.environ.get("DC43_CHECKPOINT_ROOT", str(VAR_DIR / "checkpoints"))
# 0 turns the Spark UI off; the test suite leaves it off.
DC43_SPARK_UI_PORT = envport("DC43_SPARK_UI_PORT", 0)
# Extra Spark configuration, "key=value" pairs separated by ";".
DC43_SPARK_CONF = envpairs("DC43_SPARK_CONF")
# Start a SparkSession in the background when the site starts, so the first Run is warm.
DC43_WARM_SPARK = envbool("DC43_WARM_SPARK", True)
# A running run whose heartbeat is older than this is considered orphaned.
DC43_HEARTBEAT_TIMEOUT = envint("DC43_HEARTBEAT_TIMEOUT", 60)
if DC43_HEARTBEAT_TIMEOUT < 1:
    raise ImproperlyConfigured(
        f"DC43_HEARTBEAT_TIMEOUT must be a number of seconds above 0, got {DC43_HEARTBEAT_TIMEOUT}"
    )
# At most this many runs are active at once on the whole site (each holds Spark cores and a database
# connection); a start beyond it is refused with the reason.
DC43_MAX_ACTIVE_RUNS = envint("DC43_MAX_ACTIVE_RUNS", 4)
if DC43_MAX_ACTIVE_RUNS < 1:
    raise ImproperlyConfigured(f"DC43_MAX_ACTIVE_RUNS must be 1 or more, got {DC43_MAX_ACTIVE_RUNS}")
# Where runs execute: `inline` in a thread of the process that started them (pages, commands), or
# `worker`: pages and commands only queue them, and `manage.py run_worker` processes claim and run them.
DC43_RUNNER = envchoice("DC43_RUNNER", "inline", ("inline", "worker"))
# How often the serving process marks `interrupted` the runs whose process died; a page never
# marks them itself. The test suite sets 0: no sweep thread unless a test starts one.
DC43_SWEEP_SECONDS = envfloat("DC43_SWEEP_SECONDS", max(5.0, DC43_HEARTBEAT_TIMEOUT / 4))
# How often a live run page reads the event log by itself. Wake-ups cross processes only through
# Redis: without it, runs of other processes are seen by this poll, so it is frequent.
DC43_LIVE_POLL_SECONDS = envfloat("DC43_LIVE_POLL_SECONDS", 10.0 if REDIS_URL else 1.0)
# Rejected rows a run keeps as a sample for its page (taken from its first batches with rejects).
DC43_REJECT_SAMPLE_SIZE = envint("DC43_REJECT_SAMPLE_SIZE", 5)
if DC43_REJECT_SAMPLE_SIZE < 0:
    raise ImproperlyConfigured(f"DC43_REJECT_SAMPLE_SIZE must be 0 or more, got {DC43_REJECT_SAMPLE_SIZE}")
# A pipeline's transform must be a function of one of these modules (comma-separated): they are ours,
# so a pipeline typed in the admin can never run arbitrary code.
DC43_TRANSFORM_MODULES = envlist("DC43_TRANSFORM_MODULES", ["pipelines.transforms"])
# `sql` quality rules run in the site's Spark session: off unless the operator opts in (docs/semantics.md).
DC43_SQL_RULES = envchoice("DC43_SQL_RULES", "off", ("off", "restricted"))

# OpenLineage (docs/lineage.md): events go to an HTTP endpoint or to a file of JSON lines; with
# neither set, lineage is off and costs a run nothing.
OPENLINEAGE_URL = os.environ.get("OPENLINEAGE_URL", "")
OPENLINEAGE_ENDPOINT = os.environ.get("OPENLINEAGE_ENDPOINT", "api/v1/lineage")
OPENLINEAGE_API_KEY = os.environ.get("OPENLINEAGE_API_KEY", "")
DC43_OPENLINEAGE_FILE = os.environ.get("DC43_OPENLINEAGE_FILE", "")
# The namespace of the jobs (one per pipeline), and of datasets whose contract names no server.
DC43_OPENLINEAGE_NAMESPACE = os.environ.get("DC43_OPENLINEAGE_NAMESPACE", "dc43")
# Where this site is reached: the `dc43` run facet's _schemaURL points at the schema the site serves.
DC43_SITE_URL = os.environ.get("DC43_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "dc43": {"handlers": ["console"], "level": os.environ.get("DC43_LOG_LEVEL", "INFO")},
        "py4j": {"level": "WARNING"},
    },
}
