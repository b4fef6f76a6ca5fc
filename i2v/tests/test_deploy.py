"""The production stack's files: docker-compose.yml, the image, the web server's settings
(i2v/web.py) and the healthcheck. Docker isn't run here; what can be checked without it
is: the compose file's shape, and granian started through i2v/web.py as the image does."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("web", "worker-media", "worker-generation", "worker-control", "beat")
LONG_RUNNING = (*APP_SERVICES, "postgres", "redis-broker", "redis-cache", "nginx")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_it_restarts_and_stops_every_long_running_service_gracefully(compose):
    for name in LONG_RUNNING:
        service = compose[name]
        assert service["restart"] == "unless-stopped", name
        assert service["stop_grace_period"], name
    assert compose["migrate"]["restart"] == "no"


def test_it_checks_the_health_of_every_service_that_can_answer(compose):
    for name in ("web", "worker-media", "worker-generation", "worker-control", "postgres", "redis-broker", "redis-cache", "nginx"):
        assert compose[name]["healthcheck"]["test"], name
    assert compose["web"]["healthcheck"]["test"] == ["CMD", "python", "deploy/healthcheck.py"]


def test_it_execs_the_web_server_with_its_settings(compose):
    # A list, not `sh -c "..."`: granian itself receives SIGTERM.
    assert compose["web"]["command"] == ["python", "-m", "i2v.web"]
    assert 'CMD ["python", "-m", "i2v.web"]' in (ROOT / "Dockerfile").read_text()
    assert "ports" not in compose["web"]  # only nginx is published


def test_it_migrates_once_before_web_and_workers_start(compose):
    assert "migrate" in " ".join(compose["migrate"]["command"])
    for name in APP_SERVICES:
        assert compose[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert "migrate" not in " ".join(compose[name]["command"]), name


def test_it_keeps_the_broker_and_the_cache_apart(compose):
    broker, cache = " ".join(compose["redis-broker"]["command"]), " ".join(compose["redis-cache"]["command"])
    assert "--appendonly yes" in broker and "noeviction" in broker and "brokerdata:/data" in compose["redis-broker"]["volumes"]
    assert "allkeys-lru" in cache and "--maxmemory" in cache and "--appendonly no" in cache
    assert "volumes" not in compose["redis-cache"]
    env = compose["web"]["environment"]
    assert env["CELERY_BROKER_URL"].startswith("redis://redis-broker:") and env["REDIS_URL"].startswith("redis://redis-cache:")
    assert env["I2V_PRODUCTION"] == "1"


def test_it_puts_nginx_in_front_with_the_projects_config(compose):
    nginx = compose["nginx"]
    # The same template the nginx tests run (library/tests/test_media_nginx.py), here with TLS.
    assert "./deploy/nginx/i2v.conf.template:/etc/nginx/templates/i2v.conf.template:ro" in nginx["volumes"]
    assert {"static:/data/static:ro", "media:/data/media:ro"} <= set(nginx["volumes"])
    assert nginx["environment"]["I2V_LISTEN"] == "443 ssl" and "ssl_certificate " in nginx["environment"]["I2V_TLS"]
    assert set(nginx["environment"]) >= {"I2V_UPSTREAM", "I2V_STATIC_ROOT", "I2V_MEDIA_ROOT", "I2V_MAX_BODY_SIZE"}
    assert compose["web"]["environment"]["MEDIA_SENDFILE"] == "nginx", "the app hands authorised files to nginx"
    assert "scope_media" in " ".join(compose["migrate"]["command"])


def test_it_runs_the_control_queue_alone(compose):
    command = compose["worker-control"]["command"]
    assert command[command.index("-Q") + 1] == "control" and "--concurrency=1" in command


def test_it_serves_every_queue_the_settings_declare(compose, settings):
    # A queue nobody consumes fills silently (the webhooks queue rides with generation).
    declared = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    served = set()
    for name in ("worker-media", "worker-generation", "worker-control"):
        command = compose[name]["command"]
        served |= set(command[command.index("-Q") + 1].split(","))
    assert declared <= served, declared - served
    # `make run` starts its workers through i2v/run_local.py.
    local = (ROOT / "i2v" / "run_local.py").read_text()
    make_served = {q for queues in re.findall(r'"-Q", "([^"]+)"', local) for q in queues.split(",")}
    assert declared <= make_served, declared - make_served


def test_it_builds_an_image_that_runs_as_a_user_and_bakes_in_no_local_data():
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {"var", ".venv", ".git", "**/__pycache__"} <= ignored


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_it_serves_and_stops_gracefully_under_its_settings(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(
        VAR_DIR=str(tmp_path), WEB_BIND=f"127.0.0.1:{port}", WEB_WORKERS="1", WEB_THREADS="2",
        ALLOWED_HOSTS="i2v.example.com", I2V_PRODUCTION="1", HEALTHCHECK_PORT=str(port),
    )  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "i2v.web"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        healthy = None
        for _ in range(100):
            healthy = subprocess.run([sys.executable, "deploy/healthcheck.py"], cwd=ROOT, env=env, capture_output=True)
            if healthy.returncode == 0:
                break
            time.sleep(0.2)
        assert healthy.returncode == 0, healthy.stderr
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert b"Granian shutdown completed" in server.stdout.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    # And once it is gone, the healthcheck says so.
    assert subprocess.run([sys.executable, "deploy/healthcheck.py"], cwd=ROOT, env=env, capture_output=True).returncode == 1
