"""`flask worker` and `flask cron`."""

from __future__ import annotations

import logging
import os

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from rq.cron import CronScheduler

from blog.core.heap import freeze_startup_heap
from blog.jobs.cron import register_schedule
from blog.jobs.queues import IN_PROCESS_QUEUES, QUEUE_NAMES, get_queue
from blog.jobs.worker import dispose_pool_after_fork, make_worker, worker_redis


@click.command("worker")
@click.option("--queues", "-q", default=",".join(QUEUE_NAMES), show_default=True)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option(
    "--in-process",
    is_flag=True,
    help="Run jobs in this process instead of a fork per job (for the queues "
    + ",".join(IN_PROCESS_QUEUES)
    + "); a job stuck past its timeout ends the process, for its supervisor to restart.",
)
@click.option(
    "--nice",
    type=click.IntRange(0, 19),
    default=0,
    show_default=True,
    help="Lower this worker's CPU priority (and its work horses'): for the background "
    "queues, so that under load they yield the CPU to pages and the in-process worker.",
)
@with_appcontext
def worker_command(queues: str, burst: bool, in_process: bool, nice: int) -> None:
    """Run an RQ worker (with the scheduler) on the app's queues."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if nice:
        os.nice(nice)
    names = [q.strip() for q in queues.split(",") if q.strip()]
    # The scheduler runs in a forked process in both kinds of worker.
    dispose_pool_after_fork(app)
    redis = worker_redis(app)
    worker = make_worker(
        app,
        [get_queue(name, connection=redis) for name in names],
        in_process=in_process,
        hard_kill=in_process,
        # A SIGKILLed worker's job must be retried within 90 s (RQ's defaults: ~7 minutes,
        # field notes). RQ declares the job abandoned once its heartbeat lapses (monitoring
        # interval + 60 s = 70 s) and retries it at a live worker's next maintenance pass:
        # every 15 s, but an idle worker only looks between blocking dequeues, which last
        # worker_ttl - 15 s. So: 70 + 15 s, then the 1 s retry interval (measured: 77 s).
        worker_ttl=30,
        job_monitoring_interval=10,
        maintenance_interval=15,
    )
    freeze_startup_heap()  # the app and the worker are built: keep full collections short
    worker.work(with_scheduler=True, burst=burst, logging_level=app.config["LOG_LEVEL"])


@click.command("cron")
@with_appcontext
def cron_command() -> None:
    """Run the one cron scheduler of the deployment: enqueues periodic jobs."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    scheduler = CronScheduler(connection=worker_redis(app), logging_level=app.config["LOG_LEVEL"])
    register_schedule(scheduler)
    logging.getLogger(__name__).info("cron: %d periodic jobs", len(scheduler.get_jobs()))
    scheduler.start()


def init_cli(app: Flask) -> None:
    app.cli.add_command(worker_command)
    app.cli.add_command(cron_command)
