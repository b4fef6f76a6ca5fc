"""`manage.py check --deploy` with the production settings: no warnings at all.

Settings are read once per process, so each case runs manage.py in a child
process with the environment an operator would set.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _check(tmp_path, **env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "I2V_", "DJANGO_"))}
    environ.update(VAR_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_it_passes_check_deploy_with_the_production_switch(tmp_path):
    result = _check(
        tmp_path, I2V_PRODUCTION="1", DEBUG="0", ALLOWED_HOSTS="i2v.example.com",
        SECRET_KEY=secrets.token_urlsafe(50),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_passes_check_deploy_for_a_public_host_name_without_the_switch(tmp_path):
    # Serving a public name with DEBUG off is a deployment: HTTPS-only unless it says otherwise.
    result = _check(tmp_path, DEBUG="0", ALLOWED_HOSTS="i2v.example.com", SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


HTTPS_WARNINGS = ("security.W004", "security.W008", "security.W012", "security.W016")


@pytest.mark.parametrize(
    "env",
    [
        {},  # the embedded default runs on plain http://127.0.0.1:8000, so it can't be HTTPS-only
        {"ALLOWED_HOSTS": "localhost,127.0.0.1"},
        {"ALLOWED_HOSTS": "i2v.example.com", "I2V_PRODUCTION": "0"},  # said so: plain HTTP on a public name
    ],
)
def test_it_warns_on_plain_http(tmp_path, env):
    result = _check(tmp_path, DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), **env)
    assert result.returncode != 0
    assert all(warning in result.stderr for warning in HTTPS_WARNINGS)
