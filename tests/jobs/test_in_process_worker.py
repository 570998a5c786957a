"""`flask worker --in-process`: jobs without a fork, and what stops one that is stuck."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from redis import Redis
from rq import Queue
from rq.job import Job

from blog.config import PROJECT_ROOT
from blog.jobs.queues import FORKING_QUEUES, IN_PROCESS_QUEUES, QUEUE_NAMES
from blog.jobs.worker import HARD_KILL_EXIT_CODE, REQUEUED_META
from tests.jobs.test_worker import _env

# A worker made by the app factory, as `flask worker --in-process` makes it, but with a 1 s
# grace after the job's timeout (60 s in production) so that the test does not wait a minute.
_WORKER = """
import sys
from blog import create_app
from blog.jobs.queues import get_queue
from blog.jobs.worker import make_worker, worker_redis
app = create_app()
with app.app_context():
    worker = make_worker(app, [get_queue("default", connection=worker_redis(app))],
                         in_process=True, hard_kill=True)
worker.hard_kill_grace = 1
worker.work(burst=True, logging_level="WARNING")
"""


def _run_worker(app, script: str = _WORKER, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        env={**_env(app), "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_every_queue_has_one_kind_of_worker():
    assert set(IN_PROCESS_QUEUES) | set(FORKING_QUEUES) == set(QUEUE_NAMES)
    assert not set(IN_PROCESS_QUEUES) & set(FORKING_QUEUES)


def test_flask_worker_in_process_runs_a_job_without_forking(app):
    redis = Redis.from_url(app.config["REDIS_URL"])
    job = Queue("default", connection=redis).enqueue("os.getpid")
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "worker", "--in-process", "--burst"],
        cwd=PROJECT_ROOT,
        env=_env(app),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, output[-2000:]
    job.refresh()
    assert job.get_status() == "finished", output[-2000:]
    # The job ran in the worker's own process, not in a forked horse.
    assert job.return_value() == proc.pid


def test_a_job_stuck_in_python_fails_at_its_timeout_and_the_worker_goes_on(app):
    redis = Redis.from_url(app.config["REDIS_URL"])
    queue = Queue("default", connection=redis)
    stuck = queue.enqueue("tests.jobs.stuck.sleep_in_python", 600, job_timeout=1)
    after = queue.enqueue("os.getpid")

    result = _run_worker(app)

    assert result.returncode == 0, result.stderr[-2000:]
    stuck.refresh()
    assert stuck.get_status() == "failed"
    assert "JobTimeoutException" in stuck.latest_result().exc_string
    after.refresh()
    assert after.get_status() == "finished"


def test_a_job_stuck_where_no_signal_reaches_ends_the_worker_for_its_supervisor(app):
    """Blocked in C (libpq) past timeout + grace: the watchdog ends the process (exit 70);
    the job is left "started", for RQ to retry once the dead worker's heartbeat lapses."""
    redis = Redis.from_url(app.config["REDIS_URL"])
    queue = Queue("default", connection=redis)
    # Not longer: PostgreSQL finishes the sleep of a backend whose client has gone.
    stuck = queue.enqueue("tests.jobs.stuck.sleep_in_postgres", 30, job_timeout=1)

    result = _run_worker(app)

    assert result.returncode == HARD_KILL_EXIT_CODE, result.stderr[-2000:]
    assert "is stuck" in result.stderr  # the watchdog, not the end of the 30 s sleep
    assert Job.fetch(stuck.id, connection=redis).get_status() == "started"
    assert stuck.id in queue.started_job_registry.get_job_ids()


def test_a_job_whose_worker_was_killed_runs_again_as_soon_as_a_worker_starts(app, tmp_path):
    """SIGKILLed mid-job, an in-process worker leaves its job "started" with a heartbeat of
    the job's timeout + 60 s (here 11 minutes): the next in-process worker of this host puts it
    back in its queue at once, and it runs."""
    redis = Redis.from_url(app.config["REDIS_URL"])
    queue = Queue("notifications", connection=redis)
    job = queue.enqueue(
        "tests.jobs.stuck.sleep_the_first_time", str(tmp_path / "ran"), 600, job_timeout=600
    )
    worker = [sys.executable, "-m", "flask", "--app", "app", "worker", "--in-process"]
    first = subprocess.Popen(
        [*worker, "-q", "notifications"],
        cwd=PROJECT_ROOT,
        env=_env(app),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its scheduler child is killed with it
    )
    try:
        deadline = time.monotonic() + 90
        while job.id not in queue.started_job_registry.get_job_ids(cleanup=False):
            assert time.monotonic() < deadline, "the first worker never started the job"
            time.sleep(0.1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    assert job.get_status(refresh=True) == "started"  # as far as RQ knows, for 11 minutes

    started = time.monotonic()
    second = subprocess.run(
        [*worker, "--burst", "-q", "notifications"],
        cwd=PROJECT_ROOT,
        env=_env(app),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )

    assert second.returncode == 0, second.stderr[-2000:]
    assert "died running it; queued again" in second.stderr
    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() == "second run"
    assert job.meta[REQUEUED_META] == 1
    assert time.monotonic() - started < 300  # not RQ's 660 s, however busy the machine
    assert job.id not in queue.started_job_registry.get_job_ids(cleanup=False)
