"""What an operator sees of the app: log format, error reports, the deploy's version.

- Logs go to stderr as text by default, or as one JSON object per line
  (python-json-logger) with LOG_FORMAT=json, for a log collector.
- With SENTRY_DSN set, sentry-sdk reports unhandled errors of web requests and
  Celery tasks (its Django and Celery integrations switch on by themselves).
- The deploy's version (RELEASE, else a digest of the code) names the release in
  error reports and versions the list cache, so no cached fragment outlives a deploy.
- Celery's routine lines (sent, received, succeeded) about the tasks beat runs every few
  seconds are left out: three lines a second buried every request and warning of `make run`.
  Their failures, and what they log themselves, still show.
"""

import hashlib
import logging
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

LOG_FORMATS = ("text", "json")
# The fields every JSON line carries, besides the message and whatever `extra` adds.
JSON_FIELDS = "{asctime}{levelname}{name}{message}{process}"
# What the version digest reads when RELEASE is not set: everything that changes
# what a page looks like or does. Never var/ (data) or .venv/ (dependencies).
VERSIONED = ("*.py", "*.html", "*.js", "*.css")
SKIP_DIRS = {".venv", "var", ".git", "node_modules", "__pycache__", "bench", "docs"}


def logging_config(log_format, level):
    if log_format not in LOG_FORMATS:
        raise ImproperlyConfigured(f"LOG_FORMAT={log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    formatters = {"text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}}
    if log_format == "json":
        formatters["json"] = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": JSON_FIELDS,
            "style": "{",
            "rename_fields": {"levelname": "level", "asctime": "time", "name": "logger"},
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": log_format}},
        "root": {"handlers": ["console"], "level": level},
        "filters": {"client_errors": {"()": ClientErrorsInOneLine}},
        # axes logs every successful login at INFO, pyvips every step of every decode;
        # what matters of either (failures, lockouts) is WARNING.
        "loggers": {
            "django.db.backends": {"level": "INFO"}, "axes": {"level": "WARNING"}, "pyvips": {"level": "WARNING"},
            "django.request": {"filters": ["client_errors"]},
        },
    }  # fmt: skip


class ClientErrorsInOneLine(logging.Filter):
    """A request refused for what it sent (4xx) is logged as its line, without the traceback of the exception
    that refused it (BadRequest, PermissionDenied): Django logs one with each, so a hundred mistyped
    addresses (?recall=abc) made a hundred tracebacks around the server's own. A 5xx keeps its traceback."""

    def filter(self, record):
        if getattr(record, "status_code", 500) < 500:
            record.exc_info = record.exc_text = None
        return True


# A task beat sends at least this often is routine: its every run is not news.
ROUTINE_SECONDS = 60
# The loggers of Celery's routine lines: beat's "Sending due task", the worker's "received" and "succeeded".
ROUTINE_LOGGERS = ("celery.beat", "celery.worker.strategy", "celery.app.trace")


class RoutineTasks(logging.Filter):
    """Drops the INFO lines (and below) that name one of `names`."""

    def __init__(self, names):
        super().__init__()
        self.names = tuple(names)

    def filter(self, record):
        return record.levelno > logging.INFO or not any(name in record.getMessage() for name in self.names)


def quiet_routine_tasks(beat_schedule):
    """Leave out the routine lines of the tasks in `beat_schedule` that run every ROUTINE_SECONDS or more often."""
    names = [entry["task"] for entry in beat_schedule.values() if float(entry["schedule"]) <= ROUTINE_SECONDS]
    routine = RoutineTasks(names)
    for name in ROUTINE_LOGGERS:
        logging.getLogger(name).addFilter(routine)
    return routine


def deploy_version(base_dir, release=""):
    """A short id of this deploy: RELEASE when set, else a digest of the source files.

    Every process of one deploy (web, workers) runs the same files and so gets
    the same id; any change to code, templates or static files gives a new one.
    """
    if release:
        return release.strip()[:40]
    digest = hashlib.sha1()
    for path in sorted(_source_files(Path(base_dir))):
        digest.update(str(path.relative_to(base_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _source_files(root):
    for entry in root.iterdir():
        if entry.name in SKIP_DIRS or entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from _source_files(entry)
        elif any(entry.match(pattern) for pattern in VERSIONED):
            yield entry


def init_sentry(dsn, *, release, environment, transport=None):
    """Start sentry-sdk when a DSN is given; return whether it was started."""
    if not dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn,
        release=release,
        environment=environment,
        # No user identity, cookies or request bodies leave the server.
        data_collection={"user_info": False, "cookies": {"mode": "off"}, "http_bodies": []},
        traces_sample_rate=0.0,  # errors only; performance tracing is Server-Timing's job here
        transport=transport,
    )
    return True
