"""Reports of people and chat messages: the flags that name a user or a message.

A person is reported from their profile; a chat message from its menu, by a member of its
conversation only. Nothing is hidden by reports alone. A message report is the only way staff
see a private conversation: the queue shows the reported message with the few around it, and
nothing else of the conversation. Decisions: agree (a message is removed, a person suspended
until further notice), disagree or ignore (the reports are closed). Audited as for posts.
Services add and flush; the view commits.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort
from sqlalchemy import select, true, tuple_, union_all, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import aliased, joinedload

from blog.audit.services import record_audit
from blog.auth.models import User
from blog.chat.models import ConversationParticipant, Message
from blog.core.db import utcnow
from blog.extensions import db
from blog.flags.models import Flag
from blog.outbox.events import emit

NEIGHBOURS = 3  # messages shown before and after a reported one
SHARING_NOTICE = (
    "Reporting shares this message and the few around it with the moderators; it is the only "
    "way staff see a private conversation."
)


class ReportRefused(Exception):
    """This report cannot be made or decided; the message says why."""


def access_message_to_report(user: Any, message_id: uuid.UUID) -> Message:
    """The message if `user` is a member of its conversation; else 404 (one statement)."""
    if not getattr(user, "is_authenticated", False):
        abort(404)
    message = db.session.scalar(
        select(Message)
        .join(
            ConversationParticipant,
            (ConversationParticipant.conversation_id == Message.conversation_id)
            & (ConversationParticipant.user_id == user.id),
        )
        .where(Message.id == message_id)
        .options(joinedload(Message.sender))
    )
    if message is None:
        abort(404)
    return message


def _report(column: Any, target_id: uuid.UUID, kind: str, reporter: User, reason: str) -> bool:
    inserted = db.session.execute(
        insert(Flag)
        .values(**{column.key: target_id}, reporter_id=reporter.id, reason=reason.strip()[:500])
        .on_conflict_do_nothing()
        .returning(Flag.id)
    ).scalar()
    if inserted is None:
        return False
    emit(
        "content.flagged",
        aggregate_type=kind,
        aggregate_id=target_id,
        data={"reporter_id": str(reporter.id), "hidden": False},
    )
    db.session.flush()
    return True


def report_person(person: User, *, reporter: User, reason: str) -> bool:
    """Report a person to the moderators. False if this reporter's report is already open."""
    if person.id == reporter.id:
        raise ReportRefused("You cannot report yourself.")
    return _report(Flag.user_id, person.id, "user", reporter, reason)


def report_message(message: Message, *, reporter: User, reason: str) -> bool:
    """Report a chat message (the caller checked membership: access_message_to_report).
    False if this reporter's report on it is already open."""
    if message.sender_id == reporter.id:
        raise ReportRefused("You cannot report your own message.")
    if message.removed_at is not None:
        raise ReportRefused("A moderator has already removed this message.")
    return _report(Flag.message_id, message.id, "message", reporter, reason)


def neighbours(message_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[Message]]:
    """Each reported message with up to NEIGHBOURS before and after it in its conversation,
    oldest first: one statement for any number of reports (two index walks per message)."""
    if not message_ids:
        return {}
    target = (
        select(Message.id, Message.conversation_id, Message.created_at)
        .where(Message.id.in_(message_ids))
        .subquery("target")
    )
    m = aliased(Message)
    key, at = tuple_(m.created_at, m.id), tuple_(target.c.created_at, target.c.id)
    before = (
        select(m.id)
        .where(m.conversation_id == target.c.conversation_id, key < at)
        .order_by(m.created_at.desc(), m.id.desc())
        .limit(NEIGHBOURS)
        .lateral("before")
    )
    after = (
        select(m.id)
        .where(m.conversation_id == target.c.conversation_id, key >= at)
        .order_by(m.created_at, m.id)
        .limit(NEIGHBOURS + 1)
        .lateral("after")
    )
    pairs = union_all(
        select(target.c.id.label("target_id"), before.c.id.label("message_id")).join(
            before, true()
        ),
        select(target.c.id.label("target_id"), after.c.id.label("message_id")).join(after, true()),
    ).subquery("pairs")
    rows = db.session.execute(
        select(pairs.c.target_id, Message)
        .join(Message, Message.id == pairs.c.message_id)
        .options(joinedload(Message.sender))
        .order_by(pairs.c.target_id, Message.created_at, Message.id)
    ).all()
    found: dict[uuid.UUID, list[Message]] = {}
    for target_id, message in rows:
        found.setdefault(target_id, []).append(message)
    return found


def get_report_target(kind: str, target_id: uuid.UUID, *, lock: bool = False) -> Any:
    model: Any = User if kind == "user" else Message
    query = select(model).where(model.id == target_id)
    return db.session.scalar(query.with_for_update() if lock else query)


def decide_report(
    target: User | Message, decision: str, *, actor: User, ip: str | None = None
) -> int:
    """Resolve every open report on the person or message. agreed: the message is removed,
    the person suspended until further notice; disagreed, ignored: closed. Audited."""
    from blog.auth import services as auth_services
    from blog.auth import staff

    if decision not in ("agreed", "disagreed", "ignored"):
        raise ReportRefused("Choose agree, disagree or ignore.")
    is_user = isinstance(target, User)
    column = Flag.user_id if is_user else Flag.message_id
    kind = "user" if is_user else "message"
    reasons = list(
        db.session.scalars(
            select(Flag.reason).where(column == target.id, Flag.resolved_at.is_(None))
        )
    )
    if not reasons:
        raise ReportRefused("There are no open reports on this any more.")
    summary = "; ".join(dict.fromkeys(r.strip() for r in reasons))[:480]
    old: dict[str, Any] = {"open_flags": len(reasons)}
    if decision == "agreed" and isinstance(target, User):
        try:
            staff.check_may_suspend(actor, target)
        except staff.StaffActionRefused as exc:
            raise ReportRefused(str(exc)) from exc
        old["status"] = target.status
        if target.status != "suspended":
            auth_services.suspend_user(target, actor=actor, reason=f"Reported: {summary}", ip=ip)
    elif decision == "agreed" and isinstance(target, Message):
        old["removed"] = target.removed_at is not None
        if target.removed_at is None:
            target.removed_at = utcnow()
            target.removed_by_id = actor.id
            emit(
                "message.removed",
                aggregate_type="conversation",
                aggregate_id=target.conversation_id,
                data={"message_id": str(target.id), "actor_id": str(actor.id)},
            )
    count = db.session.execute(
        update(Flag)
        .where(column == target.id, Flag.resolved_at.is_(None))
        .values(resolved_at=utcnow(), resolution=decision, resolved_by_id=actor.id)
    ).rowcount  # type: ignore[attr-defined]
    record_audit(
        actor_id=actor.id,
        action=f"flags.{decision}",
        entity_type=kind,
        entity_id=target.id,
        old=old,
        new={"decision": decision},
        ip=ip,
    )
    db.session.flush()
    return int(count)
