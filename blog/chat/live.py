"""Chat over the live channel: what goes out to tabs, and what tabs send in.

Out (after commit, from any process): a new message is rendered once for its sender and once
for everyone else, and published on the user channels of the conversation's participants as
they are at that moment (blog.core.live.publish_many): every open tab of every participant, on
every web process, appends it to the conversation if it shows it. Then each participant's
unread counts (the navigation badge, the conversation's count in the chat list).

In (a tab's JSON over its socket, handled in the socket's thread; blog.core.live.dispatch):
`chat.subscribe` (the page opened a conversation: membership is checked), `chat.send`,
`chat.typing` (not stored; throttled) and `chat.read`. Each re-checks membership in the
database, so a removed member can do nothing more, and answers a non-participant with silence.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from blog.auth.models import User
from blog.chat.models import Conversation, ConversationParticipant, Message
from blog.core.live import LiveSocket, on_client_message, publish_many
from blog.extensions import db

log = logging.getLogger(__name__)

TYPING_EVERY_SECONDS = 2.0


def _template(name: str) -> Any:
    return current_app.jinja_env.get_template(name)


def render_message(message: Message, *, mine: bool, oob: bool) -> str:
    from blog.chat.views import message_context

    return _template("chat/_live_message.html").render(
        **message_context(message), mine=mine, oob=oob
    )


def publish_message(message_id: uuid.UUID) -> int:
    """Send a committed message to its participants' open tabs, then their unread counts."""
    with Session(db.engine) as session:
        message = session.scalar(
            select(Message).where(Message.id == message_id).options(joinedload(Message.sender))
        )
        if message is None:
            return 0
        recipients = list(
            session.scalars(
                select(ConversationParticipant.user_id).where(
                    ConversationParticipant.conversation_id == message.conversation_id
                )
            )
        )
        mine = render_message(message, mine=True, oob=True)
        theirs = render_message(message, mine=False, oob=True)
        sent = publish_many(
            (user_id, mine if user_id == message.sender_id else theirs) for user_id in recipients
        )
        others = [u for u in recipients if u != message.sender_id]
        publish_unread(session, others, message.conversation_id)
    return sent


def publish_unread(session: Session, user_ids: list[uuid.UUID], conversation_id: uuid.UUID) -> int:
    """Each user's navigation count and this conversation's count in their chat list."""
    from blog.chat.services import BADGE_CAP, _unread_condition

    if not user_ids:
        return 0
    p = ConversationParticipant
    in_this = func.count(Message.id).filter(Message.conversation_id == conversation_id)
    rows = session.execute(
        select(p.user_id, func.count(Message.id), in_this)
        .join(Message, _unread_condition(p))
        .where(p.user_id.in_(user_ids))
        .group_by(p.user_id)
    ).all()
    counts = {user_id: (int(total), int(here)) for user_id, total, here in rows}
    template = _template("chat/_live_unread.html")
    rendered: dict[tuple[int, int], str] = {}

    def html_for(pair: tuple[int, int]) -> str:
        if pair not in rendered:
            rendered[pair] = template.render(
                count=pair[0], cap=BADGE_CAP, here=pair[1], conversation_id=conversation_id
            )
        return rendered[pair]

    return publish_many((u, html_for(counts.get(u, (0, 0)))) for u in user_ids)


def publish_removed(conversation_id: uuid.UUID, user_ids: list[uuid.UUID]) -> int:
    """Tell the tabs of people who left or were removed that the conversation is closed."""
    html = _template("chat/_live_removed.html").render(conversation_id=conversation_id)
    return publish_many((u, html) for u in user_ids)


def _error(conversation_id: uuid.UUID, text: str, body: str | None = None) -> str:
    return _template("chat/_live_error.html").render(
        conversation_id=conversation_id, error=text, body=body
    )


# --------------------------------------------------------------------------- from the tabs


def _membership(
    live: LiveSocket, data: dict[str, Any]
) -> tuple[Conversation, ConversationParticipant] | None:
    try:
        conversation_id = uuid.UUID(str(data.get("conversation", "")))
    except ValueError:
        return None
    row = db.session.execute(
        select(Conversation, ConversationParticipant)
        .join(ConversationParticipant, ConversationParticipant.conversation_id == Conversation.id)
        .where(Conversation.id == conversation_id, ConversationParticipant.user_id == live.user_id)
    ).first()
    return None if row is None else (row[0], row[1])


@on_client_message("chat.subscribe")
def subscribe(live: LiveSocket, data: dict[str, Any]) -> None:
    """The tab shows a conversation: remember it if (and only if) this user participates."""
    found = _membership(live, data)
    if found is None:
        return  # nothing on the socket for a conversation that is not yours
    live.topics.add(str(found[0].id))


@on_client_message("chat.send")
def send(live: LiveSocket, data: dict[str, Any]) -> None:
    from blog.chat.services import ChatRefused, send_message

    found = _membership(live, data)
    if found is None:
        live.topics.discard(str(data.get("conversation", "")))
        return
    conversation, _me = found
    sender = db.session.get(User, live.user_id)
    if sender is None:
        return
    body = data.get("body")
    body = body if isinstance(body, str) else ""
    try:
        send_message(conversation, sender, body)
        db.session.commit()
    except ChatRefused as refused:
        db.session.rollback()
        live.send(_error(conversation.id, str(refused), body))


@on_client_message("chat.typing")
def typing(live: LiveSocket, data: dict[str, Any]) -> None:
    now = time.monotonic()
    if now - live.state.get("typing_at", 0.0) < TYPING_EVERY_SECONDS:
        return
    live.state["typing_at"] = now
    found = _membership(live, data)
    if found is None:
        return
    conversation, _me = found
    user = db.session.get(User, live.user_id)
    others = [
        u
        for u in db.session.scalars(
            select(ConversationParticipant.user_id).where(
                ConversationParticipant.conversation_id == conversation.id
            )
        )
        if u != live.user_id
    ]
    html = _template("chat/_live_typing.html").render(
        conversation_id=conversation.id, user_name=user.user_name if user else "Someone"
    )
    publish_many((u, html) for u in others)


@on_client_message("chat.read")
def read(live: LiveSocket, data: dict[str, Any]) -> None:
    from blog.chat.services import mark_read

    found = _membership(live, data)
    if found is None:
        return
    conversation, _me = found
    mark_read(conversation.id, live.user_id)
    db.session.commit()
    with Session(db.engine) as session:
        publish_unread(session, [live.user_id], conversation.id)
