"""gunicorn's settings for i2v, read with `gunicorn --config gunicorn.conf.py i2v.wsgi`.

Production runs granian now (i2v/web.py): it was measured better side by side (docs/benchmarks.md).
These are the settings production had under gunicorn, kept as the benchmarks' baseline
(bench/hot_paths.py --servers gunicorn,granian; bench/downloads.py).

Every value can be changed from the environment (GUNICORN_WORKERS, ...), so the
same image fits a small and a large machine. Requests are short (uploads stream
to a temporary file, slow work runs in Celery), so a few threads per worker
serve many clients; nginx in front buffers slow clients and large bodies.
"""

import os

from i2v.lib.observability import logging_config


def _int(name, default):
    return int(os.environ.get(name) or default)


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = _int("GUNICORN_WORKERS", 4)
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread"
# A request running this long is stuck: its worker is replaced.
timeout = _int("GUNICORN_TIMEOUT", 60)
# On SIGTERM (docker stop, a deploy) workers finish their requests within this, under
# the compose file's stop_grace_period, before they are killed.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 25)
keepalive = 5
# Replace each worker now and then, so a slow leak never grows without bound.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = 200
# Heartbeat files in memory: a busy disk must not make the arbiter think a worker hung.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# nginx is the only client; trust its X-Forwarded-* headers (Django reads X-Forwarded-Proto
# itself, through SECURE_PROXY_SSL_HEADER).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "*")
# Each worker imports the app itself: nothing opened at import time (a connection
# pool, Sentry's sending thread) is ever shared across a fork.
preload_app = False

# GUNICORN_ACCESS_LOG= (empty) turns the access log off, when nginx in front keeps one (bench/hot_paths.py).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
if os.environ.get("LOG_FORMAT") == "json":
    # gunicorn's own logs in the same JSON lines as the app's.
    logconfig_dict = logging_config("json", os.environ.get("LOG_LEVEL", "INFO"))
    logconfig_dict["loggers"].update(
        {
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        }
    )
