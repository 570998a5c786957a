"""Periodic post jobs (blog/jobs/cron.py schedules them). Each commits its own work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from blog.core.db import utcnow
from blog.extensions import db
from blog.posts.counters import flush_view_counts
from blog.posts.models import Post
from blog.posts.services import publish_post, refresh_tag_counts

PUBLISH_BATCH = 100


def publish_scheduled_posts(now: datetime | None = None) -> int:
    """Publish every scheduled draft whose time has come; returns how many. Idempotent."""
    published = 0
    while True:
        moment = now or utcnow()
        # SKIP LOCKED: a draft its author is saving right now is left to that transaction;
        # the next run (a minute later) sees whatever it decided.
        posts = db.session.scalars(
            select(Post)
            .where(Post.status == "draft", Post.scheduled_at <= moment)
            .options(selectinload(Post.tags))
            .order_by(Post.scheduled_at)
            .limit(PUBLISH_BATCH)
            .with_for_update(of=Post, skip_locked=True)
        ).all()
        for post in posts:
            publish_post(post, actor=None, now=moment)
        db.session.commit()
        published += len(posts)
        if len(posts) < PUBLISH_BATCH:
            return published


def flush_post_views() -> int:
    """Move the view counts gathered in Redis into posts.view_count."""
    return flush_view_counts()


def recount_tags() -> int:
    """Recount every tag's posts (the services keep the counts by deltas; an account deleted
    or restored is what they do not follow). Returns how many tags changed."""
    changed = refresh_tag_counts()
    db.session.commit()
    return changed
