"""Demo chat for `make run`: a direct conversation between Alice and Bob and a small group
(idempotent: nothing is added once Alice has a conversation)."""

from __future__ import annotations

from sqlalchemy import exists, select

from blog.auth.services import get_user_by_email
from blog.chat.models import ConversationParticipant
from blog.chat.services import create_group, send_message, start_direct
from blog.extensions import db

DIRECT = (
    ("alice@example.com", "Hi Bob! Did you see the new post about htmx?"),
    ("bob@example.com", "I did — I left a comment. The live preview is neat."),
)
GROUP_TITLE = "Site team"
GROUP = (
    ("admin@example.com", "Welcome to the team room. Moderation questions go here."),
    ("moderator@example.com", "Thanks! The flag queue is empty today."),
)


def seed_demo_chat() -> int:
    found = [get_user_by_email(e) for e in (*dict(DIRECT), *dict(GROUP))]
    people = {u.email: u for u in found if u is not None}
    if len(people) < 4:
        return 0
    alice, bob = people["alice@example.com"], people["bob@example.com"]
    admin, moderator = people["admin@example.com"], people["moderator@example.com"]
    if db.session.scalar(select(exists().where(ConversationParticipant.user_id == alice.id))):
        return 0
    sent = 0
    direct = start_direct(alice, bob)
    for email, text in DIRECT:
        send_message(direct.id, people[email], text)
        sent += 1
    group = create_group(admin, GROUP_TITLE, [moderator, alice])
    for email, text in GROUP:
        send_message(group.id, people[email], text)
        sent += 1
    db.session.commit()
    return sent
