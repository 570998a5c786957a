"""access_comment: the one place that decides who may see or change a comment."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from flask import abort
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from blog.comments.models import Comment
from blog.extensions import db
from blog.posts.access import check_post_access, get_post
from blog.posts.models import Post

Action = Literal["view", "edit", "remove"]


def access_comment(
    user: Any, comment_id: uuid.UUID, action: Action = "view"
) -> tuple[Comment, Post]:
    """The comment and its post if `user` may do `action`; else abort (404 or 403)."""
    query = select(Comment).where(Comment.id == comment_id).options(joinedload(Comment.author))
    if action != "view":
        # Changes to one comment take turns (an edit racing a removal).
        query = query.with_for_update(of=Comment)
    comment = db.session.scalar(query)
    if comment is None:
        abort(404)
    post = get_post(comment.post_id)
    if post is None:
        abort(404)
    # A comment under a draft someone else wrote does not exist for them either (404).
    check_post_access(user, post)
    # Edit and delete: the author's alone.
    is_author = user.is_authenticated and comment.author_id == user.id
    if action == "edit" and not is_author:
        abort(403, "Only the author can change this comment.")
    if action == "remove" and not (user.is_authenticated and user.is_moderator):
        abort(403, "Only moderators can remove comments.")
    return comment, post


def access_reply_parent(user: Any, post: Post, comment_id: uuid.UUID | None) -> Comment:
    """The comment of `post` that `user` may answer, or abort 404: a comment of another post, a
    deleted or removed one, or one under a post that takes no comments (a draft, an archived
    post) has nothing to reply to. `post` already passed access_post."""
    if comment_id is None:
        abort(404)
    comment = db.session.scalar(
        select(Comment).where(Comment.id == comment_id).options(joinedload(Comment.author))
    )
    if comment is None:
        abort(404)
    # The URL names the post: a comment of another post is not found under it.
    if comment.post_id != post.id:
        abort(404)
    if not comment.is_visible:
        abort(404)
    # Hidden while moderators review readers' reports: answers wait for their decision.
    if comment.hidden_at is not None:
        abort(404)
    if not post.is_published or post.is_archived:
        abort(404)
    return comment
