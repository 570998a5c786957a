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
   restarts it, and the restarted worker puts the job back in its queue (below). Handlers
   are idempotent (the outbox's ledger), and PostgreSQL keeps every event, so nothing is
   lost on the way.

A job whose in-process worker died (SIGKILL, OOM, the watchdog) stays "started" until its
heartbeat lapses, and RQ sets that at the job's timeout + 60 s, since the thread that would
beat is the one running the job: 11 minutes for a batch of 100 notifications, every comment
of the batch unnotified meanwhile. So an in-process worker, as it starts and at each of its
maintenance passes, puts back at the front of its queues the jobs that a dead worker of this
host left started (requeue_jobs_of_dead_workers). A worker elsewhere is left to RQ.
"""

from __future__ import annotations

import logging
import os
import socket
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
from rq.utils import as_text, parse_composite_key

from blog.extensions import db
from blog.jobs.queues import IN_PROCESS_QUEUES

log = logging.getLogger(__name__)

# As RQ's forking worker: it kills a horse that runs 60 s past the job's timeout.
HARD_KILL_GRACE_SECONDS = 60
HARD_KILL_EXIT_CODE = 70  # EX_SOFTWARE
# A job that its worker died running this many times is left to RQ (its heartbeat, then its
# retries): a job that kills its worker must not hold it in a tight crash loop. As many as a
# handler's retries (blog.outbox.registry): a kill is no more the job's fault than a failure.
MAX_REQUEUES_AFTER_CRASH = 5
REQUEUED_META = "requeued_after_crash"


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

    def clean_registries(self) -> None:
        """RQ's maintenance pass (at start, then every maintenance_interval), and the jobs of
        dead workers of this host back in the queue (the module's docstring)."""
        super().clean_registries()
        try:
            requeue_jobs_of_dead_workers(self)
        except Exception:  # never the end of the worker: RQ's heartbeat remains the backstop
            log.exception("could not requeue the jobs of dead workers (next pass will)")

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


def requeue_jobs_of_dead_workers(worker: InProcessWorker) -> list[str]:
    """Put the jobs that a dead worker of this host left "started" in `worker`'s queues back
    at the front of their queue, at once; returns their ids.

    A worker of this host is dead when its pid is gone or is ours (a restarted container
    reuses pids); without its record in Redis it is dead too (a live worker's outlasts its
    job). For the in-process queues only: a forking worker's horse can outlive its worker
    and still be running the job, and a second run of an outbox or notification job is
    harmless (the relay's advisory lock, the handlers' ledger) but not every job's would be.
    """
    connection = worker.connection
    requeued: list[str] = []
    for queue in worker.queues:
        if queue.name not in IN_PROCESS_QUEUES:
            continue
        registry = queue.started_job_registry
        entries: list[bytes] = connection.zrange(registry.key, 0, -1)  # type: ignore[assignment]
        for entry in entries:
            job_id, execution_id = parse_composite_key(as_text(entry))
            owner = connection.hget(f"rq:execution:{job_id}:{execution_id}", "worker_name")
            if owner is None or not _died_here(worker, as_text(owner)):
                continue
            job = queue.fetch_job(job_id)
            if job is None or int(job.meta.get(REQUEUED_META, 0)) >= MAX_REQUEUES_AFTER_CRASH:
                continue  # RQ's own cleanup, when the heartbeat lapses
            if not connection.zrem(registry.key, entry):
                continue  # another worker took it first
            job.meta[REQUEUED_META] = int(job.meta.get(REQUEUED_META, 0)) + 1
            job.started_at = None
            queue.enqueue_job(job, at_front=True)  # saves the job, its meta included
            requeued.append(job_id)
            log.warning(
                "job %s: its worker %s died running it; queued again", job_id, as_text(owner)
            )
    return requeued


def _died_here(worker: InProcessWorker, name: str) -> bool:
    """Whether the worker `name` ran on this host and is gone (or its record expired)."""
    if name == worker.name:
        return False
    hostname, pid = worker.connection.hmget(f"rq:worker:{name}", "hostname", "pid")
    if hostname is None or pid is None:
        return True
    if as_text(hostname) != socket.gethostname():
        return False  # alive or not, another host's: RQ's heartbeat decides
    return int(pid) == os.getpid() or not _pid_alive(int(pid))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


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
