"""`manage.py check --deploy` with the production settings: no warnings at all.

Settings are read once per process, so each case runs manage.py in a child
process with the environment an operator would set.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

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


def test_it_warns_without_it(tmp_path):
    # The embedded default runs on plain http://127.0.0.1:8000, so it can't be HTTPS-only.
    result = _check(tmp_path, DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr
