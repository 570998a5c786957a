"""Shared steps of the chat tests: conversations made through the real pages."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Flask

from blog.extensions import db
from tests.conftest import Client

CONVERSATION = re.compile(r"/chat/([0-9a-f-]{36})")


def conversation_id(response: Any) -> uuid.UUID:
    location = response.headers.get("Location") or response.headers.get("HX-Redirect") or ""
    match = CONVERSATION.search(location)
    assert match, f"not a redirect to a conversation: {response.status_code} {location!r}"
    return uuid.UUID(match.group(1))


def start(client: Client, members: str, title: str = "") -> uuid.UUID:
    response = client.post_form("/chat", {"members": members, "title": title}, csrf_from="/chat")
    assert response.status_code in (302, 303, 204), response.get_data(as_text=True)[:500]
    return conversation_id(response)


def send(client: Client, cid: uuid.UUID, body: str) -> Any:
    return client.post_form(f"/chat/{cid}/messages", {"body": body}, csrf_from=f"/chat/{cid}")


def add_messages(app: Flask, cid: uuid.UUID, sender_id: uuid.UUID, n: int) -> None:
    """n messages a second apart, straight into the table (history tests need many)."""
    from datetime import timedelta

    from blog.chat.models import Message
    from blog.core.db import utcnow

    with app.app_context():
        start_at = utcnow() - timedelta(seconds=n + 10)
        db.session.add_all(
            Message(
                conversation_id=cid,
                sender_id=sender_id,
                body=f"message {i}",
                created_at=start_at + timedelta(seconds=i),
            )
            for i in range(n)
        )
        db.session.commit()
        db.session.remove()
