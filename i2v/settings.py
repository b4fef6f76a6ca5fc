"""Settings for i2v, driven by the environment.

With no environment at all the app runs on the embedded default: SQLite under
var/, local-memory cache, and Celery on kombu's filesystem transport, so
`make run` needs no servers. DATABASE_URL / REDIS_URL / CELERY_BROKER_URL switch
to PostgreSQL / Redis. Every variable is documented in docs/operations.md.
"""

import secrets
from pathlib import Path

from kombu import Queue as KombuQueue

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
    "imports",
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
    _control_dir = VAR_DIR / "celery" / "control"  # broadcast (remote control); kombu's default is ./control
    for _d in (_queue_dir, _done_dir, _control_dir):
        _d.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_done_dir),
        "control_folder": str(_control_dir),
        "store_processed": False,
    }
else:
    # Longer than any task may run, so Redis never re-delivers a message that is
    # still being worked on (acks_late keeps it unacknowledged until the end).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)}
    # A worker consuming several queues empties them in the order it was given
    # (-Q thumbnails,variants,backfill) instead of taking turns.
    CELERY_BROKER_TRANSPORT_OPTIONS["queue_order_strategy"] = "priority"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

# Media processing (media_processing/). Three queues, so a backfill of 100,000
# never starves a fresh upload: the ProcessingJob row names its queue. One
# worker may take all three, thumbnails first:
#   celery -A i2v worker -Q thumbnails,variants,backfill
# In production run a worker per queue (or one for thumbnails and one for the
# rest), so a long backlog can't hold a core that fresh uploads need.
CELERY_TASK_QUEUES = [KombuQueue("thumbnails"), KombuQueue("variants"), KombuQueue("backfill")]
CELERY_TASK_ROUTES = {
    "media_processing.tasks.sweep": {"queue": "thumbnails"},
    "media_processing.tasks.backfill": {"queue": "backfill"},
}
CELERY_BEAT_SCHEDULE = {
    # Re-queues jobs whose worker died or whose message was lost. A sweep that
    # waited more than its period is dropped: the next one does the same work.
    "sweep-processing": {"task": "media_processing.tasks.sweep", "schedule": 60.0, "options": {"expires": 55}},
}
PROCESSING_BACKOFF_SECONDS = env_int("PROCESSING_BACKOFF_SECONDS", 10, minimum=1)  # then x4 per attempt
PROCESSING_HEARTBEAT_SECONDS = 15
# A processing job whose heartbeat is older lost its worker. Longer than the hard
# time limit, so Celery stops a stuck task before the sweeper hands it to another.
PROCESSING_STALE_SECONDS = env_int("PROCESSING_STALE_SECONDS", 300, minimum=30)
PROCESSING_SOFT_TIME_LIMIT = 180
PROCESSING_TIME_LIMIT = 240
# A queued job sent this long ago, while its broker queue is empty, lost its message.
PROCESSING_RESEND_SECONDS = env_int("PROCESSING_RESEND_SECONDS", 120, minimum=10)
PROCESSING_SWEEP_LIMIT = 10_000  # rows per sweep and per kind of repair
# Circuit breaker: this many infrastructure failures in a row pause a queue for the cool-off.
PROCESSING_BREAKER_FAILURES = env_int("PROCESSING_BREAKER_FAILURES", 10, minimum=1)
PROCESSING_BREAKER_COOLOFF_SECONDS = env_int("PROCESSING_BREAKER_COOLOFF_SECONDS", 300, minimum=1)

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

# Uploads (library/uploads.py). Bytes are capped while the file streams to disk
# (at the larger cap, since the kind is known only once the header is decoded),
# pixels and frames before anything is decoded: these stop decompression bombs.
UPLOAD_MAX_BYTES = {
    "image": env_int("UPLOAD_MAX_IMAGE_BYTES", 50 * 1024 * 1024, minimum=1),
    "video": env_int("UPLOAD_MAX_VIDEO_BYTES", 200 * 1024 * 1024, minimum=1),
}
UPLOAD_MAX_PIXELS = env_int("UPLOAD_MAX_PIXELS", 100_000_000, minimum=1)
# Animated images: more frames than this are refused (renditions use the first frame).
UPLOAD_MAX_FRAMES = env_int("UPLOAD_MAX_FRAMES", 1000, minimum=1)
# Uploads stream into temporary files here (default: the system's temp dir).
FILE_UPLOAD_TEMP_DIR = env_str("FILE_UPLOAD_TEMP_DIR") or None

# Pagination standard for every list (pages and API).
PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 1000
JOBS_PAGE_SIZE = 20
# Tiles per Library page: a few screens of the grid, small enough to render at once.
LIBRARY_PAGE_SIZE = 60

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

# --- Generation providers (jobs/providers/) -----------------------------------------------
# The local preview models need nothing. The hosted ones run on fal.ai's queue API and
# need FAL_KEY; without it, a step on a fal model fails with a message saying how to set it.
FAL_KEY = env_str("FAL_KEY")
FAL_QUEUE_URL = env_str("FAL_QUEUE_URL", "https://queue.fal.run").rstrip("/")
# fal endpoint of each hosted model in GENERATION_MODELS (an entry's own "fal_path" wins).
FAL_MODEL_PATHS = {
    "flux-kontext": "fal-ai/flux-pro/kontext",
    "seedream-4": "fal-ai/bytedance/seedream/v4/edit",
    "gpt-image-1": "fal-ai/gpt-image-1/edit-image",
    "kling-2.1": "fal-ai/kling-video/v2.1/standard/image-to-video",
    "wan-2.2": "fal-ai/wan/v2.2-a14b/image-to-video",
    "veo-3": "fal-ai/veo3/image-to-video",
}
# Each HTTP call gives up after this many seconds without an answer (connect or read).
FAL_TIMEOUT_SECONDS = env_int("FAL_TIMEOUT_SECONDS", 30, minimum=1)
# A request not completed by then is cancelled at fal and its step fails (retryably).
FAL_DEADLINE_SECONDS = env_int("FAL_DEADLINE_SECONDS", 1800, minimum=10)
FAL_POLL_SECONDS = env_int("FAL_POLL_SECONDS", 2, minimum=1)
# 429 and 5xx answers are retried: at most FAL_MAX_ATTEMPTS tries per call, waiting
# Retry-After when given, else FAL_BACKOFF_SECONDS doubling each time, never over the max.
FAL_MAX_ATTEMPTS = env_int("FAL_MAX_ATTEMPTS", 5, minimum=1)
FAL_BACKOFF_SECONDS = env_int("FAL_BACKOFF_SECONDS", 1, minimum=0)
FAL_BACKOFF_MAX_SECONDS = env_int("FAL_BACKOFF_MAX_SECONDS", 60, minimum=1)
# Generated files fetched from a provider are streamed and cut off past this size, and
# images past this many pixels are refused before decoding (decompression bombs).
GENERATION_DOWNLOAD_MAX_BYTES = env_int("GENERATION_DOWNLOAD_MAX_BYTES", 200 * 1024 * 1024, minimum=1024)
GENERATION_MAX_PIXELS = env_int("GENERATION_MAX_PIXELS", 50_000_000, minimum=1)
# --- end of generation providers -----------------------------------------------------------

# --- Pipeline execution (jobs/tasks.py) ----------------------------------------------------
# Generation steps run on their own queue, so a long video never holds a thumbnail worker:
#   celery -A i2v worker -Q generation
GENERATION_QUEUE = "generation"
CELERY_TASK_QUEUES = [*CELERY_TASK_QUEUES, KombuQueue(GENERATION_QUEUE)]
CELERY_TASK_ROUTES = {
    **CELERY_TASK_ROUTES,
    "jobs.tasks.run_step": {"queue": GENERATION_QUEUE},
    "jobs.tasks.sweep_steps": {"queue": GENERATION_QUEUE},
}
# Steps running at once per provider (GENERATION_MODELS "provider"); a step over the
# limit waits queued and is re-sent later. Hosted providers rate-limit per key.
GENERATION_CONCURRENCY = {
    "local": env_int("GENERATION_CONCURRENCY_LOCAL", 4, minimum=1),
    "fal": env_int("GENERATION_CONCURRENCY_FAL", 8, minimum=1),
}
GENERATION_CONCURRENCY_RETRY_SECONDS = 15  # wait before a step over the limit tries again
GENERATION_MAX_ATTEMPTS = 3
GENERATION_BACKOFF_SECONDS = env_int("GENERATION_BACKOFF_SECONDS", 10, minimum=1)  # then x4 per attempt
# A running step whose heartbeat is older lost its worker (providers beat at least every
# poll or frame batch, so this is generous).
GENERATION_STALE_SECONDS = env_int("GENERATION_STALE_SECONDS", 600, minimum=30)
# A queued step whose message was due this long ago, while the queue is empty, lost it.
GENERATION_RESEND_SECONDS = env_int("GENERATION_RESEND_SECONDS", 120, minimum=10)
GENERATION_SOFT_TIME_LIMIT = env_int("GENERATION_SOFT_TIME_LIMIT", 3300, minimum=60)
GENERATION_TIME_LIMIT = GENERATION_SOFT_TIME_LIMIT + 60
# The New pipeline page asks for an explicit confirmation above this estimate (USD).
PIPELINE_CONFIRM_ABOVE_USD = env_str("PIPELINE_CONFIRM_ABOVE_USD", "10")
# Outputs one pipeline may plan (sources x prompts x images [x videos]): beyond it is a typo.
PIPELINE_MAX_OUTPUTS = 2000
PIPELINE_MAX_PROMPTS = 500
PIPELINE_MAX_SOURCES = 200
# Merged with whatever schedule the settings above define.
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    "sweep-steps": {"task": "jobs.tasks.sweep_steps", "schedule": 60.0, "options": {"expires": 55}},
}
# --- end of pipeline execution -------------------------------------------------------------

# --- Remote originals and imports (library/remote.py, imports/) -----------------------------
# Assets imported from i2v as URLs are fetched by "fetch" processing jobs (or by
# `import_i2v --fetch-remote`): streamed with a size cap, retried on 5xx, 429 and
# network errors with a doubling wait, then identified like an upload.
REMOTE_FETCH_MAX_BYTES = env_int("REMOTE_FETCH_MAX_BYTES", max(UPLOAD_MAX_BYTES.values()), minimum=1024)
REMOTE_FETCH_TIMEOUT_SECONDS = env_int("REMOTE_FETCH_TIMEOUT_SECONDS", 30, minimum=1)
REMOTE_FETCH_ATTEMPTS = env_int("REMOTE_FETCH_ATTEMPTS", 3, minimum=1)
REMOTE_FETCH_BACKOFF_SECONDS = env_int("REMOTE_FETCH_BACKOFF_SECONDS", 1, minimum=0)
# Downloads at once during `import_i2v --fetch-remote` (its --concurrency overrides it).
REMOTE_FETCH_CONCURRENCY = env_int("REMOTE_FETCH_CONCURRENCY", 8, minimum=1)
# Where import_i2v writes its log of skipped and failed rows (its --log overrides it).
IMPORT_LOG_DIR = Path(env_str("IMPORT_LOG_DIR", str(VAR_DIR / "imports")))
# --- end of remote originals and imports ---------------------------------------------------
