"""The `make run` supervisor: restarts a crashed child, gives up on a crash loop, leaves no orphan.

supervise() runs in a subprocess of its own: it makes its process a child subreaper, which the
test runner must not become. Stand-in children (small Python scripts) play web, worker and cron;
the timings are shortened, the logic is the real one.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from blog.config import PROJECT_ROOT

LAUNCHER = """
import json, signal, sys
from blog import devserver

devserver.POLL_SECONDS = 0.05
devserver.RESTART_DELAY_SECONDS = 0.2
devserver.STOP_GRACE_SECONDS = 3
devserver._announce_when_ready = lambda *args: None
signal.signal(signal.SIGTERM, devserver._raise_stop)
signal.signal(signal.SIGINT, devserver._raise_stop)
commands = json.loads(sys.argv[1])
sys.exit(devserver.supervise(commands, {}, site_url="http://127.0.0.1:9"))
"""

# Appends its pid and, like an RQ worker with a work horse, the pid of a child it starts in a
# session of its own; crashes on its first run (after `crash_after` s), then stays up.
CHILD = """
import os, subprocess, sys, time
log, crash_after = sys.argv[1], float(sys.argv[2])
horse = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                         start_new_session=True)
first = not os.path.exists(log)
with open(log, "a") as fh:
    fh.write(f"{os.getpid()} {horse.pid}\\n")
if first and crash_after >= 0:
    time.sleep(crash_after)
    os._exit(3)
time.sleep(300)
"""


def _command(log: Path, crash_after: float) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(CHILD), str(log), str(crash_after)]


def _launch(commands: dict[str, list[str]]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, json.dumps(commands)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _pids(log: Path) -> list[int]:
    if not log.exists():
        return []
    return [int(pid) for line in log.read_text().splitlines() for pid in line.split()]


def _wait_for(condition, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _survivors(pids: list[int]) -> list[int]:
    """The pids still running; killed here so a failing test leaves nothing behind."""
    alive = [pid for pid in pids if _alive(pid)]
    for pid in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()
    return alive


def test_crashed_child_is_restarted_and_nothing_outlives_the_supervisor(tmp_path):
    logs = {name: tmp_path / f"{name}.log" for name in ("web", "worker", "cron")}
    launcher = _launch(
        {
            "web": _command(logs["web"], -1),
            # Crashes at once: its "horse" is orphaned before any snapshot of its tree.
            "worker": _command(logs["worker"], 0),
            "cron": _command(logs["cron"], 0.5),
        }
    )
    try:
        _wait_for(lambda: all(len(_pids(logs[n])) == 4 for n in ("worker", "cron")))
        crashed = _pids(logs["worker"])[:2] + _pids(logs["cron"])[:2]
        # The crashed runs' processes, their orphaned horses included, are stopped...
        _wait_for(lambda: not any(_alive(pid) for pid in crashed), timeout=10)
        # ...and the restarted ones run.
        running = _pids(logs["web"]) + _pids(logs["worker"])[2:] + _pids(logs["cron"])[2:]
        assert all(_alive(pid) for pid in running)
        assert launcher.poll() is None

        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=20) == 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
    output = launcher.stdout.read() if launcher.stdout else ""
    assert "[blog] worker exited with code 3: restarting it" in output
    assert "[blog] cron exited with code 3: restarting it" in output
    assert "[blog] stopping" in output
    every_pid = [pid for log in logs.values() for pid in _pids(log)]
    assert len(every_pid) == 10
    assert _survivors(every_pid) == []


def test_a_child_that_keeps_crashing_stops_everything(tmp_path):
    crashing = [sys.executable, "-c", "import sys; sys.exit(5)"]
    log = tmp_path / "web.log"
    launcher = _launch({"web": _command(log, -1), "worker": crashing})
    try:
        code = launcher.wait(timeout=30)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    output = launcher.stdout.read() if launcher.stdout else ""
    assert code == 1
    assert output.count("worker exited with code 5: restarting it") == 5
    assert "worker exited with code 5, its 6th crash within 60 s: stopping everything" in output
    assert _survivors(_pids(log)) == []
