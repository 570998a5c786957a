"""Flag rules. Services add and flush; the view commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import joinedload, undefer

from blog.audit.services import record_audit
from blog.auth.models import User
from blog.comments import services as comment_services
from blog.comments.models import Comment
from blog.core.db import utcnow
from blog.core.settings import get_setting, register_setting
from blog.extensions import db
from blog.flags.models import Flag
from blog.outbox.events import emit
from blog.posts.models import Post

MODERATION = register_setting(
    "moderation",
    "Flags: content is hidden once this many different readers flag it, until a moderator decides.",
    {"flags_to_hide": 3},
    {
        "type": "object",
        "properties": {"flags_to_hide": {"type": "integer", "minimum": 1, "maximum": 100}},
        "additionalProperties": False,
    },
)


class FlagRefused(Exception):
    """This flag cannot be raised or decided; the message says why."""


Target = Post | Comment


def _column(target: Target):
    return Flag.post_id if isinstance(target, Post) else Flag.comment_id


def _kind(target: Target) -> str:
    return "post" if isinstance(target, Post) else "comment"


def flags_to_hide() -> int:
    return int(get_setting("moderation")["flags_to_hide"])


def flag(target: Target, *, reporter: User, reason: str) -> bool:
    """Flag a post or comment. False if this reader's flag on it is already open. Hides the
    item once enough distinct readers flag it (counted under a lock on the item)."""
    author_id = target.author_id
    if author_id == reporter.id:
        raise FlagRefused("You cannot flag what you wrote.")
    column = _column(target)
    inserted = db.session.execute(
        insert(Flag)
        .values(
            **{column.key: target.id},
            reporter_id=reporter.id,
            reason=reason.strip()[:500],
        )
        .on_conflict_do_nothing()
        .returning(Flag.id)
    ).scalar()
    if inserted is None:
        return False
    # Row lock on the item: two readers flagging at once both see the other's flag.
    model = type(target)
    db.session.execute(select(model.id).where(model.id == target.id).with_for_update())
    db.session.refresh(target, attribute_names=["hidden_at"])
    readers = db.session.scalar(
        select(func.count(func.distinct(Flag.reporter_id))).where(
            column == target.id, Flag.resolved_at.is_(None)
        )
    )
    if target.hidden_at is None and (readers or 0) >= flags_to_hide():
        target.hidden_at = utcnow()
        _count_in_tags(target, -1)
    emit(
        "content.flagged",
        aggregate_type=_kind(target),
        aggregate_id=target.id,
        data={"reporter_id": str(reporter.id), "hidden": target.hidden_at is not None},
    )
    db.session.flush()
    return True


@dataclass
class QueueItem:
    kind: str  # post, comment, user (a person) or message (blog/flags/reports.py)
    target: Any
    flags: list[Flag] = field(default_factory=list)
    # A reported message's neighbours in its conversation, oldest first, itself included.
    context: list[Any] = field(default_factory=list)

    @property
    def first_flagged(self) -> datetime:
        return min(f.created_at for f in self.flags)


def open_queue(limit: int = 50) -> list[QueueItem]:
    """Items with open flags, oldest first, with their flags and context (one statement each
    for the flags, their posts and their comments).

    The `limit` items first flagged longest ago, then every open flag on them: not the oldest
    10 x limit flags, which at a backlog of 500 flags loaded 500 posts for a page of 50."""
    targets = (Flag.post_id, Flag.comment_id, Flag.user_id, Flag.message_id)
    oldest = (
        select(*targets)
        .where(Flag.resolved_at.is_(None))
        .group_by(*targets)
        .order_by(func.min(Flag.created_at), *targets)
        .limit(limit)
        .subquery()
    )
    flags = list(
        db.session.scalars(
            select(Flag)
            .join(
                oldest,
                (Flag.post_id.is_not_distinct_from(oldest.c.post_id))
                & (Flag.comment_id.is_not_distinct_from(oldest.c.comment_id))
                & (Flag.user_id.is_not_distinct_from(oldest.c.user_id))
                & (Flag.message_id.is_not_distinct_from(oldest.c.message_id)),
            )
            .where(Flag.resolved_at.is_(None))
            .options(joinedload(Flag.reporter))
            .order_by(Flag.created_at)
        )
    )
    post_ids = {f.post_id for f in flags if f.post_id}
    comment_ids = {f.comment_id for f in flags if f.comment_id}
    posts = {
        p.id: p
        for p in db.session.scalars(
            select(Post)
            .where(Post.id.in_(post_ids))
            .options(joinedload(Post.author), undefer(Post.content_text))
        )
    }
    comments = {
        c.id: c
        for c in db.session.scalars(
            select(Comment).where(Comment.id.in_(comment_ids)).options(joinedload(Comment.author))
        )
    }
    # reports: people and chat messages, each kind in one statement only when there is one.
    from blog.flags import reports

    user_ids = {f.user_id for f in flags if f.user_id}
    message_ids = {f.message_id for f in flags if f.message_id}
    people = (
        {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
        if user_ids
        else {}
    )
    around = reports.neighbours(message_ids)
    messages = {m.id: m for context in around.values() for m in context if m.id in message_ids}
    items: dict[tuple[str, uuid.UUID], QueueItem] = {}
    for f in flags:
        if f.user_id and f.user_id in people:
            key = ("user", f.user_id)
            items.setdefault(key, QueueItem("user", people[f.user_id])).flags.append(f)
            continue
        if f.message_id and f.message_id in messages:
            key = ("message", f.message_id)
            item = QueueItem("message", messages[f.message_id], context=around[f.message_id])
            items.setdefault(key, item).flags.append(f)
            continue
        if f.post_id and f.post_id in posts:
            key = ("post", f.post_id)
            items.setdefault(key, QueueItem("post", posts[f.post_id])).flags.append(f)
        elif f.comment_id and f.comment_id in comments:
            key = ("comment", f.comment_id)
            items.setdefault(key, QueueItem("comment", comments[f.comment_id])).flags.append(f)
    return sorted(items.values(), key=lambda i: i.first_flagged)[:limit]


def get_target(kind: str, target_id: uuid.UUID, *, lock: bool = False) -> Target | None:
    if kind == "post":
        post_query = select(Post).where(Post.id == target_id)
        return db.session.scalar(post_query.with_for_update() if lock else post_query)
    comment_query = select(Comment).where(Comment.id == target_id)
    return db.session.scalar(comment_query.with_for_update() if lock else comment_query)


def decide(target: Target, decision: str, *, actor: User, ip: str | None = None) -> int:
    """Resolve every open flag on the item. agreed: a post is archived, a comment removed
    (with the readers' reasons); disagreed and ignored: the item is shown again. Audited.
    Returns how many flags were resolved."""
    if decision not in ("agreed", "disagreed", "ignored"):
        raise FlagRefused("Choose agree, disagree or ignore.")
    column = _column(target)
    reasons = list(
        db.session.scalars(
            select(Flag.reason).where(column == target.id, Flag.resolved_at.is_(None))
        )
    )
    if not reasons:
        raise FlagRefused("There are no open flags on this item any more.")
    now = utcnow()
    count = db.session.execute(
        update(Flag)
        .where(column == target.id, Flag.resolved_at.is_(None))
        .values(resolved_at=now, resolution=decision, resolved_by_id=actor.id)
    ).rowcount  # type: ignore[attr-defined]
    was_hidden = target.hidden_at is not None
    target.hidden_at = None
    if was_hidden:
        _count_in_tags(target, +1)
    if decision == "agreed":
        summary = "; ".join(dict.fromkeys(r.strip() for r in reasons))[:480]
        if isinstance(target, Comment):
            if target.removed_at is None:
                comment_services.remove_comment(
                    target, actor=actor, reason=f"Flagged: {summary}", ip=ip
                )
        elif target.is_published:
            from blog.posts import services as post_services

            post_services.archive_post(target, actor=actor, ip=ip)
    record_audit(
        actor_id=actor.id,
        action=f"flags.{decision}",
        entity_type=_kind(target),
        entity_id=target.id,
        old={"open_flags": count, "hidden": was_hidden},
        new={"decision": decision},
        ip=ip,
    )
    db.session.flush()
    return int(count)


def _count_in_tags(target: Target, delta: int) -> None:
    """A published post hidden (-1) or shown again (+1) leaves or rejoins its tags' counts."""
    if isinstance(target, Comment) or not target.is_published:
        return
    from blog.posts import services as post_services

    post_services.count_post_tags(target.tags, delta)
