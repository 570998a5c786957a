"""Outbox handlers of data downloads: queue the build, tell the person it is ready, and purge
the archives of a deleted account. Idempotent (the ledger, a deterministic job id, the
notification's (user, type, event) key, and deletes that find nothing the second time).

Payloads: blog/exports/services.py owns data_export.*; user.deleted is blog/auth's
(aggregate user; data {purge_after, actor_id}).
"""

from __future__ import annotations

import uuid

from blog.core.oncommit import call_after_commit
from blog.exports.services import purge_exports_of
from blog.notifications.services import Notice, notify_users, site_path
from blog.outbox.registry import Message, handles


@handles("data_export.requested", queue="notifications")
def queue_export_build(message: Message) -> None:
    """Queue the build on the forking worker's `default` queue once this handler commits."""
    export_id = uuid.UUID(message["data"]["export_id"])

    def enqueue() -> None:
        from blog.exports.jobs import enqueue_builds
        from blog.jobs.queues import get_queue

        # A lost enqueue is caught by the sweep (blog.exports.jobs.expire_data_exports).
        enqueue_builds(get_queue("default"), [export_id])

    call_after_commit(enqueue)


@handles("data_export.ready", queue="notifications")
def notify_export_ready(message: Message) -> None:
    """In-app and by email (which cannot be turned off for this kind), with the link."""
    data = message["data"]
    export_id = uuid.UUID(data["export_id"])
    notify_users(
        [uuid.UUID(data["user_id"])],
        Notice(
            kind="data_export_ready",
            title="Your data download is ready",
            message="The ZIP of your data is ready. The link works for 48 hours, and only "
            "when you are signed in.",
            link=site_path("exports.download", export_id=export_id),
        ),
        event_id=uuid.UUID(message["id"]),
    )


@handles("user.deleted")
def purge_exports_of_deleted_account(message: Message) -> None:
    """An account deleted: its archives and export rows go at once (nobody can sign in to
    download them any more)."""
    purge_exports_of(uuid.UUID(message["aggregate_id"]))
