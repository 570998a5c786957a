"""View counts without a database write per page view.

A view is one HINCRBY on a Redis hash (post id → views not yet flushed); a cron job moves the
hash aside (RENAME is atomic: views arriving meanwhile start a fresh hash, none is lost) and
adds its deltas to posts.view_count in one UPDATE. A page shows view_count plus the pending
delta HINCRBY returned, so the figure a reader sees is current.

At least once: if the job dies after its commit and before it deletes the moved-aside hash,
the next run adds that batch again. A view count may then run high by one batch; it is never
low, and nothing else depends on it.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import text

from blog.core.redis import get_redis
from blog.extensions import db

log = logging.getLogger(__name__)

PENDING_KEY = "blog:posts:views"
FLUSHING_KEY = "blog:posts:views:flushing"
LOCK_KEY = "blog:posts:views:flush-lock"
LOCK_SECONDS = 300
UPDATE_BATCH = 1000


def count_view_in_redis(post_id: uuid.UUID) -> int | None:
    """Count one view; return the views not yet flushed (None if Redis is unavailable).

    Touches Redis during the request on purpose: a view is not part of any transaction, and a
    lost view (Redis down) must not fail the page.
    """
    try:
        return int(get_redis().hincrby(PENDING_KEY, str(post_id), 1))
    except Exception as exc:  # noqa: BLE001 - the page matters more than the count
        log.warning("view not counted: %s", exc)
        return None


def pending_views(post_id: uuid.UUID) -> int:
    """Views counted in Redis and not yet flushed (0 if Redis is unavailable)."""
    try:
        pending = get_redis().hget(PENDING_KEY, str(post_id))
        flushing = get_redis().hget(FLUSHING_KEY, str(post_id))
    except Exception:  # noqa: BLE001 - a figure shown, nothing more
        return 0
    return int(pending or 0) + int(flushing or 0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def flush_view_counts() -> int:
    """Add the views counted in Redis to posts.view_count. Returns the views flushed."""
    redis = get_redis()
    token = uuid.uuid4().hex
    # One flush at a time: a second one would re-add the batch the first is working on.
    if not redis.set(LOCK_KEY, token, nx=True, ex=LOCK_SECONDS):
        return 0
    try:
        total = 0
        # A batch left by a run that died before it finished goes first, then the new views.
        if not redis.exists(FLUSHING_KEY):
            if not redis.exists(PENDING_KEY):
                return 0
            redis.rename(PENDING_KEY, FLUSHING_KEY)
        deltas: list[dict[str, object]] = []
        for raw_id, raw_count in redis.hgetall(FLUSHING_KEY).items():
            try:
                deltas.append({"id": str(uuid.UUID(_text(raw_id))), "n": int(raw_count)})
            except ValueError:
                log.warning("ignoring a malformed view count entry %r", raw_id)
        for start in range(0, len(deltas), UPDATE_BATCH):
            chunk = deltas[start : start + UPDATE_BATCH]
            db.session.execute(
                text(
                    "UPDATE posts SET view_count = view_count + v.n "
                    "FROM (SELECT unnest(CAST(:ids AS uuid[])) AS id, "
                    "unnest(CAST(:ns AS bigint[])) AS n) AS v WHERE posts.id = v.id"
                ),
                {"ids": [d["id"] for d in chunk], "ns": [d["n"] for d in chunk]},
            )
            total += sum(int(d["n"]) for d in chunk)  # type: ignore[call-overload]
        db.session.commit()
        redis.delete(FLUSHING_KEY)
        return total
    finally:
        # Release only our own lock (it may have expired and been taken by another run).
        if redis.get(LOCK_KEY) == token.encode():
            redis.delete(LOCK_KEY)
