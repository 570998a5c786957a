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
