"""access_post: the one place that decides who may see or change a post. It returns the post or
aborts; each condition stands on its own line and has its own test (tests/posts/test_access.py).

A draft is the author's alone: to anyone else it does not exist (404, never 403, which would
say that it does). A published or archived post is public, so refusing to change it with 403
reveals nothing.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from flask import abort
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload, undefer

from blog.auth.models import User
from blog.extensions import db
from blog.posts.models import Post

Action = Literal["view", "edit", "publish", "archive", "delete"]

REFUSED_EDIT = "Only the author can change this post."
REFUSED_ARCHIVE = "Only the author or a moderator can archive this post."
REFUSED_REPUBLISH_MODERATED = (
    "A moderator archived this post; only a moderator can publish it again."
)
REFUSED_PUBLISH = "Only the author can publish this post."


def get_post(ref: uuid.UUID | str, *, lock: bool = False) -> Post | None:
    """The post with this id (a UUID) or slug (a str), with author and tags; None if none."""
    query = select(Post).options(
        joinedload(Post.author, innerjoin=True),
        selectinload(Post.tags),
        undefer(Post.content),
        undefer(Post.content_html),
    )
    query = (
        query.where(Post.id == ref) if isinstance(ref, uuid.UUID) else query.where(Post.slug == ref)
    )
    if lock:
        # Writes to one post take turns, so its events are emitted in the order they commit.
        query = query.with_for_update(of=Post)
    return db.session.scalars(query).first()


def access_post(
    user: Any, ref: uuid.UUID | str, *, action: Action = "view", lock: bool = False
) -> Post:
    """The post `ref` (id or slug) if `user` (current_user, maybe anonymous) may do `action`
    to it; else abort with 404 or 403."""
    post = get_post(ref, lock=lock or action != "view")
    if post is None:
        abort(404)
    check_post_access(user, post, action)
    return post


def check_post_access(user: Any, post: Post, action: Action = "view") -> None:
    """The decision of access_post, for a post already loaded: returns, or aborts."""
    signed_in = bool(getattr(user, "is_authenticated", False))
    is_author = signed_in and user.id == post.author_id
    is_moderator = signed_in and user.is_moderator
    # A deleted account's posts are gone with it (until it is restored).
    if post.author.deleted_at is not None:
        abort(404)
    # Drafts (scheduled or not) exist for their author only.
    if post.is_draft and not is_author:
        abort(404)
    if action == "view":
        return
    if not signed_in:
        abort(403)
    if action in ("edit", "delete") and not is_author:
        abort(403, REFUSED_EDIT)
    if action == "archive" and not (is_author or is_moderator):
        abort(403, REFUSED_ARCHIVE)
    if action == "publish":
        _check_publish(post, user, is_author=is_author, is_moderator=is_moderator)


def _check_publish(post: Post, user: User, *, is_author: bool, is_moderator: bool) -> None:
    moderated = post.is_archived and post.archived_by_id not in (None, post.author_id)
    # An archive by a moderator is undone by a moderator only, not by the author.
    if moderated and not is_moderator:
        abort(403, REFUSED_REPUBLISH_MODERATED)
    if not moderated and not is_author:
        abort(403, REFUSED_PUBLISH)


def access_post_history(user: Any, post_id: uuid.UUID) -> Post:
    """The post whose earlier versions `user` may read: its author and staff (moderators,
    admins). Everyone else gets 404: that a post was edited, and how, is not theirs to see."""
    post = get_post(post_id)
    if post is None:
        abort(404)
    check_post_access(user, post, "view")
    signed_in = bool(getattr(user, "is_authenticated", False))
    if not signed_in:
        abort(404)
    if user.id != post.author_id and not user.is_moderator:
        abort(404)
    return post
