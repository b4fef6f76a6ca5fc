"""JSON logs, error reports through sentry-sdk, and the deploy's version."""

import io
import json
import logging
import logging.config

import pytest
import sentry_sdk
from django.core.exceptions import BadRequest, ImproperlyConfigured
from django.test import Client
from django.urls import path
from sentry_sdk.transport import Transport

from i2v.lib.observability import ROUTINE_LOGGERS, deploy_version, init_sentry, logging_config, quiet_routine_tasks


def boom(request):
    raise RuntimeError("something broke in a view")


def refuse(request):
    raise BadRequest("The id must be a whole number.")


urlpatterns = [path("boom", boom), path("refuse", refuse)]


def test_it_writes_one_json_object_per_line():
    config = logging_config("json", "INFO")
    stream = io.StringIO()
    config["handlers"]["console"]["stream"] = stream
    config["root"]["handlers"] = ["console"]
    config["loggers"]["i2v.test"] = {"handlers": ["console"], "level": "INFO", "propagate": False}
    logging.config.dictConfig(config)
    try:
        logging.getLogger("i2v.test").warning("disk %s full", "media", extra={"asset_id": 7})
    finally:
        from django.conf import settings

        logging.config.dictConfig(settings.LOGGING)
    line = json.loads(stream.getvalue().strip())
    assert line["message"] == "disk media full" and line["level"] == "WARNING"
    assert line["logger"] == "i2v.test" and line["asset_id"] == 7 and "time" in line


def test_it_refuses_an_unknown_log_format():
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT"):
        logging_config("xml", "INFO")


class Captured(Transport):
    def __init__(self, options=None):
        super().__init__(options)
        self.events = []

    def capture_envelope(self, envelope):
        self.events += [item.payload.json for item in envelope.items if item.type == "event"]


@pytest.fixture
def sentry():
    transport = Captured()
    assert init_sentry("https://key@sentry.example.com/1", release="r1", environment="test", transport=transport)
    try:
        yield transport
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)


@pytest.mark.urls(__name__)
def test_it_reports_an_unhandled_error_to_sentry(sentry, db):
    response = Client(raise_request_exception=False).get("/boom", HTTP_COOKIE="sessionid=secret")
    assert response.status_code == 500
    sentry_sdk.flush()
    [event] = sentry.events
    assert event["exception"]["values"][-1]["value"] == "something broke in a view"
    assert (event["release"], event["environment"]) == ("r1", "test")
    assert "secret" not in json.dumps(event)  # no cookies leave the server


@pytest.mark.urls(__name__)
def test_it_logs_a_refused_request_in_one_line_and_a_failed_one_with_its_traceback(caplog, db):
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get("/refuse").status_code == 400
        assert client.get("/boom").status_code == 500
    refused, failed = [r for r in caplog.records if r.name == "django.request"]
    assert (refused.getMessage(), refused.exc_info) == ("The id must be a whole number.: /refuse", None)
    assert "Traceback" not in caplog.text.split("Internal Server Error")[0]
    assert failed.exc_info[0] is RuntimeError and "something broke in a view" in caplog.text


def test_it_starts_no_sentry_without_a_dsn():
    assert init_sentry("", release="r1", environment="test") is False


def test_it_versions_by_release_or_by_the_sources(tmp_path):
    assert deploy_version(tmp_path, "abc123") == "abc123"
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "views.py").write_text("x = 1")
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "data.py").write_text("not code of the deploy")
    first = deploy_version(tmp_path)
    (tmp_path / "var" / "data.py").write_text("changed data")
    assert deploy_version(tmp_path) == first
    (tmp_path / "app" / "views.py").write_text("x = 2")
    assert deploy_version(tmp_path) != first


def test_it_takes_a_log_level_in_any_case():
    # granian's settings (i2v/web.py) take the level in lower case; the same variable configures Django's logging.
    import os
    import subprocess
    import sys

    env = {**os.environ, "LOG_LEVEL": "warning", "DJANGO_SETTINGS_MODULE": "i2v.settings"}
    code = "import django, logging; django.setup(); print(logging.getLogger().level)"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "30"


def test_it_leaves_out_the_routine_lines_of_tasks_beat_runs_every_few_seconds(caplog):
    schedule = {"often": {"task": "jobs.tasks.check_remote", "schedule": 1.0}, "daily": {"task": "library.tasks.collect_media", "schedule": 86400.0}}
    routine = quiet_routine_tasks(schedule)
    try:
        with caplog.at_level(logging.INFO):
            logging.getLogger("celery.beat").info("Scheduler: Sending due task often (jobs.tasks.check_remote)")
            logging.getLogger("celery.app.trace").info("Task jobs.tasks.check_remote[1] succeeded in 0.01s: 'check_remote: 0 checked'")
            logging.getLogger("celery.app.trace").error("Task jobs.tasks.check_remote[2] raised unexpected: OperationalError()")
            logging.getLogger("celery.worker.strategy").info("Task library.tasks.collect_media[3] received")
            logging.getLogger("jobs.tasks").info("check_remote: 3 checked, 1 changed, 0 steps sent")
    finally:
        for name in ROUTINE_LOGGERS:
            logging.getLogger(name).removeFilter(routine)
    assert [r.getMessage()[:40] for r in caplog.records] == [
        "Task jobs.tasks.check_remote[2] raised u",
        "Task library.tasks.collect_media[3] rece",
        "check_remote: 3 checked, 1 changed, 0 st",
    ]
