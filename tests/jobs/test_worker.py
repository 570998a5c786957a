from __future__ import annotations

import subprocess
import sys
import time

import pytest
from redis import Redis
from rq import Queue
from rq.cron import CronScheduler

from blog.config import PROJECT_ROOT
from blog.jobs.cron import register_schedule
from blog.jobs.queues import QUEUE_NAMES, get_queue


def test_queued_jobs_run_in_an_app_context(app, run_jobs):
    with app.app_context():
        get_queue("default").enqueue("blog.auth.jobs.purge_expired_sessions")
    assert run_jobs() == 1


def test_cron_schedule_registers_the_periodic_jobs(app):
    with app.app_context():
        from blog.core.redis import get_redis

        scheduler = CronScheduler(connection=get_redis())
        register_schedule(scheduler)
    names = {job.func.__name__ for job in scheduler.get_jobs()}
    assert {
        "purge_expired_sessions",
        "purge_expired_tokens",
        "sweep_outbox",
        "lift_expired_suspensions",
        "purge_deleted_accounts",
        "send_daily_digests",
    } <= names


def _env(app) -> dict[str, str]:
    return {
        "BLOG_ENV": "testing",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "PATH": "/usr/bin:/bin",
    }


def _through_flask_worker(app, func: str, *flags: str) -> object:
    """Enqueue `func` on `default`, drain the queues with the real `flask worker --burst`
    (scheduler on), and return the job's result (failing the test if the job did not finish)."""
    redis = Redis.from_url(app.config["REDIS_URL"])
    job = Queue("default", connection=redis).enqueue(func)
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "worker", *flags, "--burst"],
        cwd=PROJECT_ROOT,
        env=_env(app),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    job.refresh()
    assert job.get_status() == "finished", result.stderr[-2000:]
    return job.return_value()


def test_flask_worker_runs_a_job_in_a_forked_horse(app):
    """The real `flask worker` command (forking worker, scheduler on) drains the queues."""
    assert _through_flask_worker(app, "blog.auth.jobs.purge_expired_sessions") == 0


@pytest.mark.parametrize("flags", [[], ["--in-process"]], ids=["forking", "in-process"])
def test_flask_worker_keeps_its_start_up_heap_out_of_full_collections(app, flags):
    """blog/core/heap.py: the app's ~150,000 start-up objects are frozen before the first job
    (a full collection walking them took 80-95 ms in the notifications worker)."""
    frozen = _through_flask_worker(app, "gc.get_freeze_count", *flags)
    assert isinstance(frozen, int)
    assert frozen > 50_000


def test_flask_cron_starts_and_stops_cleanly(app):
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "cron"],
        cwd=PROJECT_ROOT,
        env=_env(app),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        redis = Redis.from_url(app.config["REDIS_URL"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not redis.keys("rq:cron_scheduler*"):
            time.sleep(0.2)
        assert redis.keys("rq:cron_scheduler*"), "cron did not register itself"
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output[-2000:]
    assert "shutdown complete" in output


def test_queue_names_are_in_priority_order():
    assert QUEUE_NAMES[0] == "outbox"
