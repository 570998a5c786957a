"""Pictures and files in chat: sending one (`send_attachment`) and who may fetch it
(`@file_rule("chat")`).

Kept apart from the rest of blog/chat so the conversation code and this can change
independently. An attachment is an ordinary upload of purpose `chat` (same limits, type checks,
re-encoding, quota and storage as every other), then a message of kind `image` or `file` that
refers to it. The upload is its owner's alone (blog/uploads/access.py) until it is sent: then
the participants of the conversation whose message carries it may see it too.
"""

from __future__ import annotations

import uuid
from typing import Any, BinaryIO

from sqlalchemy import exists, select

from blog.auth.models import User
from blog.chat import services as chat_services
from blog.chat.models import Conversation, ConversationParticipant, Message
from blog.extensions import db
from blog.uploads import services as upload_services
from blog.uploads.access import file_rule
from blog.uploads.models import FileMetadata
from blog.uploads.storage import get_storage


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


def send_attachment(
    conversation: Conversation,
    sender: User,
    stream: BinaryIO,
    *,
    client_name: str | None,
    caption: str = "",
) -> Message:
    """Upload a file (purpose `chat`, through the same checks as every upload) and send it as
    an image message (a PNG, JPEG, GIF or WebP) or a file message. Raises UploadRefused, or
    NotSent when the message is refused after the file was stored.

    The caller has checked that `sender` participates."""
    row = upload_services.upload_file(
        sender, stream, client_name=client_name, purpose="chat", storage=get_storage()
    )
    kind = "image" if row.is_image else "file"
    try:
        return chat_services.send_message(
            conversation.id, sender, caption, kind=kind, file_id=row.id
        )
    except chat_services.ChatRefused as refused:
        raise NotSent(str(refused), row.id, row.checksum_sha256, refused) from refused


class NotSent(chat_services.ChatRefused):
    """The upload was stored but the message refused (too fast, say). After rolling back,
    the caller hands `file_id` and `checksum` to uploads' `forget_upload`, so the blob does not
    stay behind unreferenced."""

    def __init__(
        self,
        message: str,
        file_id: uuid.UUID,
        checksum: str,
        cause: chat_services.ChatRefused,
    ) -> None:
        super().__init__(message)
        self.file_id = file_id
        self.checksum = checksum
        self.rate_limited = isinstance(cause, chat_services.SendRateLimited)
