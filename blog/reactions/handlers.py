"""reaction.added / reaction.removed: the live counts of open post tabs, and the author's
grouped notification.

Payload (blog.reactions.services._emit): aggregate post; data {item_type post|comment,
item_id, post_id, item_author_id, user_id, kind}.

Both read the rows as they are now, so a late or repeated delivery publishes the true count
and words, never a stale one.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from sqlalchemy import select

from blog.comments.models import Comment
from blog.core.live import publish_to_topic
from blog.core.oncommit import call_after_commit
from blog.extensions import db
from blog.notifications.services import Notice, notify_grouped, site_path
from blog.outbox.registry import Message, handles
from blog.posts.models import Post
from blog.reactions.live import topic_for
from blog.reactions.services import latest_liker


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


@handles("reaction.added", "reaction.removed", queue="notifications")
def publish_like_count(message: Message) -> None:
    """Every open tab of the post sees the item's new count (out of band), after commit."""
    data = message["data"]
    item_id, post_id = _uuid(data.get("item_id")), _uuid(data.get("post_id"))
    if item_id is None or post_id is None:
        return
    item_type = "comment" if data.get("item_type") == "comment" else "post"
    model: Any = Comment if item_type == "comment" else Post
    count = db.session.scalar(select(model.like_count).where(model.id == item_id))
    if count is None:
        return  # gone meanwhile
    html = current_app.jinja_env.get_template("reactions/_live_count.html").render(
        item_type=item_type, item_id=item_id, count=count
    )
    topic = topic_for(post_id)
    call_after_commit(lambda: publish_to_topic(topic, html))


@handles("reaction.added", queue="notifications")
def notify_liked(message: Message) -> None:
    """Tell the item's author, grouped: one in-app notification per (author, item) that says
    "bob and 3 others liked your post" and is updated, unread again, by each new like. An
    unlike says nothing."""
    data = message["data"]
    author_id, liker_id = _uuid(data.get("item_author_id")), _uuid(data.get("user_id"))
    item_id, post_id = _uuid(data.get("item_id")), _uuid(data.get("post_id"))
    if author_id is None or item_id is None or post_id is None or author_id == liker_id:
        return
    item_type = "comment" if data.get("item_type") == "comment" else "post"
    post = db.session.execute(select(Post.title, Post.slug).where(Post.id == post_id)).first()
    if post is None:
        return
    name, count = latest_liker(item_type, item_id)
    if name is None or count == 0:
        return  # taken back before we got here: nothing to say
    others = count - 1
    who = name if others == 0 else f"{name} and {others} other{'' if others == 1 else 's'}"
    what = "your post" if item_type == "post" else "your comment on"
    anchor = "#post-reactions" if item_type == "post" else f"#comment-{item_id}"
    notify_grouped(
        author_id,
        Notice(
            kind="reaction",
            title=f"{who} liked {what} “{post.title}”"
            if item_type == "comment"
            else f"{who} liked your post “{post.title}”",
            message=f"{count} like{'' if count == 1 else 's'} so far.",
            link=site_path("posts.show", slug=post.slug) + anchor,
            actor_id=liker_id,
        ),
        group_key=f"reaction:{item_type}:{item_id}",
        event_id=uuid.UUID(message["id"]),
    )
