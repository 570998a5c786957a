"""access_conversation: the one place that decides who may see or act in a conversation.

Only participants: anyone else gets 404, never 403, so a conversation's existence is private.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from blog.chat.models import Conversation, ConversationParticipant
from blog.extensions import db


def access_conversation(
    user: Any, conversation_id: uuid.UUID, *, lock: bool = False
) -> tuple[Conversation, ConversationParticipant]:
    """The conversation and the user's participation, or 404 (one statement).

    `lock`: membership changes take turns (two owners leaving at once must not leave a group
    without one), so they lock the conversation's row.
    """
    if not user.is_authenticated:
        abort(404)
    query = (
        select(Conversation, ConversationParticipant)
        .join(ConversationParticipant, ConversationParticipant.conversation_id == Conversation.id)
        .where(Conversation.id == conversation_id, ConversationParticipant.user_id == user.id)
    )
    if lock:
        query = query.with_for_update(of=Conversation)
    row = db.session.execute(query).first()
    if row is None:
        abort(404)
    return row[0], row[1]


def access_member(conversation: Conversation, user_id: uuid.UUID) -> ConversationParticipant:
    """Another participant of this conversation, or 404."""
    target = db.session.scalar(
        select(ConversationParticipant)
        .where(
            ConversationParticipant.conversation_id == conversation.id,
            ConversationParticipant.user_id == user_id,
        )
        .options(joinedload(ConversationParticipant.user))
    )
    if target is None:
        abort(404)
    return target
