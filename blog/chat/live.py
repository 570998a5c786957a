"""Chat over the live channel: what goes out to tabs, and what tabs send in.

Out: a new message is rendered once for its sender and once for everyone else, in the
sender's transaction with the list of participants, and published after commit
(blog.core.live.publish_many: one PUBLISH for all who get the same fragment): every open tab of
every participant, on every web process, appends it to the conversation if it shows it. Then,
from a thread of this process and at most every UNREAD_EVERY_SECONDS per conversation, each
participant's unread counts (the navigation badge, the conversation's count in the chat list).

In (a tab's JSON over its socket, handled in the socket's thread; blog.core.live.dispatch):
`chat.subscribe` (the page opened a conversation: membership is checked), `chat.send`,
`chat.typing` (not stored; throttled) and `chat.read`. Each re-checks membership in the
database, so a removed member can do nothing more, and answers a non-participant with silence.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from blog.auth.models import User
from blog.chat.models import ConversationParticipant, Message
from blog.core.live import LiveSocket, on_client_message, online, publish_many
from blog.extensions import db

log = logging.getLogger(__name__)

TYPING_EVERY_SECONDS = 2.0
# Unread counts go out at most this often per conversation (UnreadRefresher).
UNREAD_EVERY_SECONDS = 1.0
_UNREAD_KEY = "blog_chat_unread"


def _template(name: str) -> Any:
    return current_app.jinja_env.get_template(name)


def render_message(message: Message, *, mine: bool, oob: bool) -> str:
    from blog.chat.views import message_context

    return _template("chat/_live_message.html").render(
        **message_context(message), mine=mine, oob=oob
    )


def prepare_message_publish(message: Message, recipients: list[str]) -> Callable[[], int]:
    """In the sender's transaction, after flush: the fragments, rendered now for `recipients`
    (the participants' ids, as text), so that after commit only one Redis round trip is left
    (no second pooled connection, no re-read of the message). Returns what to run after
    commit."""
    mine = render_message(message, mine=True, oob=True)
    theirs = render_message(message, mine=False, oob=True)
    sender_id, conversation_id = str(message.sender_id), message.conversation_id

    def publish() -> int:
        sent = publish_many((u, mine if u == sender_id else theirs) for u in recipients)
        others = [u for u in recipients if u != sender_id]  # as text, as they came
        unread_refresher().schedule(conversation_id, others)
        return sent

    return publish


class UnreadRefresher:
    """This process's refreshes of unread counts after new messages, off the sender's thread.

    The counts are a query over every participant (publish_unread) and a frame to every tab:
    on the sending socket's thread, per message, that was 20-75 ms for 200 participants in
    benchmarks/chat_fanout.py before the next message could be taken. Here one daemon thread per
    process runs it, at most once per UNREAD_EVERY_SECONDS per conversation: messages that
    arrive meanwhile fold into the next refresh, which reads the counts as they are then, so the
    last one is always exact. Once a second rather than twice: each refresh is a frame to every
    participant's tabs that the listener thread forwards between messages (at 0.5 s, 20% more
    frames in the benchmark; at 1 s, 10%). A refresh still pending when the process stops is
    lost; the next page load shows the counts.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._cond = threading.Condition()
        self._pending: dict[uuid.UUID, set[str]] = {}  # conversation -> user ids, as text
        self._last: dict[uuid.UUID, float] = {}
        self._thread: threading.Thread | None = None

    def schedule(self, conversation_id: uuid.UUID, user_ids: list[str]) -> None:
        if not user_ids:
            return
        with self._cond:
            self._pending.setdefault(conversation_id, set()).update(user_ids)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="chat-unread", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _next(self) -> tuple[uuid.UUID, float] | None:
        """The pending conversation due first, and when (call with the lock held)."""
        due: tuple[uuid.UUID, float] | None = None
        for conversation_id in self._pending:
            at = self._last.get(conversation_id, -math.inf) + UNREAD_EVERY_SECONDS
            if due is None or at < due[1]:
                due = (conversation_id, at)
        return due

    def _take(self) -> tuple[uuid.UUID, set[str]]:
        with self._cond:
            while True:
                due = self._next()
                now = time.monotonic()
                if due is not None and due[1] <= now:
                    break
                self._cond.wait(None if due is None else due[1] - now)
            conversation_id = due[0]
            self._last[conversation_id] = now
            if len(self._last) > 1000:  # forget conversations that are quiet again
                quiet = now - UNREAD_EVERY_SECONDS
                self._last = {k: at for k, at in self._last.items() if at > quiet}
            return conversation_id, self._pending.pop(conversation_id)

    def _run(self) -> None:
        while True:
            conversation_id, user_ids = self._take()
            try:
                with self.app.app_context(), Session(db.engine) as session:
                    publish_unread(session, sorted(user_ids), conversation_id)
            except Exception:  # never let the thread die; the page shows the truth
                log.exception("chat: unread counts not refreshed")


def unread_refresher() -> UnreadRefresher:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    refresher = app.extensions.get(_UNREAD_KEY)
    if refresher is None:
        refresher = app.extensions.setdefault(_UNREAD_KEY, UnreadRefresher(app))
    return refresher


# Each participant's navigation count and this conversation's count, each up to BADGE_CAP + 1:
# a bounded walk of the history index per participant (uncapped, the grouped count of a
# 200-person group grew with every unread message, 20-75 ms twice a second in
# benchmarks/chat_fanout.py, on the database the messages are sent through).
_UNREAD_SQL = text(
    """
    SELECT p.user_id::text,
      (SELECT count(*) FROM (
         SELECT 1 FROM conversation_participants mine
         JOIN messages m ON m.conversation_id = mine.conversation_id
          AND m.created_at > coalesce(mine.last_read_at, mine.joined_at)
          AND m.sender_id IS DISTINCT FROM mine.user_id
         WHERE mine.user_id = p.user_id LIMIT :cap) total),
      (SELECT count(*) FROM (
         SELECT 1 FROM messages m
         WHERE m.conversation_id = p.conversation_id
          AND m.created_at > coalesce(p.last_read_at, p.joined_at)
          AND m.sender_id IS DISTINCT FROM p.user_id LIMIT :cap) here)
    FROM conversation_participants p
    WHERE p.conversation_id = :conversation AND p.user_id = ANY(CAST(:users AS uuid[]))
    """
)


def publish_unread(
    session: Session, user_ids: list[uuid.UUID] | list[str], conversation_id: uuid.UUID
) -> int:
    """Each user's navigation count and this conversation's count in their chat list."""
    from blog.chat.services import BADGE_CAP

    if not user_ids:
        return 0
    users = [str(u) for u in user_ids]
    rows = session.execute(
        _UNREAD_SQL, {"cap": BADGE_CAP + 1, "conversation": conversation_id, "users": users}
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

    return publish_many((u, html_for(counts.get(u, (0, 0)))) for u in users)


def prepare_joined_publish(
    conversation_id: uuid.UUID, user_ids: list[uuid.UUID]
) -> Callable[[], int]:
    """In the transaction that added `user_ids` to the conversation, after flush: each one's
    row of their chat list, rendered now (the same fragment for everyone who sees the same
    row: one PUBLISH for a group's members). Returns what to run after commit."""
    from blog.chat.services import joined_summaries
    from blog.notifications.services import site_path

    template = _template("chat/_live_joined.html")
    rows = joined_summaries(conversation_id, user_ids)
    url = site_path("chat.show", conversation_id=conversation_id)  # no request needed

    def avatar_url(summary: Any) -> str | None:
        other = summary.other
        if other is None or other.deleted_at is not None or not other.avatar_file_id:
            return None
        return site_path("uploads.thumbnail", file_id=other.avatar_file_id)

    messages = [
        (u, template.render(c=s, conversation_url=url, avatar_url=avatar_url(s)))
        for u, s in rows.items()
    ]

    def publish() -> int:
        return publish_many(messages)

    return publish


def publish_message_removed(message: Message, recipients: list[uuid.UUID]) -> int:
    """A message a moderator removed, in place, in the tabs of everyone in its conversation
    ("Removed by a moderator."): the sender's own copy and everyone else's. After commit."""
    from blog.chat.views import message_context

    template, context = _template("chat/_message.html"), message_context(message)
    mine = template.render(**context, mine=True, replace=True)
    theirs = template.render(**context, mine=False, replace=True)
    return publish_many((u, mine if u == message.sender_id else theirs) for u in recipients)


def publish_removed(conversation_id: uuid.UUID, user_ids: list[uuid.UUID]) -> int:
    """Tell the tabs of people who left or were removed that the conversation is closed."""
    html = _template("chat/_live_removed.html").render(conversation_id=conversation_id)
    return publish_many((u, html) for u in user_ids)


def _error(conversation_id: uuid.UUID, text: str, body: str | None = None) -> str:
    return _template("chat/_live_error.html").render(
        conversation_id=conversation_id, error=text, body=body
    )


# --------------------------------------------------------------------------- from the tabs


def _membership(live: LiveSocket, data: dict[str, Any]) -> tuple[uuid.UUID, User] | None:
    """The conversation the tab names and the socket's user, if (and only if) that user takes
    part in it now. One round trip, one object (the user: its sender); the caller keeps it (the
    session holds objects weakly: dropped here, a db.session.get(User, ...) would read it
    again)."""
    try:
        conversation_id = uuid.UUID(str(data.get("conversation", "")))
    except ValueError:
        return None
    row = db.session.execute(
        select(ConversationParticipant.conversation_id, User)
        .join(User, User.id == ConversationParticipant.user_id)
        .where(
            ConversationParticipant.conversation_id == conversation_id,
            ConversationParticipant.user_id == live.user_id,
        )
    ).first()
    return None if row is None else (row[0], row[1])


@on_client_message("chat.subscribe")
def subscribe(live: LiveSocket, data: dict[str, Any]) -> None:
    """The tab shows a conversation: remember it if (and only if) this user participates."""
    found = _membership(live, data)
    if found is None:
        return  # nothing on the socket for a conversation that is not yours
    live.topics.add(str(found[0]))
    # Someone opening the conversation is news for the others' open pages of it: their
    # presence lists show them here now, not at their next 30 s refresh. This socket's presence
    # claim is made (blog.core.live.LiveHub.register), so they count as online.
    html, people = render_presence(found[0])
    publish_many((u, html) for u in people)


def render_presence(conversation_id: uuid.UUID) -> tuple[str, list[uuid.UUID]]:
    """The conversation's presence list (out of band), and who takes part in it."""
    from blog.chat.models import Conversation
    from blog.chat.services import members

    conversation = db.session.get(Conversation, conversation_id)
    participants = members(conversation_id)
    html = _template("chat/_presence.html").render(
        conversation=conversation,
        participants=participants,
        online=online(p.user_id for p in participants),
        oob=True,
    )
    return html, [p.user_id for p in participants]


@on_client_message("chat.send")
def send(live: LiveSocket, data: dict[str, Any]) -> None:
    from blog.chat.services import ChatRefused, send_message

    found = _membership(live, data)
    if found is None:
        live.topics.discard(str(data.get("conversation", "")))
        return
    conversation_id, sender = found
    body = data.get("body")
    body = body if isinstance(body, str) else ""
    try:
        send_message(conversation_id, sender, body)
        db.session.commit()
    except ChatRefused as refused:
        db.session.rollback()
        live.send(_error(conversation_id, str(refused), body))


@on_client_message("chat.typing")
def typing(live: LiveSocket, data: dict[str, Any]) -> None:
    now = time.monotonic()
    if now - live.state.get("typing_at", 0.0) < TYPING_EVERY_SECONDS:
        return
    live.state["typing_at"] = now
    found = _membership(live, data)
    if found is None:
        return
    conversation_id, user = found
    others = [
        u
        for u in db.session.scalars(
            select(ConversationParticipant.user_id).where(
                ConversationParticipant.conversation_id == conversation_id
            )
        )
        if u != live.user_id
    ]
    html = _template("chat/_live_typing.html").render(
        conversation_id=conversation_id, user_name=user.user_name
    )
    publish_many((u, html) for u in others)


@on_client_message("chat.read")
def read(live: LiveSocket, data: dict[str, Any]) -> None:
    from blog.chat.services import mark_read

    found = _membership(live, data)
    if found is None:
        return
    conversation_id, _user = found
    mark_read(conversation_id, live.user_id)
    db.session.commit()
    with Session(db.engine) as session:
        publish_unread(session, [live.user_id], conversation_id)
