"""Comment rules. Services add and flush; the view commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import any_, false, func, select, tuple_
from sqlalchemy.orm import joinedload

from blog.audit.services import record_audit
from blog.auth.models import User
from blog.comments.models import SHOWN_LEVELS, Comment
from blog.core.db import utcnow
from blog.core.pagination import decode_cursor, encode_cursor
from blog.extensions import db
from blog.outbox.events import emit
from blog.posts.models import Post
from blog.profiles.mentions import mentioned_people, render_user_text

PAGE_SIZE = 50
# A comment sits under the thread's h2: its "# Heading" is an h3.
COMMENT_HEADING_BASE = 2


class CommentRefused(Exception):
    """The comment cannot be added or changed now; the message says why."""


class CommentLimited(CommentRefused):
    """This text goes past a new account's limit (blog.safety.newcomers): the form shows why,
    beside the field, with the text kept."""


@dataclass(frozen=True)
class Thread:
    comments: list[Comment]
    total: int
    next_cursor: str | None
    # The replies each comment's list shows, oldest first (Comment.container_id).
    replies: dict[uuid.UUID, list[Comment]] = field(default_factory=dict)
    # Every comment loaded, by id: a reply shown beside its parent names it.
    by_id: dict[uuid.UUID, Comment] = field(default_factory=dict)
    # Ids of the comments whose authors the viewer ignores: shown collapsed (blog.safety).
    collapsed: frozenset[uuid.UUID] = frozenset()

    def replies_of(self, comment: Comment) -> list[Comment]:
        return self.replies.get(comment.id, [])

    def parent_of(self, comment: Comment) -> Comment | None:
        return self.by_id.get(comment.parent_id) if comment.parent_id else None


def _arrange(rows: list[Comment]) -> dict[uuid.UUID, list[Comment]]:
    replies: dict[uuid.UUID, list[Comment]] = {}
    for reply in rows:  # already oldest first
        container = reply.container_id
        if container is not None:
            replies.setdefault(container, []).append(reply)
    return replies


def _ignored_column(viewer_id: uuid.UUID | None) -> Any:
    # safety: whether the viewer ignores each author, a column of the same statement
    from blog.safety.services import ignores

    return ignores(viewer_id, Comment.author_id) if viewer_id is not None else false()


def _subtrees(
    root_ids: list[uuid.UUID], viewer_id: uuid.UUID | None = None
) -> list[tuple[Comment, bool]]:
    """Every reply under these top-level comments, oldest first, with authors (and whether the
    viewer ignores each author): one statement on ix_comments_root_id_created_at_id (the
    materialised path's root) however deep."""
    if not root_ids:
        return []
    rows = db.session.execute(
        select(Comment, _ignored_column(viewer_id))
        .where(Comment.root_id.in_(root_ids))
        .options(joinedload(Comment.author))
        .order_by(Comment.created_at, Comment.id)
    ).all()
    return [(comment, bool(hidden)) for comment, hidden in rows]


def thread(
    post: Post,
    after: str | None = None,
    size: int = PAGE_SIZE,
    *,
    viewer_id: uuid.UUID | None = None,
) -> Thread:
    """One page of a post's top-level comments, oldest first, each with its whole subtree (with
    authors), and how many count (replies count; removed and deleted ones stay in the thread as
    placeholders, uncounted): three statements however long or deep the thread. With a
    `viewer_id`, whether the viewer ignores each author is a column of the same statements."""
    query = (
        select(Comment, _ignored_column(viewer_id))
        .where(Comment.post_id == post.id, Comment.parent_id.is_(None))
        .options(joinedload(Comment.author))
        .order_by(Comment.created_at, Comment.id)
    )
    position = decode_cursor(after)
    if position is not None:
        query = query.where(tuple_(Comment.created_at, Comment.id) > tuple_(*position))
    pairs = db.session.execute(query.limit(size + 1)).all()
    rows = [comment for comment, _ignored in pairs]
    more = len(rows) > size
    rows = rows[:size]
    below_pairs = _subtrees([row.id for row in rows], viewer_id)
    below = [comment for comment, _ignored in below_pairs]
    collapsed = frozenset(
        [comment.id for comment, hidden in pairs[:size] if hidden]
        + [comment.id for comment, hidden in below_pairs if hidden]
    )
    total = visible_count(post.id)
    last = rows[-1] if more and rows else None
    return Thread(
        rows,
        total or 0,
        encode_cursor(last.created_at, last.id) if last else None,
        _arrange(below),
        {c.id: c for c in (*rows, *below)},
        collapsed,
    )


def subtree(comment: Comment) -> Thread:
    """The replies a comment's list shows (for re-rendering one comment in place): one
    statement, none for a comment at the last shown level (its replies sit beside it)."""
    if not comment.shows_replies:
        # Its replies sit beside it; it names its parent when it is one of those itself.
        parent = None
        if comment.depth >= SHOWN_LEVELS and comment.parent_id is not None:
            parent = db.session.scalar(
                select(Comment)
                .where(Comment.id == comment.parent_id)
                .options(joinedload(Comment.author))
            )
        return Thread([comment], 0, None, {}, {parent.id: parent} if parent else {})
    root = comment.root_id or comment.id
    query = select(Comment).where(Comment.root_id == root)
    if comment.root_id is not None:
        query = query.where(any_(Comment.path) == comment.id)
    rows = list(
        db.session.scalars(
            query.options(joinedload(Comment.author)).order_by(Comment.created_at, Comment.id)
        )
    )
    return Thread([comment], 0, None, _arrange(rows), {c.id: c for c in (comment, *rows)})


def _check_open(post: Post) -> None:
    if post.is_archived:
        raise CommentRefused("This post is archived: its comments are read-only.")
    if not post.is_published:
        raise CommentRefused("Only published posts take comments.")


# --- safety: new-account limits (blog.safety.newcomers) and ignored authors in threads
def _check_new_account(author: User, content: str, html: str) -> None:
    from blog.safety.newcomers import NewAccountLimit, check_comment

    try:
        check_comment(author, html)
    except NewAccountLimit as exc:
        raise CommentLimited(str(exc)) from None


# --- end safety


def add_comment(post: Post, author: User, content: str, parent: Comment | None = None) -> Comment:
    """Add a comment to a published post, or a reply to `parent` (a visible comment of that
    post); emits comment.created with its mentions and, for a reply, the parent's author.
    Raises CommentRefused for an archived or unpublished post or a parent that cannot take one."""
    _check_open(post)
    if parent is not None:
        if parent.post_id != post.id:
            raise CommentRefused("That comment is not on this post.")
        if not parent.is_visible:
            raise CommentRefused("That comment was taken down: it takes no replies.")
    rendered = render_user_text(content, heading_base=COMMENT_HEADING_BASE)
    _check_new_account(author, content, rendered.html)  # safety
    comment = Comment(
        post_id=post.id, author_id=author.id, content=content, content_html=rendered.html
    )
    if parent is not None:
        comment.parent_id = parent.id
        comment.root_id = parent.root_id or parent.id
        comment.path = [*(parent.path or []), parent.id]
    db.session.add(comment)
    db.session.flush()
    emit(
        "comment.created",
        aggregate_type="post",  # ordered with its post's events
        aggregate_id=post.id,
        data={
            "comment_id": str(comment.id),
            "post_id": str(post.id),
            "post_author_id": str(post.author_id),
            "author_id": str(author.id),
            "mentions": mentioned_people(content, author_id=author.id),
            "excerpt": rendered.text[:200],
            "parent_id": str(parent.id) if parent is not None else None,
            "parent_author_id": (
                str(parent.author_id) if parent is not None and parent.author_id else None
            ),
        },
    )
    return comment


def edit_comment(comment: Comment, post: Post, content: str) -> Comment:
    _check_open(post)
    html = render_user_text(content, heading_base=COMMENT_HEADING_BASE).html
    if comment.author is not None:
        _check_new_account(comment.author, content, html)  # safety
    try:
        comment.edit(content, html, utcnow())
    except ValueError as exc:
        raise CommentRefused(str(exc).capitalize() + ".") from None
    db.session.flush()
    return comment


def delete_comment(comment: Comment, post: Post) -> Comment:
    """The author takes their comment back; it stays in the thread as "deleted"."""
    _check_open(post)
    comment.delete(utcnow())
    db.session.flush()
    return comment


def remove_comment(comment: Comment, *, actor: User, reason: str, ip: str | None = None) -> Comment:
    """A moderator removes a comment with a reason: audited, emits comment.removed."""
    if comment.removed_at is not None:
        raise CommentRefused("This comment is already removed.")
    try:
        comment.remove(by=actor.id, reason=reason, now=utcnow())
    except ValueError:
        raise CommentRefused("Give a reason: it is shown in place of the comment.") from None
    db.session.flush()
    record_audit(
        actor_id=actor.id,
        action="comment.remove",
        entity_type="comment",
        entity_id=comment.id,
        old={"removed": False},
        new={"removed": True, "reason": comment.removed_reason, "post_id": str(comment.post_id)},
        ip=ip,
    )
    emit(
        "comment.removed",
        aggregate_type="post",
        aggregate_id=comment.post_id,
        data={
            "comment_id": str(comment.id),
            "post_id": str(comment.post_id),
            "author_id": str(comment.author_id) if comment.author_id else None,
            "reason": comment.removed_reason,
            "actor_id": str(actor.id),
        },
    )
    return comment


def restore_comment(comment: Comment, *, actor: User, ip: str | None = None) -> Comment:
    """A moderator undoes a removal: audited (the public log shows it), emits comment.restored."""
    if comment.removed_at is None:
        raise CommentRefused("This comment is not removed.")
    old_reason = comment.removed_reason
    comment.restore()
    db.session.flush()
    record_audit(
        actor_id=actor.id,
        action="comment.restore",
        entity_type="comment",
        entity_id=comment.id,
        old={"removed": True, "reason": old_reason},
        new={"removed": False, "post_id": str(comment.post_id)},
        ip=ip,
    )
    emit(
        "comment.restored",
        aggregate_type="post",
        aggregate_id=comment.post_id,
        data={"comment_id": str(comment.id), "actor_id": str(actor.id)},
    )
    return comment


def comment_counts(post_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Visible comments per post, for lists: one statement for the whole page."""
    if not post_ids:
        return {}
    rows = db.session.execute(
        select(Comment.post_id, func.count())
        .where(Comment.post_id.in_(post_ids), Comment.is_visible)
        .group_by(Comment.post_id)
    ).all()
    return {post_id: count for post_id, count in rows}


def visible_count(post_id: uuid.UUID) -> int:
    """The post's comment count as every page shows it (Comment.is_visible)."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Comment)
            .where(Comment.post_id == post_id, Comment.is_visible)
        )
        or 0
    )
