"""message.sent: tell the participants who are away (no open tab anywhere); message.removed:
put "Removed by a moderator." in place of the message in every open tab.

In-app and by email as each one's preferences say (kind `chat_message`), and at most once per
conversation per quiet period (the `chat` setting's `quiet_minutes`): a busy conversation
sends one notice, not one per message. Someone with the site open sees the message live and
the chat count in the navigation instead.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from blog.auth.models import User
from blog.chat.models import Conversation, ConversationParticipant, Message
from blog.chat.services import display_name
from blog.core.db import utcnow
from blog.core.live import online
from blog.core.settings import get_setting
from blog.extensions import db
from blog.notifications.models import Notification
from blog.notifications.services import Notice, notify_users, site_path
from blog.outbox.registry import Message as EventMessage
from blog.outbox.registry import handles


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


@handles("message.sent", queue="notifications")
def notify_away_participants(event: EventMessage) -> None:
    message = db.session.get(Message, _uuid(event["data"].get("message_id")))
    if message is None:
        return
    conversation = db.session.get(Conversation, message.conversation_id)
    if conversation is None:
        return
    recipients = [
        user_id
        for user_id in db.session.scalars(
            select(ConversationParticipant.user_id).where(
                ConversationParticipant.conversation_id == conversation.id
            )
        )
        if user_id != message.sender_id
    ]
    if not recipients:
        return
    here = online(recipients)
    away = [u for u in recipients if str(u) not in here]
    if not away:
        return
    link = site_path("chat.show", conversation_id=conversation.id)
    quiet = int(get_setting("chat").get("quiet_minutes", 15))
    if quiet > 0:
        # Already told about this conversation within the quiet period (by any channel).
        told = set(
            db.session.scalars(
                select(Notification.user_id).where(
                    Notification.user_id.in_(away),
                    Notification.kind == "chat_message",
                    Notification.link == link,
                    Notification.created_at > utcnow() - timedelta(minutes=quiet),
                )
            )
        )
        away = [u for u in away if u not in told]
    if not away:
        return
    sender = db.session.get(User, message.sender_id) if message.sender_id else None
    who = display_name(sender)
    where = f"in “{conversation.title}”" if conversation.title else "to you"
    text = message.body if message.kind == "text" else f"[{message.kind}] {message.body}".strip()
    notify_users(
        away,
        Notice(
            kind="chat_message",
            title=f"{who} sent a message {where}",
            message=text[:300],
            link=link,
            actor_id=message.sender_id,
        ),
        event_id=uuid.UUID(event["id"]),
    )


@handles("message.removed", queue="notifications")
def show_removal_live(event: EventMessage) -> None:
    """reports (blog/flags/reports.py): a message a moderator removed leaves the screens of
    those in the conversation at once, not at their next page load. Live only: a tab that
    missed it (closed, Redis down) shows the removal when the page loads again."""
    from blog.chat.live import publish_message_removed

    message = db.session.get(Message, _uuid(event["data"].get("message_id")))
    if message is None or message.removed_at is None:
        return
    members = list(
        db.session.scalars(
            select(ConversationParticipant.user_id).where(
                ConversationParticipant.conversation_id == message.conversation_id
            )
        )
    )
    publish_message_removed(message, members)
