"""Open tabs of a post follow its like counts: the tab says which post it shows
(`{"type": "post.subscribe", "post": id}`, static/js/reactions.js), and the reactions
handler publishes each new count to the topic "post:<id>" (blog.core.live.publish_to_topic).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from blog.auth.models import User
from blog.core.live import LiveSocket, on_client_message
from blog.extensions import db
from blog.posts.models import Post

PREFIX = "post:"


def topic_for(post_id: uuid.UUID | str) -> str:
    return f"{PREFIX}{post_id}"


@on_client_message("post.subscribe")
def subscribe(live: LiveSocket, data: dict[str, Any]) -> None:
    """The tab shows a post: follow its counts if it is public (a published or archived post
    of a live account). A tab shows one post: any earlier one is dropped."""
    try:
        post_id = uuid.UUID(str(data.get("post", "")))
    except ValueError:
        return
    public = db.session.scalar(
        select(Post.id)
        .join(User, User.id == Post.author_id)
        .where(
            Post.id == post_id,
            Post.status.in_(("published", "archived")),
            User.deleted_at.is_(None),
        )
    )
    for topic in [t for t in live.topics if t.startswith(PREFIX)]:
        live.topics.discard(topic)
    if public is not None:
        live.topics.add(topic_for(post_id))
