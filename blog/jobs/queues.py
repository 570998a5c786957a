"""The app's queues, in the priority order workers drain them."""

from __future__ import annotations

from redis import Redis
from rq import Queue

from blog.core.redis import get_redis

QUEUE_NAMES = ("outbox", "notifications", "mail", "default")
# Short, frequent jobs on the way from a commit to a user's screen (the relay, notification
# handlers): served by `flask worker --in-process`, which does not fork per job. The others
# (mail over SMTP, images, archives) by the forking `flask worker`. blog/jobs/worker.py says why.
IN_PROCESS_QUEUES = ("outbox", "notifications")
FORKING_QUEUES = ("mail", "default")


def get_queue(name: str = "default", connection: Redis | None = None) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=connection or get_redis())


def all_queues() -> list[Queue]:
    return [get_queue(name) for name in QUEUE_NAMES]
