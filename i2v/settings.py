"""Settings for i2v, driven by the environment.

With no environment at all the app runs on the embedded default: SQLite under
var/, local-memory cache, and Celery on kombu's filesystem transport, so
`make run` needs no servers. DATABASE_URL / REDIS_URL / CELERY_BROKER_URL switch
to PostgreSQL / Redis. Every variable is documented in docs/operations.md.
"""

import secrets
from pathlib import Path

from i2v.lib.env import database_from_url, env_bool, env_int, env_list, env_str, sqlite_database

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key():
    # Never a fixed default: without SECRET_KEY we make one per installation and
    # keep it in var/ so sessions survive restarts.
    if env_str("SECRET_KEY"):
        return env_str("SECRET_KEY")
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "imagekit",
    "i2v",
    "jobs",
    "library",
    "media_processing",
]

MIDDLEWARE = [
    "i2v.lib.timing.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "i2v.lib.tokens.TokenAuthMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "i2v.urls"
WSGI_APPLICATION = "i2v.wsgi.application"

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
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

if env_str("DATABASE_URL"):
    DATABASES = {"default": database_from_url(env_str("DATABASE_URL"))}
else:
    DATABASES = {"default": sqlite_database(VAR_DIR / "i2v.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
CACHE_TIMEOUT_SECONDS = env_int("CACHE_TIMEOUT_SECONDS", 300, minimum=1)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "TIMEOUT": CACHE_TIMEOUT_SECONDS,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "i2v"),
            "OPTIONS": {
                # A Redis outage must slow pages down, never break them: errors
                # become cache misses, and a dead server is given up on quickly.
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 0.2,
                "SOCKET_TIMEOUT": 0.2,
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "TIMEOUT": CACHE_TIMEOUT_SECONDS,
        }
    }
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True

# The list cache is only correct when the web processes and the workers share one
# cache (a worker finishing a step must invalidate the owner's lists), so it is on
# by default only with Redis. LIST_CACHE=0 turns it off; LIST_CACHE=1 forces it on.
LIST_CACHE = env_bool("LIST_CACHE", bool(REDIS_URL))

# Sessions are read on every request: keep them in the cache, backed by the database.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# Celery. The embedded default is kombu's filesystem transport under var/, so a
# worker runs with no broker server; production sets CELERY_BROKER_URL (or REDIS_URL).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    _done_dir = VAR_DIR / "celery" / "processed"
    for _d in (_queue_dir, _done_dir):
        _d.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_done_dir),
        "store_processed": False,
    }
else:
    # Longer than any task may run, so Redis never re-delivers a message that is
    # still being worked on (acks_late keeps it unacknowledged until the end).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "jobs:page"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns at start-up when it is missing
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = env_str("MEDIA_URL", "/media/")
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Serve media from Django (through the storage API) when no front server does.
SERVE_MEDIA = env_bool("SERVE_MEDIA", True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_MAX_AGE = 3600

# Adds a Server-Timing header (app time, SQL time and query count) that
# bench/ reads; cheap, so on unless turned off.
SERVER_TIMING = env_bool("SERVER_TIMING", True)

# Bulk actions may name up to PAGE_SIZE_MAX rows; the form, not the parser, says no beyond.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 5000

# Pagination standard for every list (pages and API).
PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 1000
JOBS_PAGE_SIZE = 20

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# Generation models and their prices (USD). The Jobs page filters by these ids;
# the New pipeline page estimates cost from them. "local" needs no network.
GENERATION_MODELS = {
    "local-i2i": {"label": "Local preview (image)", "kind": "i2i", "provider": "local", "per_image": "0"},
    "flux-kontext": {"label": "FLUX Kontext", "kind": "i2i", "provider": "fal", "per_image": "0.04"},
    "seedream-4": {"label": "Seedream 4", "kind": "i2i", "provider": "fal", "per_image": "0.03"},
    "gpt-image-1": {"label": "GPT Image 1", "kind": "i2i", "provider": "fal", "per_image": "0.07"},
    "local-i2v": {"label": "Local preview (video)", "kind": "i2v", "provider": "local", "per_second": "0"},
    "kling-2.1": {"label": "Kling 2.1", "kind": "i2v", "provider": "fal", "per_second": "0.05"},
    "wan-2.2": {"label": "Wan 2.2", "kind": "i2v", "provider": "fal", "per_second": "0.08"},
    "veo-3": {"label": "Veo 3", "kind": "i2v", "provider": "fal", "per_second": "0.40"},
}
