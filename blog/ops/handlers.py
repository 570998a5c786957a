"""Jobs behind operations events."""

from __future__ import annotations

from blog.core.settings import invalidate_settings
from blog.outbox.registry import Message, handles


@handles("config.changed", queue="default")
def drop_cached_settings(message: Message) -> None:
    """Drop the Redis copy of the environment's settings; every process re-reads within its
    short memory cache. Idempotent: dropping twice costs one extra read."""
    invalidate_settings(message["data"]["environment"])
