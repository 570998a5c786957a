"""The periodic schedule. Exactly one `flask cron` runs per deployment (rq cron has no
leader election: two would enqueue everything twice)."""

from __future__ import annotations

from rq.cron import CronScheduler


def register_schedule(scheduler: CronScheduler) -> None:
    from blog.auth import jobs as auth_jobs
    from blog.exports import jobs as export_jobs  # --- exports
    from blog.notifications import digest
    from blog.notifications import jobs as notification_jobs
    from blog.ops import monitoring
    from blog.outbox import archive, relay
    from blog.posts import jobs as post_jobs

    # The relay sweep: a lost after-commit trigger costs at most 5 s.
    scheduler.register(relay.sweep_outbox, queue_name="outbox", interval=5, job_timeout=120)
    scheduler.register(
        archive.archive_published_events, queue_name="default", cron="17 3 * * *", job_timeout=3600
    )
    scheduler.register(auth_jobs.purge_expired_sessions, queue_name="default", interval=3600)
    scheduler.register(auth_jobs.purge_expired_tokens, queue_name="default", interval=3600)
    # A suspension's end is kept to the minute (sign-in lifts a passed one at once anyway).
    scheduler.register(auth_jobs.lift_expired_suspensions, queue_name="default", interval=60)
    # Retention is counted in days: an hour late is no matter, and each run is cheap.
    scheduler.register(auth_jobs.purge_deleted_accounts, queue_name="default", interval=3600)
    # Scheduled posts go out within a minute of their time.
    scheduler.register(post_jobs.publish_scheduled_posts, queue_name="default", interval=60)
    # Tag counts (kept by deltas) recounted: an account deleted or restored moves them.
    scheduler.register(post_jobs.recount_tags, queue_name="default", interval=600, job_timeout=600)
    # Views gathered in Redis reach posts.view_count (pages add the pending ones meanwhile).
    scheduler.register(post_jobs.flush_post_views, queue_name="default", interval=30)
    # The database's health, charted on /admin/database.
    scheduler.register(monitoring.sample_database, queue_name="default", interval=300)
    # Email notifications whose delivery job was lost (queued after commit, best effort).
    scheduler.register(notification_jobs.sweep_pending_emails, queue_name="default", interval=60)
    # The daily digest of unread notifications, at 07:00 UTC (RQ's cron reads UTC).
    scheduler.register(
        digest.send_daily_digests, queue_name="default", cron="0 7 * * *", job_timeout=3600
    )
    # --- exports: data downloads past their 48 h are deleted from storage (and lost builds
    # queued again) within 10 minutes.
    scheduler.register(export_jobs.expire_data_exports, queue_name="default", interval=600)
    # --- end exports
