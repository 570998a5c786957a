"""Workers that run every job inside an app context with a fresh database session."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from rq import SimpleWorker, Worker
from rq.job import Job
from rq.queue import Queue

from blog.extensions import db


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
    """Runs jobs in this process: for tests (`work(burst=True)`) and debugging."""


def make_worker(app: Flask, queues: list[Queue], *, in_process: bool = False, **kwargs: Any):
    cls = InProcessWorker if in_process else AppWorker
    worker = cls(queues, connection=queues[0].connection, **kwargs)
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
