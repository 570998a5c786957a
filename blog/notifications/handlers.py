"""The sources of notifications: outbox handlers, each an idempotent RQ job.

Each runs inside run_handler's transaction (its ledger row commits with the notifications), and
the (user, type, event) key makes a second delivery a no-op even without the ledger. Texts are
built from the event's data and the rows as they are now; links are site paths.

Payloads expected (the emitting services own them):
- user.suspended        aggregate user; data {reason, until, actor_id}
- post.published        aggregate post; data {author_id, title, slug, republished, ...}
- post.published, post.updated also carry mentions: [{id, user_name}] (people named for the
                        first time: none on a republication, only new ones on an edit)
- post.archived         aggregate post; data {author_id, slug, by}
- comment.created       aggregate post; data {comment_id, post_id, post_author_id, author_id,
                        mentions: [{id, user_name}] or [user id or user name], excerpt,
                        parent_id, parent_author_id (a reply's parent and its author, or null)}
- comment.removed       aggregate post; data {comment_id, post_id, author_id, reason, actor_id}
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, or_, select

from blog.auth.models import User
from blog.extensions import db
from blog.notifications.services import Notice, notify_followers, notify_users, site_path
from blog.outbox.registry import Message, handles
from blog.posts.models import Post


def _event_id(message: Message) -> uuid.UUID:
    return uuid.UUID(message["id"])


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _user_name(user_id: uuid.UUID | None) -> str:
    if user_id is None:
        return "Someone"
    name = db.session.scalar(select(User.user_name).where(User.id == user_id))
    return name or "Someone"


def _post(post_id: uuid.UUID | None) -> Any:
    """(title, slug, author_id) of a post, or None."""
    if post_id is None:
        return None
    return db.session.execute(
        select(Post.title, Post.slug, Post.author_id).where(Post.id == post_id)
    ).first()


def _post_path(slug: str, anchor: str | None = None) -> str:
    path = site_path("posts.show", slug=slug)
    return f"{path}#{anchor}" if anchor else path


@handles("user.suspended", queue="notifications")
def notify_account_suspended(message: Message) -> None:
    """Tell the person their account is suspended (in-app, and always by email)."""
    user_id = _uuid(message["aggregate_id"])
    if user_id is None:
        return
    data = message["data"]
    until = data.get("until")
    when = f" until {until[:16].replace('T', ' ')} UTC" if until else " until further notice"
    reason = str(data.get("reason") or "").strip()
    notify_users(
        [user_id],
        Notice(
            kind="account_suspended",
            title="Your account is suspended",
            message=f"A moderator suspended your account{when}."
            + (f" Reason: {reason}" if reason else ""),
        ),
        event_id=_event_id(message),
    )


@handles("post.published", queue="notifications", timeout=120)
def notify_followers_of_post(message: Message) -> None:
    """Tell the author's followers about a new post: one INSERT ... SELECT, however many."""
    data = message["data"]
    author_id = _uuid(data.get("author_id"))
    post_id = _uuid(message["aggregate_id"])
    if author_id is None or data.get("republished"):
        return
    post = _post(post_id)
    if post is None:
        return
    author = _user_name(author_id)
    notify_followers(
        author_id,
        Notice(
            kind="followed_author_posted",
            title=f"New post by {author}",
            message=f"{author} published “{post.title}”.",
            link=_post_path(post.slug),
            actor_id=author_id,
        ),
        event_id=_event_id(message),
    )


@handles("post.published", "post.updated", queue="notifications")
def notify_post_mentions(message: Message) -> None:
    """Tell the people a published post mentions (the services send only the new ones)."""
    post = _post(_uuid(message["aggregate_id"]))
    if post is None:
        return
    mentions = message["data"].get("mentions")
    mentioned = [u for u in _mentioned_users(mentions) if u != post.author_id] if mentions else []
    if not mentioned:
        return
    author = _user_name(post.author_id)
    notify_users(
        mentioned,
        Notice(
            kind="mention",
            title=f"{author} mentioned you",
            message=f"{author} mentioned you in “{post.title}”.",
            link=_post_path(post.slug),
            actor_id=post.author_id,
        ),
        event_id=_event_id(message),
    )


@handles("post.archived", queue="notifications")
def notify_post_archived(message: Message) -> None:
    """Tell an author a moderator archived their post (not when they did it themselves)."""
    data = message["data"]
    author_id, by = _uuid(data.get("author_id")), _uuid(data.get("by"))
    if author_id is None or by is None or by == author_id:
        return
    post = _post(_uuid(message["aggregate_id"]))
    if post is None:
        return
    notify_users(
        [author_id],
        Notice(
            kind="post_archived",
            title="A moderator archived your post",
            message=f"“{post.title}” was archived: it is off the feeds and search.",
            link=_post_path(post.slug),
        ),
        event_id=_event_id(message),
    )


@handles("comment.created", queue="notifications")
def notify_comment_created(message: Message) -> None:
    """Tell the parent comment's author about a reply, the post's author about a comment, and
    each person mentioned in it.

    One notice per person per event, the most specific first: a post's author who wrote the
    parent gets the reply notice only ("bob replied to your comment" says more than "bob
    commented"), and a mention of someone already told adds nothing.
    """
    data = message["data"]
    commenter_id = _uuid(data.get("author_id"))
    post = _post(_uuid(data.get("post_id")))
    if post is None:
        return
    commenter = _user_name(commenter_id)
    anchor = f"comment-{data['comment_id']}" if data.get("comment_id") else "comments"
    link = _post_path(post.slug, anchor)
    excerpt = str(data.get("excerpt") or "").strip()
    event_id = _event_id(message)
    told: set[uuid.UUID | None] = {commenter_id}
    parent_author_id = _uuid(data.get("parent_author_id"))
    if parent_author_id is not None and parent_author_id not in told:
        told.add(parent_author_id)
        notify_users(
            [parent_author_id],
            Notice(
                kind="comment_reply",
                title=f"{commenter} replied to your comment",
                message=excerpt or f"{commenter} replied to your comment on “{post.title}”.",
                link=link,
                actor_id=commenter_id,
            ),
            event_id=event_id,
        )
    if post.author_id not in told:
        told.add(post.author_id)
        notify_users(
            [post.author_id],
            Notice(
                kind="comment_on_post",
                title=f"{commenter} commented on “{post.title}”",
                message=excerpt or f"{commenter} commented on your post.",
                link=link,
                actor_id=commenter_id,
            ),
            event_id=event_id,
        )
    mentioned = [u for u in _mentioned_users(data.get("mentions")) if u not in told]
    if mentioned:
        notify_users(
            mentioned,
            Notice(
                kind="mention",
                title=f"{commenter} mentioned you",
                message=excerpt or f"{commenter} mentioned you in a comment on “{post.title}”.",
                link=link,
                actor_id=commenter_id,
            ),
            event_id=event_id,
        )


def _mentioned_users(mentions: Any) -> list[uuid.UUID]:
    """Ids of the mentioned users: entries are {id, user_name} objects, ids or user names."""
    ids: set[uuid.UUID] = set()
    names: set[str] = set()
    for entry in mentions or []:
        value = (entry.get("id") or entry.get("user_name")) if isinstance(entry, dict) else entry
        as_id = _uuid(value)
        if as_id is not None:
            ids.add(as_id)
        elif isinstance(value, str) and value.strip():
            names.add(value.strip().lstrip("@").lower())
    if not ids and not names:
        return []
    return list(
        db.session.scalars(
            select(User.id).where(
                or_(User.id.in_(ids), func.lower(User.user_name).in_(names)),
                User.deleted_at.is_(None),
            )
        )
    )


@handles("comment.removed", queue="notifications")
def notify_comment_removed(message: Message) -> None:
    """Tell a commenter a moderator removed their comment, with the reason."""
    data = message["data"]
    author_id, actor_id = _uuid(data.get("author_id")), _uuid(data.get("actor_id"))
    if author_id is None or author_id == actor_id:
        return
    post = _post(_uuid(data.get("post_id")))
    reason = str(data.get("reason") or "").strip()
    where = f" on “{post.title}”" if post is not None else ""
    notify_users(
        [author_id],
        Notice(
            kind="comment_removed",
            title="A moderator removed your comment",
            message=f"Your comment{where} was removed." + (f" Reason: {reason}" if reason else ""),
            link=_post_path(post.slug, "comments") if post is not None else None,
        ),
        event_id=_event_id(message),
    )
