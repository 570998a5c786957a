"""Pictures and files in chat: who may fetch an attachment (`@file_rule("chat")`).

Kept apart from the rest of blog/chat so the conversation code and this can change
independently. An upload of purpose `chat` is its owner's alone (blog/uploads/access.py) until
it is sent: then the participants of the conversation whose message carries it may see it too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select

from blog.chat.models import ConversationParticipant, Message
from blog.extensions import db
from blog.uploads.access import file_rule
from blog.uploads.models import FileMetadata


@file_rule("chat")
def in_a_conversation_of_the_viewer(file: FileMetadata, viewer: Any) -> bool:
    """A current participant of a conversation with a message that carries this file, sent
    by its uploader. Never public; someone who leaves or is removed loses it at once."""
    if viewer is None:
        return False
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    Message.file_id == file.id,
                    # Only the uploader's own messages publish it to a conversation: a message
                    # cannot make someone else's private upload visible.
                    Message.sender_id == file.uploader_id,
                    ConversationParticipant.conversation_id == Message.conversation_id,
                    ConversationParticipant.user_id == viewer.id,
                )
            )
        )
    )
