"""`flask worker` and `flask cron`."""

from __future__ import annotations

import logging

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from rq.cron import CronScheduler

from blog.core.redis import get_redis
from blog.jobs.cron import register_schedule
from blog.jobs.queues import QUEUE_NAMES, get_queue
from blog.jobs.worker import dispose_pool_after_fork, make_worker


@click.command("worker")
@click.option("--queues", "-q", default=",".join(QUEUE_NAMES), show_default=True)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@with_appcontext
def worker_command(queues: str, burst: bool) -> None:
    """Run an RQ worker (with the scheduler) on the app's queues."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    names = [q.strip() for q in queues.split(",") if q.strip()]
    dispose_pool_after_fork(app)
    worker = make_worker(
        app,
        [get_queue(name) for name in names],
        # Notice a dead worker within a minute rather than RQ's default seven (field notes).
        worker_ttl=60,
        maintenance_interval=60,
    )
    worker.work(with_scheduler=True, burst=burst, logging_level=app.config["LOG_LEVEL"])


@click.command("cron")
@with_appcontext
def cron_command() -> None:
    """Run the one cron scheduler of the deployment: enqueues periodic jobs."""
    scheduler = CronScheduler(connection=get_redis(), logging_level=current_app.config["LOG_LEVEL"])
    register_schedule(scheduler)
    logging.getLogger(__name__).info("cron: %d periodic jobs", len(scheduler.get_jobs()))
    scheduler.start()


def init_cli(app: Flask) -> None:
    app.cli.add_command(worker_command)
    app.cli.add_command(cron_command)
