"""Who may fetch a chat attachment (blog/chat/attachments.py): the participants of the
conversation whose message carries it; a non-participant, a removed member and anybody not
signed in get 404, like for a file that does not exist."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import delete

from blog.chat.models import Conversation, ConversationParticipant, Message
from blog.extensions import db
from blog.uploads import services
from blog.uploads.storage import get_storage
from tests.conftest import new_client
from tests.uploads.helpers import png, verified_user


@dataclass
class Chat:
    conversation_id: uuid.UUID
    file_id: uuid.UUID
    sender: str  # emails
    member: str
    outsider: str
    member_id: uuid.UUID


def _send_picture(app, sender_id, conversation_id, *, uploader_id=None) -> uuid.UUID:
    """An upload of purpose chat by `uploader_id` (default: the sender), in a message."""
    from blog.auth.models import User

    with app.app_context():
        uploader = db.session.get(User, uploader_id or sender_id)
        row = services.upload_file(
            uploader,
            io.BytesIO(png()),
            client_name="cat.png",
            purpose="chat",
            storage=get_storage(),
            images_only=True,
        )
        db.session.add(
            Message(
                conversation_id=conversation_id, sender_id=sender_id, kind="image", file_id=row.id
            )
        )
        db.session.commit()
        return row.id


@pytest.fixture
def chat(app) -> Chat:
    sender_id, sender, _ = verified_user(app)
    member_id, member, _ = verified_user(app)
    _outsider_id, outsider, _ = verified_user(app)
    with app.app_context():
        conversation = Conversation(kind="group", title="Cats", created_by_id=sender_id)
        db.session.add(conversation)
        db.session.flush()
        for user_id, role in ((sender_id, "owner"), (member_id, "member")):
            db.session.add(
                ConversationParticipant(conversation_id=conversation.id, user_id=user_id, role=role)
            )
        db.session.commit()
        conversation_id = conversation.id
    file_id = _send_picture(app, sender_id, conversation_id)
    return Chat(conversation_id, file_id, sender, member, outsider, member_id)


def _get(app, sign_in, email: str | None, path: str) -> int:
    browser = new_client(app)
    if email is not None:
        sign_in(browser, email)
    return browser.get(path).status_code


@pytest.mark.parametrize("path", ["/files/{id}", "/files/{id}/thumb"])
def test_participants_fetch_a_chat_picture_and_nobody_else(app, sign_in, chat, path):
    url = path.format(id=chat.file_id)

    assert _get(app, sign_in, chat.sender, url) == 200
    assert _get(app, sign_in, chat.member, url) == 200
    assert _get(app, sign_in, chat.outsider, url) == 404
    assert _get(app, sign_in, None, url) == 404


def test_a_chat_attachment_is_private_to_caches(app, sign_in, chat):
    browser = new_client(app)
    sign_in(browser, chat.member)

    response = browser.get(f"/files/{chat.file_id}")

    assert response.headers["Cache-Control"] == "private, no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_removed_member_gets_404(app, sign_in, chat):
    browser = new_client(app)
    sign_in(browser, chat.member)
    assert browser.get(f"/files/{chat.file_id}").status_code == 200

    with app.app_context():
        db.session.execute(
            delete(ConversationParticipant).where(
                ConversationParticipant.conversation_id == chat.conversation_id,
                ConversationParticipant.user_id == chat.member_id,
            )
        )
        db.session.commit()

    assert browser.get(f"/files/{chat.file_id}").status_code == 404


def test_an_upload_not_yet_sent_is_its_owners_alone(app, sign_in, chat):
    from sqlalchemy import select

    from blog.auth.models import User

    with app.app_context():
        sender = db.session.scalars(select(User).where(User.email == chat.sender)).one()
        row = services.upload_file(
            sender,
            io.BytesIO(png((20, 20))),
            client_name="draft.png",
            purpose="chat",
            storage=get_storage(),
        )
        db.session.commit()
        file_id = row.id

    assert _get(app, sign_in, chat.sender, f"/files/{file_id}") == 200
    assert _get(app, sign_in, chat.member, f"/files/{file_id}") == 404


def test_a_message_cannot_share_someone_elses_upload(app, sign_in, chat):
    """A participant who puts the outsider's private upload into a message (as a forged
    request might) does not make it visible to the conversation."""
    from sqlalchemy import select

    from blog.auth.models import User

    with app.app_context():
        outsider_id = db.session.scalar(select(User.id).where(User.email == chat.outsider))
        sender_id = db.session.scalar(select(User.id).where(User.email == chat.sender))
    file_id = _send_picture(app, sender_id, chat.conversation_id, uploader_id=outsider_id)

    assert _get(app, sign_in, chat.member, f"/files/{file_id}") == 404
    assert _get(app, sign_in, chat.outsider, f"/files/{file_id}") == 200  # still the owner's
