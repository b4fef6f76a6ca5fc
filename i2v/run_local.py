"""`make run`'s processes (web, media, generation and control workers, beat), started together and stopped
together within seconds: `python i2v/run_local.py --bind HOST:PORT`.

Each child runs in a process group of its own, so Ctrl-C reaches this supervisor only, and each child is
asked to stop once (SIGTERM: granian and Celery finish what they are doing, for WARM seconds at most), then
told to stop at once (SIGQUIT: Celery's cold shutdown); a group still there after COLD more seconds is
killed whole, pool children included.
Work cut short is not lost: processing jobs and steps are leased, and the sweepers queue them again.
A child that exits by itself stops the others, so a half-running stack never looks healthy.
Before any starts, the workers' queues are declared one after another (manage.py declare_queues says why).

It imports nothing from Django: it only starts and stops processes.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# An idle Celery worker on the filesystem broker takes 2-4 s to stop (its loop polls every second), more on a
# busy machine; a task running longer than WARM is cut short.
WARM = float(os.environ.get("RUN_STOP_WARM") or 4)  # seconds to finish what they hold
COLD = 3  # seconds to stop at once, before being killed
GROUP_GONE = 2  # seconds for what SIGKILL hit to be gone
BIN = Path(sys.executable).parent
MANAGE = Path(__file__).resolve().parents[1] / "manage.py"


def commands(bind, var_dir):
    host, _, port = bind.rpartition(":")
    celery = [str(BIN / "celery"), "-A", "i2v"]
    # Workers run niced so the web server keeps the CPU it needs while they chew a backlog (docs/benchmarks.md).
    nice = ["nice", "-n", "10"]
    worker = ["worker", "--loglevel=INFO"]
    return {
        "media": [*nice, *celery, *worker, "-n", "media@%h", "-Q", "thumbnails,variants,backfill", "--concurrency=2"],
        "generation": [*nice, *celery, *worker, "-n", "generation@%h", "-Q", "generation,webhooks", "--concurrency=2"],
        "control": [*celery, *worker, "-n", "control@%h", "-Q", "control", "--concurrency=1"],
        "beat": [*celery, "beat", "--loglevel=INFO", "-s", str(Path(var_dir) / "celerybeat-schedule")],
        # granian, as production runs it (i2v/web.py) with fewer workers; its workers get 2 s to finish a
        # request after SIGTERM, then are killed, well within WARM.
        "web": [str(BIN / "granian"), "--interface", "wsgi", "--no-ws", "--host", host, "--port", port,
                "--workers", "2", "--blocking-threads", "4", "--access-log", "--workers-kill-timeout", "2",
                "i2v.wsgi:application"],
    }  # fmt: skip


class Stack:
    def __init__(self, commands):
        self.commands = commands
        self.children = {}
        self.stopping = False

    def start(self):
        for name, argv in self.commands.items():
            self.children[name] = subprocess.Popen(argv, start_new_session=True)

    def exited(self):
        return [(name, child) for name, child in self.children.items() if child.poll() is not None]

    def stop(self, *_):
        if self.stopping:
            return
        self.stopping = True
        self.stop_started = time.monotonic()
        print(f"i2v: stopping {', '.join(self.children)}…", file=sys.stderr, flush=True)
        for child in self.children.values():
            # Stopping shouldn't wait behind a busy machine: the niced workers get their full priority back
            # (where allowed: raising a priority needs privileges).
            try:
                os.setpriority(os.PRIO_PGRP, child.pid, 0)
            except OSError:
                pass
            # The main process only: a Celery worker stops its own pool, and pool children hit directly die
            # mid-task and leave the worker waiting for them.
            child.send_signal(signal.SIGTERM)

    def wait_stopped(self):
        # Celery's warm shutdown waits for the tasks it holds, and on the filesystem broker it keeps taking new
        # ones meanwhile; after WARM seconds SIGQUIT makes it a cold shutdown (Celery ends its pool itself).
        if not self._wait(WARM):
            for name, child in self.children.items():
                if child.poll() is None:
                    print(f"i2v: {name} still busy after {WARM:g} s; stopping it now", file=sys.stderr, flush=True)
                    child.send_signal(signal.SIGQUIT)
            self._wait(COLD)
        for name, child in self.children.items():
            if child.poll() is None:
                print(f"i2v: {name} still running; killed", file=sys.stderr, flush=True)
            # Whole groups: a worker's pool children or granian's workers may outlive their parent.
            _signal_group(child, signal.SIGKILL)
            child.wait()
        _wait_groups_gone({child.pid for child in self.children.values()}, GROUP_GONE)

    def _wait(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if len(self.exited()) == len(self.children):
                return True
            time.sleep(0.05)
        return False


def declare_queues(commands):
    """The workers' queues declared by one process before they all start (on the filesystem broker, workers
    creating an exchange's table at the same moment can read it half-made and die)."""
    workers = [argv[argv.index("-n") + 1] for argv in commands.values() if "worker" in argv and "-n" in argv]
    if workers and subprocess.run([sys.executable, str(MANAGE), "declare_queues", *workers]).returncode:
        sys.exit("i2v: could not declare the work queues (see above); nothing started")


def _running_in(groups):
    """Processes of these groups still running (zombies aside), from /proc; none where there is no /proc."""
    running = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in groups and fields[0] not in ("Z", "X"):
            running.append(stat.parent.name)
    return running


def _wait_groups_gone(groups, seconds):
    # SIGKILL is delivered asynchronously: a grandchild it hit may still be running for a moment after its
    # group's leader has been reaped. Return only once none is, so that "stopped" means stopped.
    deadline = time.monotonic() + seconds
    while _running_in(groups) and time.monotonic() < deadline:
        time.sleep(0.02)


def _signal_group(child, sig):
    try:
        os.killpg(child.pid, sig)
    except ProcessLookupError:
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bind", default="127.0.0.1:8000")
    args = parser.parse_args()
    var_dir = os.environ.get("VAR_DIR") or "var"
    Path(var_dir).mkdir(parents=True, exist_ok=True)
    # This stack serves plain HTTP, so never the HTTPS-only settings a public ALLOWED_HOSTS turns on
    # (i2v/settings.py), unless they are asked for by name.
    os.environ.setdefault("I2V_PRODUCTION", "0")
    stack = Stack(commands(args.bind, var_dir))
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stack.stop)
    declare_queues(stack.commands)
    if not stack.stopping:  # Ctrl-C while declaring starts nothing
        stack.start()
    while not stack.stopping:
        gone = stack.exited()
        if gone:
            name, child = gone[0]
            print(f"i2v: {name} exited (code {child.returncode}); stopping the rest", file=sys.stderr, flush=True)
            stack.stop()
            break
        time.sleep(0.2)
    stack.wait_stopped()
    print(f"i2v: stopped in {time.monotonic() - stack.stop_started:.1f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
