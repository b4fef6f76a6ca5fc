"""make run's supervisor (i2v/run_local.py) on real child processes: Ctrl-C stops every child within
seconds, politely first, and a child that won't stop is killed with its whole process group."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import run_local  # noqa: E402  (a script, not a module of the package)

SCRIPT = Path(run_local.__file__)

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]
STUBBORN = [sys.executable, "-c", "import signal, time\n"
            "for s in (signal.SIGTERM, signal.SIGQUIT): signal.signal(s, signal.SIG_IGN)\n"
            "time.sleep(60)"]  # fmt: skip
# A parent that leaves a grandchild behind, as a Celery worker leaves its pool.
ORPHANING = [sys.executable, "-c", f"import subprocess; subprocess.Popen({SLEEP!r}); import time; time.sleep(60)"]


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setattr(run_local, "WARM", 0.5)
    monkeypatch.setattr(run_local, "COLD", 0.5)


def test_it_stops_every_child_within_seconds(quick):
    stack = run_local.Stack({"polite": SLEEP, "stubborn": STUBBORN, "orphaning": ORPHANING})
    stack.start()
    time.sleep(0.5)
    started = time.monotonic()

    stack.stop()
    stack.wait_stopped()

    assert time.monotonic() - started < 3
    codes = {name: child.returncode for name, child in stack.children.items()}
    assert codes == {"polite": -signal.SIGTERM, "stubborn": -signal.SIGKILL, "orphaning": -signal.SIGTERM}
    # Nothing of any group is left running: the orphaned grandchild went with its group.
    groups = {child.pid for child in stack.children.values()}
    assert not [p for p in _processes() if p["pgid"] in groups and p["state"] != "Z"]


def _processes():
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        yield {"state": fields[0], "pgid": int(fields[2])}


def run_main(commands, env, cwd=SCRIPT.parent):
    """run_local.main() in a process of its own, with `commands` (a dict's Python source) for its children."""
    code = (
        f"import sys; sys.path.insert(0, {str(SCRIPT.parent)!r}); import run_local\n"
        f"run_local.commands = lambda bind, var: {commands}\n"
        "sys.argv = ['run_local']\n"
        "run_local.main()\n"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_it_stops_the_rest_when_one_child_exits(quick, tmp_path):
    commands = f"{{'dies': [{sys.executable!r}, '-c', 'raise SystemExit(3)'], 'sleeps': {SLEEP!r}}}"
    done = run_main(commands, env={"VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert "dies exited (code 3); stopping the rest" in done.stderr
    assert "i2v: stopped in " in done.stderr


@pytest.mark.parametrize("asked, expected", [(None, "False"), ("1", "True")])
def test_it_serves_plain_http_even_for_a_public_host_name_unless_asked(tmp_path, asked, expected):
    """make run serves http://, so a public ALLOWED_HOSTS (which turns the HTTPS-only settings on
    elsewhere) must not redirect its pages to https:// unless I2V_PRODUCTION asks for it."""
    probe = "from django.conf import settings; print('redirect', settings.SECURE_SSL_REDIRECT)"
    commands = f"{{'web': [{sys.executable!r}, '-c', 'import django; django.setup(); ' + {probe!r}]}}"
    env = {"VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "ALLOWED_HOSTS": "i2v.example.com", "DEBUG": "0",
           "DJANGO_SETTINGS_MODULE": "i2v.settings", "SECRET_KEY": "x" * 50}  # fmt: skip
    if asked:
        env["I2V_PRODUCTION"] = asked
    done = run_main(commands, env, cwd=SCRIPT.parents[1])
    assert f"redirect {expected}" in done.stdout, done.stdout + done.stderr


def test_it_declares_the_workers_queues_before_starting_them(tmp_path):
    """Workers started together on an empty filesystem broker would each create the exchanges' tables; the
    supervisor declares them first, so a worker finds its own control queue bound the moment it starts."""
    # Stands in for `celery worker -n probe@%h`: exits 0 if its control queue and the task queues are bound.
    probe = (
        "import json, os, socket, sys; control = os.path.join(os.environ['VAR_DIR'], 'celery', 'control')\n"
        "tables = [json.load(open(os.path.join(control, f'{name}.exchange'))) for name in ('celery', 'celery.pidbox')]\n"
        "sys.exit(0 if tables[0] and ['', '', f'probe@{socket.gethostname()}.celery.pidbox'] in tables[1] else 3)"
    )
    commands = f"{{'probe': [{sys.executable!r}, '-c', {probe!r}, 'worker', '-n', 'probe@%h'], 'sleeps': {SLEEP!r}}}"
    done = run_main(commands, env={"VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert "probe exited (code 0); stopping the rest" in done.stderr, done.stderr
