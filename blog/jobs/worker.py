"""Workers that run every job inside an app context with a fresh database session.

Two kinds, one per kind of queue (blog/jobs/queues.py):
- `AppWorker`, RQ's forking worker: each job in a child (the "horse") that the worker kills
  when it overruns. For the slow, rare jobs of `mail` and `default` (SMTP, images, archives).
- `InProcessWorker`, RQ's SimpleWorker: jobs run in the worker's own process, no fork. For
  the short, frequent jobs of `outbox` and `notifications`, which sit between a commit and a
  user's screen: a fork per job (~25 ms and a new connection pool) was most of their cost,
  and the one forking worker's queue was where commit-to-badge latency went (README).

What stops a stuck job when there is no horse to kill (`flask worker --in-process`):
1. RQ's death penalty: SIGALRM in this (main) thread raises JobTimeoutException in the job
   at its timeout, as in a horse; the job fails and is retried (its Retry).
2. A signal handler runs only between Python bytecodes: a job blocked inside C code (libpq
   waiting for PostgreSQL, a socket read) is not interrupted by it. PostgreSQL statements
   are bounded by the app's statement_timeout (BLOG_STATEMENT_TIMEOUT_MS, 30 s) and Redis
   calls by the client's socket timeouts, so the usual blocking calls return.
3. Last resort, the watchdog thread here: a job still running `HARD_KILL_GRACE_SECONDS`
   past its timeout (what RQ's forking worker allows a horse before it kills it) ends the
   whole process with exit code 70. Its supervisor (`make run`, systemd, Kubernetes)
   restarts it; the job, left "started" with a lapsed heartbeat, is then retried by RQ's
   maintenance like any job of a killed worker. Handlers are idempotent (the outbox's
   ledger), and PostgreSQL keeps every event, so nothing is lost on the way.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from flask import Flask
from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from rq import SimpleWorker, Worker
from rq.job import Job
from rq.queue import Queue

from blog.extensions import db

log = logging.getLogger(__name__)

# As RQ's forking worker: it kills a horse that runs 60 s past the job's timeout.
HARD_KILL_GRACE_SECONDS = 60
HARD_KILL_EXIT_CODE = 70  # EX_SOFTWARE


class _AppContextMixin:
    app: Flask

    def perform_job(self, job: Job, queue: Queue) -> bool:
        with self.app.app_context():
            try:
                return super().perform_job(job, queue)  # type: ignore[misc]
            finally:
                db.session.remove()


class AppWorker(_AppContextMixin, Worker):
    """The forking worker: each job runs in a child (the "horse")."""


class InProcessWorker(_AppContextMixin, SimpleWorker):
    """Runs jobs in this process: `flask worker --in-process`, tests (`work(burst=True)`).

    With `hard_kill=True` (the CLI sets it) a watchdog thread ends the process when a job
    overruns its timeout by HARD_KILL_GRACE_SECONDS (see the module's docstring). Tests leave
    it off: a test runner must never be ended by a job.
    """

    hard_kill: bool = False
    hard_kill_grace: float = HARD_KILL_GRACE_SECONDS
    _deadline: float | None = None  # monotonic time after which the running job is stuck
    _running: str = ""
    _watchdog: threading.Thread | None = None

    def perform_job(self, job: Job, queue: Queue) -> bool:
        if not self.hard_kill:
            return super().perform_job(job, queue)
        self._start_watchdog()
        timeout = job.timeout or queue.DEFAULT_TIMEOUT
        self._running = job.id
        # A plain attribute, read by the watchdog: no thread or lock per job.
        stuck_after = None if timeout == -1 else timeout + self.hard_kill_grace
        self._deadline = None if stuck_after is None else time.monotonic() + stuck_after
        try:
            return super().perform_job(job, queue)
        finally:
            self._deadline = None

    def _start_watchdog(self) -> None:
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._watch, name="job-watchdog", daemon=True)
            self._watchdog.start()

    def _watch(self) -> None:
        while True:
            time.sleep(1.0)
            deadline = self._deadline
            if deadline is not None and time.monotonic() > deadline:
                log.critical(
                    "job %s is stuck %.0f s past its timeout: ending this worker (exit %d) "
                    "so that its supervisor restarts it and RQ retries the job",
                    self._running,
                    self.hard_kill_grace,
                    HARD_KILL_EXIT_CODE,
                )
                logging.shutdown()
                os._exit(HARD_KILL_EXIT_CODE)


def make_worker(
    app: Flask,
    queues: list[Queue],
    *,
    in_process: bool = False,
    hard_kill: bool = False,
    **kwargs: Any,
) -> AppWorker | InProcessWorker:
    worker: AppWorker | InProcessWorker
    if in_process:
        worker = InProcessWorker(queues, connection=queues[0].connection, **kwargs)
        worker.hard_kill = hard_kill
    else:
        worker = AppWorker(queues, connection=queues[0].connection, **kwargs)
    worker.app = app
    return worker


def dispose_pool_after_fork(app: Flask) -> None:
    """A forked horse must never share the parent's pooled connections (field notes)."""

    def _dispose() -> None:
        with app.app_context():
            db.engine.dispose(close=False)

    os.register_at_fork(after_in_child=_dispose)


def worker_redis(app: Flask) -> Redis:
    """The Redis client of a `flask worker` or `flask cron` process: rides over a restart.

    RQ's main loop quits on a connection error anywhere but in its dequeue call (the fault
    test saw every worker exit on a Redis restart), and the app's client gives up after
    ~60 ms so that requests fail fast. This client keeps retrying for ~30 s (backing off to
    2 s), long enough for a restart or a failover; a longer outage still ends the process,
    for its supervisor to restart. Jobs keep using the app's fail-fast client (`get_redis()`).
    """
    return Redis.from_url(
        app.config["REDIS_URL"],
        socket_connect_timeout=2,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), 18),
    )
