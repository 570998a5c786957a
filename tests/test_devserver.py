"""The `make run` supervisor: restarts a crashed child with growing delays, gives up only on a
crash loop that lasts, leaves no orphan.

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
devserver.BACKOFF_SECONDS = (0.1, 0.2, 0.4)
devserver.STABLE_SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
devserver.CRASH_LOOP_SECONDS = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
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


def _launch(
    commands: dict[str, list[str]], stable: float = 60.0, crash_loop: float = 3.0
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, json.dumps(commands), str(stable), str(crash_loop)],
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


def test_the_restart_delay_grows_from_1_to_30_s():
    from blog.devserver import restart_delay

    assert [restart_delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_child_that_keeps_crashing_for_the_whole_loop_time_stops_everything(tmp_path):
    # Six crashes within a second stopped everything before; now only a loop that lasts
    # CRASH_LOOP_SECONDS (3 s here, 5 minutes in make run) does, naming the child's last error.
    crashing = [
        sys.executable,
        "-c",
        "import sys; print('Traceback (most recent call last): ...', file=sys.stderr); "
        "sys.exit('RuntimeError: the queue is on fire')",
    ]
    log = tmp_path / "web.log"
    started = time.monotonic()
    launcher = _launch({"web": _command(log, -1), "worker": crashing})
    try:
        code = launcher.wait(timeout=30)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    elapsed = time.monotonic() - started
    output = launcher.stdout.read() if launcher.stdout else ""
    assert code == 1
    assert elapsed >= 3
    # Growing delays: 0.1, 0.2, then the cap (0.4 s here; 30 s in make run).
    assert "worker exited with code 1: restarting it in 0.1 s (1 crash in a row" in output
    assert "restarting it in 0.2 s (2 crashes in a row" in output
    assert "restarting it in 0.4 s (3 crashes in a row" in output
    assert "restarting it in 0.4 s (4 crashes in a row" in output
    assert "last error: RuntimeError: the queue is on fire" in output
    assert "worker keeps crashing:" in output
    assert "Its last error: RuntimeError: the queue is on fire. Stopping everything." in output
    assert _survivors(_pids(log)) == []


def test_eight_sigkills_in_a_row_do_not_stop_the_product(tmp_path):
    logs = {name: tmp_path / f"{name}.log" for name in ("web", "events")}
    launcher = _launch(
        {"web": _command(logs["web"], -1), "events": _command(logs["events"], -1)},
        crash_loop=60,
    )
    try:
        for kill in range(8):
            _wait_for(lambda k=kill: len(_pids(logs["events"])) == 2 * (k + 1))
            worker = _pids(logs["events"])[-2]
            _wait_for(lambda w=worker: _alive(w))
            psutil.Process(worker).kill()
        _wait_for(lambda: len(_pids(logs["events"])) == 18)
        assert launcher.poll() is None
        assert _alive(_pids(logs["events"])[-2])

        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=20) == 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
    output = launcher.stdout.read() if launcher.stdout else ""
    assert output.count("events was killed by SIGKILL: restarting it") == 8
    assert "restarting it in 0.4 s (8 crashes in a row" in output
    every_pid = [pid for log in logs.values() for pid in _pids(log)]
    assert _survivors(every_pid) == []


def test_a_stable_run_starts_the_backoff_again(tmp_path):
    # With STABLE_SECONDS at 0.5 s, a child killed after running a second restarts at once.
    log = tmp_path / "events.log"
    web = tmp_path / "web.log"
    launcher = _launch(
        {"web": _command(web, -1), "events": _command(log, -1)}, stable=0.5, crash_loop=60
    )
    try:
        for kill in range(3):
            _wait_for(lambda k=kill: len(_pids(log)) == 2 * (k + 1))
            time.sleep(1)
            psutil.Process(_pids(log)[-2]).kill()
        _wait_for(lambda: len(_pids(log)) == 8)
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=20) == 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
    output = launcher.stdout.read() if launcher.stdout else ""
    assert output.count("restarting it in 0.1 s (1 crash in a row") == 3
    assert _survivors(_pids(log) + _pids(web)) == []
