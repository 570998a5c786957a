"""The app's queues, in the priority order workers drain them."""

from __future__ import annotations

from redis import Redis
from rq import Queue

from blog.core.redis import get_redis

QUEUE_NAMES = ("outbox", "notifications", "mail", "default")


def get_queue(name: str = "default", connection: Redis | None = None) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=connection or get_redis())


def all_queues() -> list[Queue]:
    return [get_queue(name) for name in QUEUE_NAMES]
