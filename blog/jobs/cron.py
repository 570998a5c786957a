"""The periodic schedule. Exactly one `flask cron` runs per deployment (rq cron has no
leader election: two would enqueue everything twice)."""

from __future__ import annotations

from rq.cron import CronScheduler


def register_schedule(scheduler: CronScheduler) -> None:
    from blog.auth import jobs as auth_jobs

    # Each entry: the job function, its queue, and how often.
    scheduler.register(auth_jobs.purge_expired_sessions, queue_name="default", interval=3600)
