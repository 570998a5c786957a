"""Likes and bookmarks. Services add and flush; the view commits.

A like is a row (unique per person, item and kind) and one more on the item's like_count, in
the same transaction: the INSERT ... ON CONFLICT DO NOTHING says whether the row is new, and
only then does the count move, so a double click or two tabs cannot count twice. An unlike
is the DELETE ... RETURNING mirror. Each change emits `reaction.added` / `reaction.removed`
(aggregate: the post) for the live counts; the added one also notifies the item's author,
grouped (blog/reactions/handlers.py). Bookmarks are private and emit nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, cast, delete, literal, select, union_all, update
from sqlalchemy.dialects.postgresql import insert

from blog.auth.models import User
from blog.comments.models import Comment
from blog.extensions import db
from blog.outbox.events import emit
from blog.posts.models import Post
from blog.reactions.models import Bookmark, CommentReaction, PostReaction

LIKE = "like"


class ReactionRefused(Exception):
    """The like or bookmark cannot be changed now; the message says why (for people)."""


@dataclass(frozen=True)
class Toggled:
    """The item's state after a like or unlike, as its button shows it."""

    on: bool
    count: int
    changed: bool


def _check_post_open(post: Post, what: str) -> None:
    if post.is_archived:
        raise ReactionRefused(f"This post is archived: it takes no new {what}.")
    if not post.is_published:
        raise ReactionRefused(f"Only published posts take {what}.")
    if post.hidden_at is not None:
        raise ReactionRefused(f"This post is hidden while moderators review it: no new {what}.")


def like_post(post: Post, user: User, on: bool) -> Toggled:
    """Like (on) or unlike the post. Refused on your own post and on a post that is not
    published (drafts, archived, hidden)."""
    _check_post_open(post, "likes")
    if post.author_id == user.id:
        raise ReactionRefused("You cannot like your own post.")
    if on:
        added = db.session.execute(
            insert(PostReaction)
            .values(user_id=user.id, post_id=post.id, kind=LIKE)
            .on_conflict_do_nothing()
            .returning(PostReaction.post_id)
        ).first()
        changed = added is not None
    else:
        removed = db.session.execute(
            delete(PostReaction)
            .where(
                PostReaction.user_id == user.id,
                PostReaction.post_id == post.id,
                PostReaction.kind == LIKE,
            )
            .returning(PostReaction.post_id)
        ).first()
        changed = removed is not None
    count = _move_count(Post, post.id, (1 if on else -1) if changed else 0)
    if changed:
        _emit(on, "post", post.id, post, user, author_id=post.author_id)
    return Toggled(on, count, changed)


def like_comment(comment: Comment, post: Post, user: User, on: bool) -> Toggled:
    """Like (on) or unlike a comment. Refused on your own comment, on a deleted or removed
    one, and under a post that is not published."""
    _check_post_open(post, "likes")
    if not comment.is_visible:
        raise ReactionRefused("This comment was deleted or removed: it takes no likes.")
    if comment.hidden_at is not None:
        raise ReactionRefused("This comment is hidden while moderators review it.")
    if comment.author_id == user.id:
        raise ReactionRefused("You cannot like your own comment.")
    if on:
        added = db.session.execute(
            insert(CommentReaction)
            .values(user_id=user.id, comment_id=comment.id, kind=LIKE)
            .on_conflict_do_nothing()
            .returning(CommentReaction.comment_id)
        ).first()
        changed = added is not None
    else:
        removed = db.session.execute(
            delete(CommentReaction)
            .where(
                CommentReaction.user_id == user.id,
                CommentReaction.comment_id == comment.id,
                CommentReaction.kind == LIKE,
            )
            .returning(CommentReaction.comment_id)
        ).first()
        changed = removed is not None
    count = _move_count(Comment, comment.id, (1 if on else -1) if changed else 0)
    if changed:
        _emit(on, "comment", comment.id, post, user, author_id=comment.author_id)
    return Toggled(on, count, changed)


def _move_count(model: Any, item_id: uuid.UUID, delta: int) -> int:
    """Add `delta` to the item's like_count and return it (the row lock of the UPDATE orders
    concurrent likes of one item); with 0, just read it."""
    if delta == 0:
        return int(db.session.scalar(select(model.like_count).where(model.id == item_id)) or 0)
    count = db.session.scalar(
        update(model)
        .where(model.id == item_id)
        .values(like_count=model.like_count + delta)
        .returning(model.like_count)
        .execution_options(synchronize_session=False)
    )
    # The page rendered after the view's commit shows the new count.
    instance = db.session.identity_map.get(db.session.identity_key(model, item_id))
    if instance is not None:
        from sqlalchemy.orm.attributes import set_committed_value

        set_committed_value(instance, "like_count", count)
    return int(count or 0)


def _emit(
    on: bool,
    item_type: str,
    item_id: uuid.UUID,
    post: Post,
    user: User,
    *,
    author_id: uuid.UUID | None,
) -> None:
    emit(
        "reaction.added" if on else "reaction.removed",
        aggregate_type="post",  # ordered with its post's events (counts arrive in order)
        aggregate_id=post.id,
        data={
            "item_type": item_type,
            "item_id": str(item_id),
            "post_id": str(post.id),
            "item_author_id": str(author_id) if author_id else None,
            "user_id": str(user.id),
            "kind": LIKE,
        },
    )


def save_post(post: Post, user: User, on: bool) -> bool:
    """Save (on) or unsave the post for later; returns whether it is saved now. Only a
    published post can be saved; unsaving works whatever its state."""
    if on:
        _check_post_open(post, "bookmarks")
        db.session.execute(
            insert(Bookmark).values(user_id=user.id, post_id=post.id).on_conflict_do_nothing()
        )
    else:
        db.session.execute(
            delete(Bookmark).where(Bookmark.user_id == user.id, Bookmark.post_id == post.id)
        )
    return on


@dataclass
class Marks:
    """What the viewer did to the items of one page: liked the post, saved it, liked which
    of its comments."""

    liked_post: bool = False
    saved_post: bool = False
    liked_comments: set[uuid.UUID] = field(default_factory=set)


def viewer_marks(user: Any, post_id: uuid.UUID | None, comment_ids: list[uuid.UUID]) -> Marks:
    """The viewer's likes and bookmark on a post page's items, in ONE statement however many
    comments the page shows; none for a visitor."""
    marks = Marks()
    if not getattr(user, "is_authenticated", False) or (post_id is None and not comment_ids):
        return marks
    parts: list[Any] = []
    if post_id is not None:
        parts.append(
            select(literal("post_like"), cast(PostReaction.post_id, Text)).where(
                PostReaction.user_id == user.id,
                PostReaction.post_id == post_id,
                PostReaction.kind == LIKE,
            )
        )
        parts.append(
            select(literal("post_save"), cast(Bookmark.post_id, Text)).where(
                Bookmark.user_id == user.id, Bookmark.post_id == post_id
            )
        )
    if comment_ids:
        parts.append(
            select(literal("comment_like"), cast(CommentReaction.comment_id, Text)).where(
                CommentReaction.user_id == user.id,
                CommentReaction.comment_id.in_(comment_ids),
                CommentReaction.kind == LIKE,
            )
        )
    for what, item in db.session.execute(union_all(*parts)).all():
        if what == "post_like":
            marks.liked_post = True
        elif what == "post_save":
            marks.saved_post = True
        else:
            marks.liked_comments.add(uuid.UUID(item))
    return marks


def latest_liker(item_type: str, item_id: uuid.UUID) -> tuple[str | None, int]:
    """The newest liker's name and how many like the item now (for the grouped notice)."""
    reaction: Any
    column: Any
    model: Any
    if item_type == "post":
        reaction, column, model = PostReaction, PostReaction.post_id, Post
    else:
        reaction, column, model = CommentReaction, CommentReaction.comment_id, Comment
    name = db.session.scalar(
        select(User.user_name)
        .join(reaction, reaction.user_id == User.id)
        .where(column == item_id, User.deleted_at.is_(None))
        .order_by(reaction.created_at.desc())
        .limit(1)
    )
    count = db.session.scalar(select(model.like_count).where(model.id == item_id)) or 0
    return name, int(count)
