"""Settings for i2v, driven by the environment.

With no environment at all the app runs on the embedded default: SQLite under
var/, local-memory cache, and Celery on kombu's filesystem transport, so
`make run` needs no servers. DATABASE_URL / REDIS_URL / CELERY_BROKER_URL switch
to PostgreSQL / Redis. Every variable is documented in docs/operations.md.
"""

import datetime
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from kombu import Queue as KombuQueue

from i2v.lib.env import database_from_url, env_bool, env_choice, env_int, env_list, env_str, installation_secret, sqlite_database
from i2v.lib.observability import deploy_version, init_sentry, logging_config
from jobs.catalog import CatalogError, load_models

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Never a fixed default: without SECRET_KEY one is made per installation and kept in
# var/, so sessions survive restarts.
SECRET_KEY = env_str("SECRET_KEY") or installation_secret(VAR_DIR / "secret_key")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
CSRF_FAILURE_VIEW = "i2v.lib.errors.csrf_failure"  # JSON under /api/, Django's page elsewhere

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
    "prompts",
    "hooks",
    "viewer",
    "downloads",
    "csp",
    # Last, as its documentation asks: it wraps the login flow of the apps above.
    "axes",
]

MIDDLEWARE = [
    "i2v.lib.timing.ServerTimingMiddleware",
    "i2v.lib.outage.DatabaseOutageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "i2v.lib.csp.CSPMiddleware",
    # Before anything reads the body: a chunked one would read as empty (i2v/lib/length_required.py).
    "i2v.lib.length_required.LengthRequiredMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "i2v.lib.admin_guard.AdminInputGuardMiddleware",
    # django.contrib.auth's, with the user from the cache: a cached list hit asks the database nothing.
    "i2v.lib.auth.CachedAuthenticationMiddleware",
    "i2v.lib.tokens.TokenAuthMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # An htmx request of a tab whose session ended goes, whole tab, to the login page.
    "i2v.lib.logged_out.LoginForHtmx",
    # A bare 405 to a browser becomes a page (with the user, the CSRF token and the CSP of any other page).
    "i2v.lib.methods.MethodNotAllowedPage",
    # Last: turns a locked-out login attempt into the lockout page (429).
    "axes.middleware.AxesMiddleware",
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
    # Files under var/, not each process's memory: `make run` serves from two web processes beside the
    # workers, and what one forgets the others must too (a replaced API token, a changed password, a
    # logout, a rate limit's count). In memory, each kept its own copy for CACHE_TIMEOUT_SECONDS.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "TIMEOUT": CACHE_TIMEOUT_SECONDS,
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True

# The list cache is only correct when the web processes and the workers share one
# cache (a worker finishing a step must invalidate the owner's lists), so it is on
# by default only with Redis. LIST_CACHE=0 turns it off; LIST_CACHE=1 forces it on.
LIST_CACHE = env_bool("LIST_CACHE", bool(REDIS_URL))

# Sessions are read on every request: keep them in the cache, backed by the database (Django's
# cached_db, whose data a request reads with its user and its list: i2v/lib/sessions.py).
SESSION_ENGINE = "i2v.lib.sessions"
# Secure cookies and the other HTTPS settings follow I2V_PRODUCTION (see the end of this file).

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
        # A worker whose one prefetched message is unacknowledged finds the queue "empty" and sleeps this
        # long before it looks again: at kombu's 1 s, each message cost a second, and beat's (check_remote
        # every second, the sweeps) piled up on the control worker, 390 waiting after half an hour of
        # `make run`, a new pipeline's dispatch 8-10 s late. A directory listing ten times a second is cheap.
        "polling_interval": 0.1,
    }
else:
    # The visibility timeout is set below, from the longest task.
    # A worker consuming several queues empties them in the order it was given
    # (-Q thumbnails,variants,backfill) instead of taking turns.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"queue_order_strategy": "priority"}
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
    "media_processing.tasks.backfill": {"queue": "backfill"},
}
PROCESSING_BACKOFF_SECONDS = env_int("PROCESSING_BACKOFF_SECONDS", 10, minimum=1)  # then x4 per attempt
PROCESSING_SOFT_TIME_LIMIT = 180
PROCESSING_TIME_LIMIT = 240
# Circuit breaker: this many infrastructure failures in a row pause a queue for the cool-off.
PROCESSING_BREAKER_FAILURES = env_int("PROCESSING_BREAKER_FAILURES", 10, minimum=1)
PROCESSING_BREAKER_COOLOFF_SECONDS = env_int("PROCESSING_BREAKER_COOLOFF_SECONDS", 300, minimum=1)

# --- The work queues (i2v/lib/workqueue.py): media processing and generation --------------
# A worker leases the row it runs for WORK_LEASE_SECONDS and renews the lease every
# WORK_HEARTBEAT_SECONDS; a worker that dies loses its rows within the lease, and the
# sweeper (every WORK_SWEEP_SECONDS) or the returning message runs them again.
WORK_LEASE_SECONDS = env_int("WORK_LEASE_SECONDS", 30, minimum=5)
WORK_HEARTBEAT_SECONDS = env_int("WORK_HEARTBEAT_SECONDS", 5, minimum=1)
if WORK_HEARTBEAT_SECONDS * 3 > WORK_LEASE_SECONDS:
    raise ImproperlyConfigured("WORK_HEARTBEAT_SECONDS must be at most a third of WORK_LEASE_SECONDS")
WORK_SWEEP_SECONDS = env_int("WORK_SWEEP_SECONDS", 10, minimum=1)
# A message sent longer ago than this that the broker no longer holds was lost, and is sent again.
WORK_RESEND_SECONDS = env_int("WORK_RESEND_SECONDS", 30, minimum=5)
WORK_SWEEP_LIMIT = 10_000  # rows per sweep and per kind of repair
WORK_BACKOFF_SECONDS = 10
# How long a worker that can't reach the database waits before handing its message back.
WORK_DB_WAIT_SECONDS = env_int("WORK_DB_WAIT_SECONDS", 30, minimum=1)
# The thread that renews leases while a run goes on (off only in tests that run tasks
# inside the test's own transaction, which another connection can't see).
WORK_LEASE_KEEPER = env_bool("WORK_LEASE_KEEPER", True)
# The sweepers run on a queue of their own, served by a small worker of its own, so no
# backlog can hold them up; no sweep expires unseen: a late one still runs, and finds
# little to do.
CONTROL_QUEUE = "control"
CELERY_TASK_QUEUES = [*CELERY_TASK_QUEUES, KombuQueue(CONTROL_QUEUE)]
CELERY_TASK_ROUTES = {
    **CELERY_TASK_ROUTES,
    "media_processing.tasks.sweep": {"queue": CONTROL_QUEUE},
    "jobs.tasks.sweep_steps": {"queue": CONTROL_QUEUE},
}
CELERY_BEAT_SCHEDULE = {
    "sweep-processing": {"task": "media_processing.tasks.sweep", "schedule": float(WORK_SWEEP_SECONDS)},
    "sweep-steps": {"task": "jobs.tasks.sweep_steps", "schedule": float(WORK_SWEEP_SECONDS)},
}

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

# --- Media: each file is its owner's (library/media.py, library/views.py media) ------------
# Every MEDIA_URL request goes through the app, which checks the owner by the file's name,
# then hands the file to nginx (MEDIA_SENDFILE=nginx: an X-Accel-Redirect to MEDIA_ACCEL_URL,
# the internal location of deploy/nginx/i2v.conf.template), or sends it itself with Range
# support (MEDIA_SENDFILE=django, the embedded default), or, when the files are on S3,
# redirects to a presigned URL. See docs/operations.md.
MEDIA_SENDFILE = env_choice("MEDIA_SENDFILE", "django", ("django", "nginx"))
SENDFILE_BACKEND = {"django": "i2v.lib.ranges", "nginx": "django_sendfile.backends.nginx"}[MEDIA_SENDFILE]
SENDFILE_ROOT = str(MEDIA_ROOT)
SENDFILE_URL = env_str("MEDIA_ACCEL_URL", "/_protected")
# S3 (or any S3-protocol store: MinIO, Ceph, R2) instead of MEDIA_ROOT when a bucket is named.
# Credentials come from the usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or an instance role).
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
# Lifetime of a presigned URL; browsers keep the redirect to it for half of that.
MEDIA_URL_EXPIRE_SECONDS = env_int("MEDIA_URL_EXPIRE_SECONDS", 3600, minimum=60)
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            "addressing_style": env_str("AWS_S3_ADDRESSING_STYLE") or None,
            "signature_version": "s3v4",
            "querystring_auth": True,  # private objects, reached through presigned URLs only
            "querystring_expire": MEDIA_URL_EXPIRE_SECONDS,
            "default_acl": None,  # the bucket's (private)
        },
    }
# The collector (library/collector.py): files a scan finds unreferenced are deleted after the
# grace period if still unreferenced then; files of deleted assets as soon as a worker gets to it.
MEDIA_GC_GRACE_SECONDS = env_int("MEDIA_GC_GRACE_SECONDS", 3600, minimum=300)
MEDIA_GC_INTERVAL_SECONDS = env_int("MEDIA_GC_INTERVAL_SECONDS", 600, minimum=60)
MEDIA_GC_BATCH = 500  # files per transaction
MEDIA_GC_QUEUE = "backfill"  # housekeeping: the media worker's least urgent queue
# --- end of media ------------------------------------------------------------------------------

# Adds a Server-Timing header (app time, SQL time and query count) that
# bench/ reads; cheap, so on unless turned off. Only staff (and everyone under
# DEBUG) get it: it tells how expensive each request is. bench/ logs in as staff.
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

# Downloads (downloads/): one zip streams a selection of at most this many ids per kind
# (outputs, pipelines, assets), files and bytes; a bigger one is refused with 413 before anything is sent.
DOWNLOAD_MAX_IDS = env_int("DOWNLOAD_MAX_IDS", 1000, minimum=1)
DOWNLOAD_MAX_FILES = env_int("DOWNLOAD_MAX_FILES", 10_000, minimum=1)
DOWNLOAD_MAX_BYTES = env_int("DOWNLOAD_MAX_BYTES", 20 * 1024**3, minimum=1)

# Pagination standard for every list (pages and API).
PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 1000
JOBS_PAGE_SIZE = 20
# Tiles per Library page: a few screens of the grid, small enough to render at once.
LIBRARY_PAGE_SIZE = 60

# LOG_FORMAT=json writes one JSON object per line (python-json-logger), for a log
# collector; the default is plain text for people. i2v/lib/observability.py.
LOG_FORMAT = env_str("LOG_FORMAT", "text")
LOGGING = logging_config(LOG_FORMAT, env_str("LOG_LEVEL", "INFO").upper())  # "warning" works as well as "WARNING"

# --- Generation (jobs/) ----------------------------------------------------------------------
# The models, their providers and their prices: jobs/catalog.toml, with an operator's own
# TOML file merged over it (GENERATION_CATALOG). Checked here, so a typo stops start-up.
GENERATION_CATALOG = env_str("GENERATION_CATALOG")
try:
    GENERATION_MODELS = load_models(BASE_DIR / "jobs" / "catalog.toml", GENERATION_CATALOG or None)
except CatalogError as exc:
    raise ImproperlyConfigured(str(exc)) from None

# Where providers call back (webhooks) and fetch nothing from: the public address of this
# site, e.g. https://i2v.example.com. Unset, requests are only polled.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL").rstrip("/")
# Requests in flight at once per provider account: the provider's own limit (fal allows
# 2 to 40 by account), never the number of worker slots.
GENERATION_CONCURRENCY = {
    "local": env_int("GENERATION_CONCURRENCY_LOCAL", 2, minimum=1),
    "fal": env_int("GENERATION_CONCURRENCY_FAL", 8, minimum=1),
    "replicate": env_int("GENERATION_CONCURRENCY_REPLICATE", 8, minimum=1),
    "openai": env_int("GENERATION_CONCURRENCY_OPENAI", 4, minimum=1),
    "gemini": env_int("GENERATION_CONCURRENCY_GEMINI", 4, minimum=1),
    "comfyui": env_int("GENERATION_CONCURRENCY_COMFYUI", 1, minimum=1),
}
# The poller asks providers about requests in flight every this many seconds (many per tick).
GENERATION_POLL_SECONDS = env_int("GENERATION_POLL_SECONDS", 1, minimum=1)
GENERATION_FIRST_CHECK_SECONDS = env_int("GENERATION_FIRST_CHECK_SECONDS", 1, minimum=1)
GENERATION_CHECK_BATCH = 500  # requests asked about per tick
GENERATION_CHECK_THREADS = env_int("GENERATION_CHECK_THREADS", 16, minimum=1)
# Each HTTP call to a provider gives up after this many seconds without an answer.
GENERATION_HTTP_TIMEOUT_SECONDS = env_int("GENERATION_HTTP_TIMEOUT_SECONDS", 30, minimum=1)
# A submission with no answer is looked up (or waited for by webhook) this long before its owner is asked.
GENERATION_UNKNOWN_WAIT_SECONDS = env_int("GENERATION_UNKNOWN_WAIT_SECONDS", 600, minimum=10)
# A step that found every place taken, or was told 429 without Retry-After, waits this long.
GENERATION_PLACE_WAIT_SECONDS = 5
GENERATION_RATE_LIMIT_WAIT_SECONDS = 30
# Generated files fetched from a provider are streamed and cut off past this size, and
# images past this many pixels are refused before decoding (decompression bombs).
GENERATION_DOWNLOAD_MAX_BYTES = env_int("GENERATION_DOWNLOAD_MAX_BYTES", 200 * 1024 * 1024, minimum=1024)
GENERATION_MAX_PIXELS = env_int("GENERATION_MAX_PIXELS", 50_000_000, minimum=1)
# Steps one user may have queued, running or at a provider at once; more is refused with a 429.
GENERATION_MAX_STEPS_IN_FLIGHT = env_int("GENERATION_MAX_STEPS_IN_FLIGHT", 10_000, minimum=1)
# A pipeline of more first-stage steps than this is accepted at once and its steps made by the dispatcher.
GENERATION_EXPAND_INLINE_STEPS = env_int("GENERATION_EXPAND_INLINE_STEPS", 200, minimum=0)

# Provider keys and addresses. A model whose provider has no key fails readably, saying
# which variable to set. The *_URL settings exist for tests and proxies.
FAL_KEY = env_str("FAL_KEY")
FAL_QUEUE_URL = env_str("FAL_QUEUE_URL", "https://queue.fal.run").rstrip("/")
FAL_JWKS_URL = env_str("FAL_JWKS_URL", "https://rest.alpha.fal.ai/.well-known/jwks.json")
REPLICATE_API_TOKEN = env_str("REPLICATE_API_TOKEN")
REPLICATE_BASE_URL = env_str("REPLICATE_BASE_URL", "https://api.replicate.com/v1").rstrip("/")
REPLICATE_WEBHOOK_SECRET = env_str("REPLICATE_WEBHOOK_SECRET")
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
# An image edit answers once the image is made (a minute or two at high quality), not within GENERATION_HTTP_TIMEOUT_SECONDS.
OPENAI_TIMEOUT_SECONDS = env_int("OPENAI_TIMEOUT_SECONDS", 300, minimum=1)
GEMINI_API_KEY = env_str("GEMINI_API_KEY")
GEMINI_BASE_URL = env_str("GEMINI_BASE_URL")
# Gemini answers with the image itself, so its call waits for the model this long.
GEMINI_TIMEOUT_SECONDS = env_int("GEMINI_TIMEOUT_SECONDS", 120, minimum=1)
# A request still `sending` this long after it was made, under a step cancelled meanwhile, lost its worker: no live
# one is still in a call by then (the longest a provider's call may take, twice, and a lease). It is taken up as a
# lost submission (looked for, or its outcome shown), so it neither holds a provider place nor Resume up for good.
GENERATION_SENDING_GIVE_UP_SECONDS = env_int(
    "GENERATION_SENDING_GIVE_UP_SECONDS",
    2 * max(GENERATION_HTTP_TIMEOUT_SECONDS, OPENAI_TIMEOUT_SECONDS, GEMINI_TIMEOUT_SECONDS) + WORK_LEASE_SECONDS,
    minimum=60,
)
COMFYUI_URL = env_str("COMFYUI_URL").rstrip("/")  # unset: no ComfyUI models are offered
COMFYUI_WORKFLOWS = env_str("COMFYUI_WORKFLOWS", str(BASE_DIR / "jobs" / "workflows"))

# Generation steps run on their own queue, so a download never holds a thumbnail worker:
#   celery -A i2v worker -Q generation
GENERATION_QUEUE = "generation"
CELERY_TASK_QUEUES = [*CELERY_TASK_QUEUES, KombuQueue(GENERATION_QUEUE)]
CELERY_TASK_ROUTES = {
    **CELERY_TASK_ROUTES,
    "jobs.tasks.run_step": {"queue": GENERATION_QUEUE},
    "jobs.tasks.check_remote": {"queue": CONTROL_QUEUE},
    "jobs.tasks.dispatch_steps": {"queue": CONTROL_QUEUE},
}
CELERY_BEAT_SCHEDULE = {
    **CELERY_BEAT_SCHEDULE,
    # A tick that finds the last one still running waits its turn on the control worker.
    "check-remote": {"task": "jobs.tasks.check_remote", "schedule": float(GENERATION_POLL_SECONDS)},
}
GENERATION_BACKOFF_SECONDS = env_int("GENERATION_BACKOFF_SECONDS", 10, minimum=1)  # then x4 per attempt
# A run submits or fetches, never waits on a provider: minutes at most (a synchronous
# provider answering a big image, a large video download).
GENERATION_SOFT_TIME_LIMIT = env_int("GENERATION_SOFT_TIME_LIMIT", 600, minimum=60)
GENERATION_TIME_LIMIT = GENERATION_SOFT_TIME_LIMIT + 60
# The New pipeline page, reruns, retries and the API ask for an explicit confirmation above this estimate (USD).
PIPELINE_CONFIRM_ABOVE_USD = env_str("PIPELINE_CONFIRM_ABOVE_USD", "10")
# How long an Idempotency-Key's answer is kept for replays (i2v/lib/idempotency.py).
IDEMPOTENCY_KEY_DAYS = 1
# Outputs one pipeline may plan (sources x prompts x images [x videos]): beyond it is a typo.
PIPELINE_MAX_OUTPUTS = 2000
PIPELINE_MAX_PROMPTS = 500
PIPELINE_MAX_SOURCES = 200
# --- end of generation -----------------------------------------------------------------------

# --- Prompts (prompts/): enhancement through any OpenAI-compatible chat endpoint ------------------
# PROMPT_LLM_URL is the API's base (https://api.openai.com/v1, http://127.0.0.1:11434/v1 for Ollama,
# http://127.0.0.1:8080/v1 for llama.cpp's server); unset, the New pipeline page offers no enhancement.
PROMPT_LLM_URL = env_str("PROMPT_LLM_URL").rstrip("/")
PROMPT_LLM_MODEL = env_str("PROMPT_LLM_MODEL", "gpt-4o-mini")
PROMPT_LLM_KEY = env_str("PROMPT_LLM_KEY")
PROMPT_LLM_TIMEOUT_SECONDS = env_int("PROMPT_LLM_TIMEOUT_SECONDS", 60, minimum=1)
PROMPT_LLM_INSTRUCTIONS = env_str(
    "PROMPT_LLM_INSTRUCTIONS",
    "Rewrite the user's image generation prompt to be vivid and specific: subject, setting, lighting, "
    "composition, style. Keep its meaning. Answer with the rewritten prompt only, on one line, under 400 characters.",
)

# --- Outgoing webhooks (hooks/) ----------------------------------------------------------------------
# Deliveries are a work queue like the others (i2v/lib/workqueue.py), on a queue of their own so a slow
# receiver never holds up generation: `celery -A i2v worker -Q webhooks` (make run and docker-compose
# give it to the generation worker).
WEBHOOK_QUEUE = "webhooks"
CELERY_TASK_QUEUES = [*CELERY_TASK_QUEUES, KombuQueue(WEBHOOK_QUEUE)]
CELERY_TASK_ROUTES = {
    **CELERY_TASK_ROUTES,
    "hooks.tasks.deliver": {"queue": WEBHOOK_QUEUE},
    "hooks.tasks.sweep": {"queue": CONTROL_QUEUE},
}
CELERY_BEAT_SCHEDULE = {
    **CELERY_BEAT_SCHEDULE,
    "sweep-webhooks": {"task": "hooks.tasks.sweep", "schedule": float(WORK_SWEEP_SECONDS)},
}
WEBHOOK_BACKOFF_SECONDS = env_int("WEBHOOK_BACKOFF_SECONDS", 30, minimum=1)  # then x4 per attempt
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 6, minimum=1)
# Each POST. The lease keeper renews the delivery's lease while it waits, so a longer one is safe too.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
# Off: endpoints on loopback, private, link-local and reserved addresses are refused (SSRF); on for tests
# and for self-hosting where the receiver lives on the same machine or network.
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
WEBHOOK_ENDPOINTS_MAX = 20  # per user
# The delivery log keeps ended deliveries this long; the webhooks sweeper forgets older ones.
WEBHOOK_LOG_DAYS = env_int("WEBHOOK_LOG_DAYS", 30, minimum=1)

if not CELERY_BROKER_URL.startswith("filesystem://"):
    # Longer than any task may run, so Redis never gives out again the message of a
    # task that is still running (acks_late keeps it unacknowledged until the end).
    # A worker that died loses its rows through their leases long before this.
    _longest_task = max(PROCESSING_TIME_LIMIT, GENERATION_TIME_LIMIT)
    CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = env_int(
        "CELERY_VISIBILITY_TIMEOUT", _longest_task + 60, minimum=_longest_task + 1
    )

# --- Production: HTTPS, CSP, abuse limits, health, error reports (docs/operations.md) -------
# I2V_PRODUCTION=1 is the one switch for running behind the TLS proxy (nginx in
# docker-compose.yml): HSTS, secure cookies, redirect to HTTPS, and trust in the
# proxy's X-Forwarded-Proto. Its default follows the host names served: on as soon
# as one is a public name (ALLOWED_HOSTS=i2v.example.com, or "*") with DEBUG off,
# so a deployment is HTTPS-only unless it says I2V_PRODUCTION=0; off when every
# name is this machine's own, so `make run`, the tests and bench/ work on plain
# http://127.0.0.1:8000. Each setting can still be changed on its own.
_LOOPBACK = {"localhost", "127.0.0.1", "[::1]", "::1", ".localhost"}
PRODUCTION = env_bool("I2V_PRODUCTION", not DEBUG and not set(ALLOWED_HOSTS) <= _LOOPBACK)
# nginx sets X-Forwarded-Proto to the scheme the client used (and overwrites any
# the client sent), so Django knows a request came over HTTPS.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_PROXY", PRODUCTION) else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
# The container healthcheck calls the app server (granian) directly over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
SESSION_COOKIE_HTTPONLY = True
# Retired keys still verify old sessions and signed cursors while a new SECRET_KEY
# rolls out (docs/operations.md, "Rotating the secret key").
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])

# Content-Security-Policy on every response (django-csp). Scripts only from our
# own static files: no inline script, no eval (htmx runs with allowEval off, see
# templates/base.html). Tag colours are set through the CSSOM by static/js/app.js,
# so no style attribute needs 'unsafe-inline' either. CSP_EXTRA_MEDIA_SRC adds the
# origin media come from when they are not on this host (an S3 bucket).
_MEDIA_SRC = ["'self'", "data:", "blob:", *env_list("CSP_EXTRA_MEDIA_SRC", [])]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": _MEDIA_SRC,
        "media-src": _MEDIA_SRC,
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Login throttling (django-axes): FAILURES wrong passwords for one username from one
# address lock that pair out for the cool-off; the login page then answers 429 with
# templates/registration/locked_out.html. A success resets the count.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_ENABLED = env_bool("LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Behind nginx the client's address is the last one nginx appended to X-Forwarded-For.
if SECURE_PROXY_SSL_HEADER:
    AXES_IPWARE_PROXY_COUNT = 1
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]

# Per-user rate limits (i2v/lib/ratelimit.py): "count/seconds"; RATE_LIMITS=0 turns
# them all off (the benchmarks do, to measure the app rather than the limiter).
RATE_LIMITS_ENABLED = env_bool("RATE_LIMITS", True)
RATE_LIMITS = {
    # POST /pipelines/new, POST /api/pipelines and rerun, together.
    "pipelines": env_str("RATE_LIMIT_PIPELINES", "30/60"),
    # POST /api/library/images (the Library page sends one file per request).
    "uploads": env_str("RATE_LIMIT_UPLOADS", "300/60"),
}

# The JSON API reads bodies through i2v/lib/jsonbody.py, within these limits.
API_JSON_MAX_BYTES = env_int("API_JSON_MAX_BYTES", 2 * 1024 * 1024, minimum=1024)
API_JSON_MAX_DEPTH = 20

# Cached list fragments carry the deploy's version in their keys, so none survives
# a deploy (i2v/lib/cache.py). RELEASE (a build id or git revision, set by the
# image build) wins; without it, a digest of the code and templates.
RELEASE = deploy_version(BASE_DIR, env_str("RELEASE"))

# Error reports: with SENTRY_DSN set, unhandled exceptions in web requests and
# Celery tasks go to Sentry (no personal data: no cookies, no bodies, no user ids).
SENTRY_DSN = env_str("SENTRY_DSN")
init_sentry(SENTRY_DSN, release=RELEASE, environment=env_str("SENTRY_ENVIRONMENT", "production"))
if LOG_FORMAT == "json":
    # Celery would otherwise replace the root handler with its own text format.
    CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# --- end of production ----------------------------------------------------------------------

# --- Media collector schedule (library/tasks.py) -------------------------------------------
CELERY_TASK_ROUTES = {**CELERY_TASK_ROUTES, "library.tasks.collect_media": {"queue": MEDIA_GC_QUEUE}}
CELERY_BEAT_SCHEDULE = {
    **CELERY_BEAT_SCHEDULE,
    "collect-media": {
        "task": "library.tasks.collect_media",
        "schedule": float(MEDIA_GC_INTERVAL_SECONDS),
        "options": {"expires": MEDIA_GC_INTERVAL_SECONDS - 5},
    },
    # The scan lists the whole storage: once a day is enough to catch what crashes left behind.
    "scan-media": {
        "task": "library.tasks.collect_media",
        "schedule": 86400.0,
        "kwargs": {"scan": True},
        "options": {"expires": 3600},
    },
}
# --- end of media collector schedule -------------------------------------------------------

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
