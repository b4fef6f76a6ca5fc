"""The production web server: granian's WSGI server running i2v.wsgi, set from the environment.
Run as `python -m i2v.web` (the image's CMD, docker-compose.yml's web).

granian replaced gunicorn (gthread) because it was measured better side by side on this app's hot paths
(bench/hot_paths.py --servers, docs/benchmarks.md): less CPU per cached request and more requests/s with no
error. Every value can be changed from the environment (WEB_WORKERS, ...), so the same image fits a small and
a large machine. Requests are short (uploads stream to a temporary file, slow work runs in Celery), so a few
blocking threads per worker serve many clients; nginx in front buffers slow clients and large bodies.

What gunicorn.conf.py had and granian does differently:
- No per-request timeout: gunicorn's `timeout` only caught a worker whose main loop hung (a gthread worker's
  heartbeat doesn't wait for its request threads), which granian's respawn of failed workers covers.
- No max_requests: a worker is replaced once its memory passes WEB_MAX_RSS_MB, which is what max_requests
  guarded against (a slow leak).
- No forwarded_allow_ips: nginx's X-Forwarded-Proto and X-Forwarded-For are read by Django itself
  (SECURE_PROXY_SSL_HEADER, axes' proxy count; i2v/settings.py), as they were under gunicorn.
"""

import os

from granian import Granian
from granian.constants import HTTPModes, Interfaces
from granian.log import LogLevels

from i2v.lib.observability import logging_config


def options(environ=os.environ):
    host, _, port = environ.get("WEB_BIND", "0.0.0.0:8000").rpartition(":")
    level = environ.get("LOG_LEVEL", "info").lower()
    settings = {
        "address": host,
        "port": int(port),
        "interface": Interfaces.WSGI,
        "http": HTTPModes.http1,  # nginx speaks HTTP/1.1 to its upstream
        "websockets": False,
        "workers": int(environ.get("WEB_WORKERS") or 4),
        # Python threads per worker: what gunicorn's gthread threads were. granian's WSGI default (half its
        # backpressure: 256 per worker with 2) opened a database connection per thread and ran PostgreSQL
        # out of them under wrk; 4 did better than 2 and 8 here (docs/benchmarks.md).
        "blocking_threads": int(environ.get("WEB_THREADS") or 4),
        # Rust threads per worker doing the sockets and HTTP; 2 was the best of 1 and 2 here (2 cores).
        "runtime_threads": int(environ.get("WEB_RUNTIME_THREADS") or 2),
        "respawn_failed_workers": True,
        # Replace a worker now and then, so a slow leak never grows without bound (checked every 30 s).
        "workers_max_rss": int(environ.get("WEB_MAX_RSS_MB") or 1024) or None,
        # On SIGTERM (docker stop, a deploy) workers finish their requests within this, under the compose
        # file's stop_grace_period, before they are killed.
        "workers_kill_timeout": int(environ.get("WEB_GRACEFUL_TIMEOUT") or 25),
        "log_level": LogLevels(level),
        # WEB_ACCESS_LOG=0 turns the access log off, when nginx in front keeps one (bench/hot_paths.py).
        "log_access": environ.get("WEB_ACCESS_LOG", "1").lower() not in ("0", "false", "no", "off", ""),
    }
    if environ.get("LOG_FORMAT") == "json":
        # granian's own logs in the same JSON lines as the app's.
        config = logging_config("json", level.upper())
        config["loggers"].update(
            {
                "_granian": {"handlers": ["console"], "level": level.upper(), "propagate": False},
                "granian.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
            }
        )
        settings["log_dictconfig"] = config
    return settings


def main():
    Granian("i2v.wsgi:application", **options()).serve()


if __name__ == "__main__":
    main()
