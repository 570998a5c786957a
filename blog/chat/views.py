"""Chat pages: the list, a conversation, its members. Every action is a plain form that works
without JavaScript; htmx makes the same forms swap in place, and chat.js sends over the socket
when it is open. Thin: parse, check, call a service, commit, respond."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, abort, flash, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import bindparam, select
from sqlalchemy.exc import SQLAlchemyError

from blog.auth.access import require_user, require_verified
from blog.auth.limits import limit, user_key
from blog.auth.models import User
from blog.auth.sessions import read_with_session, session_extra
from blog.chat import live as _live  # noqa: F401 - registers the socket's chat handlers
from blog.chat import services
from blog.chat.access import access_conversation, access_member
from blog.chat.forms import (
    AddMembersForm,
    ButtonForm,
    MessageForm,
    RenameForm,
    RoleForm,
    StartForm,
    split_names,
)
from blog.chat.models import Conversation, ConversationParticipant, Message
from blog.core.db import utcnow
from blog.core.htmx import is_htmx, keep_flashes, redirect_to
from blog.core.live import online
from blog.core.pagination import encode_cursor
from blog.core.prepared import Prepared
from blog.extensions import db, limiter

bp = Blueprint("chat", __name__, url_prefix="/chat")
log = logging.getLogger(__name__)


def init_chat(app: Flask) -> None:
    from blog.notifications.services import unread_count_query

    app.jinja_env.globals["nav_counts"] = nav_counts
    # Both badges come with the session lookup (its one statement), not with one of their own.
    read_with_session(
        "unread_notifications",
        lambda user, table: unread_count_query(user, table).scalar_subquery(),
    )
    read_with_session(
        "unread_chat",
        lambda user, table: services.unread_total_query(user, table).scalar_subquery(),
    )
    app.jinja_env.filters["chat_text"] = chat_text
    app.jinja_env.filters["chat_sender_name"] = services.display_name
    app.jinja_env.filters["chat_cursor"] = services.cursor_of


def _badge_counts() -> Any:
    """Both badges in one statement (every signed-in page runs it)."""
    from blog.notifications.services import unread_count_query

    user_id = bindparam("user_id", type_=ConversationParticipant.user_id.type)
    return select(
        unread_count_query(user_id).scalar_subquery(),
        services.unread_total_query(user_id).scalar_subquery(),
    )


# Prepared on the server (blog.core.prepared): planning it cost six times running it.
BADGE_COUNTS = Prepared("nav_badge_counts", _badge_counts)


def nav_counts() -> dict[str, int]:
    """The navigation's two badges, unread notifications and unread chat messages: as the
    session lookup read them, or, when the request has written since, in one statement."""
    if not current_user.is_authenticated:
        return {"notifications": 0, "chat": 0}
    notifications, chat = session_extra("unread_notifications"), session_extra("unread_chat")
    if notifications is not None and chat is not None:  # read by the session lookup
        return {"notifications": int(notifications), "chat": int(chat)}
    try:
        row = BADGE_COUNTS.execute({"user_id": current_user.id}).one()
    except SQLAlchemyError as exc:
        # An error page after a failed statement renders the nav too: the badges must not
        # turn it into a bare 500. They are hidden instead.
        log.warning("navigation badges unavailable: %s", exc)
        return {"notifications": 0, "chat": 0}
    return {"notifications": int(row[0] or 0), "chat": int(row[1] or 0)}


# --------------------------------------------------------------------------- rendering

# A link: http(s) up to whitespace or a quote/bracket that usually ends it in prose.
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}"


def chat_text(text: str) -> Markup:
    """A message's text as HTML: escaped, line breaks kept, web links made clickable.

    Only http(s) links, each escaped as an attribute and marked rel="nofollow noopener ugc";
    everything else is text. No Markdown: chat is conversation, not publishing.
    """
    parts: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        url = match.group(0)
        trimmed = url.rstrip(_TRAILING)
        end = match.start() + len(trimmed)
        parts.append(str(escape(text[last : match.start()])))
        parts.append(
            f'<a href="{escape(trimmed)}" rel="nofollow noopener noreferrer ugc" '
            f'target="_blank">{escape(trimmed)}</a>'
        )
        last = end
    parts.append(str(escape(text[last:])))
    # Every piece above is escaped text or an anchor built from escaped text.
    return Markup("".join(parts).replace("\n", "<br>\n"))  # noqa: S704


def message_context(message: Message) -> dict[str, Any]:
    """What the message fragment needs, without a request (it is rendered for the socket)."""
    from blog.notifications.services import site_path

    sender = message.sender
    live_sender = sender if sender is not None and sender.deleted_at is None else None
    return {
        "message": message,
        "sender": live_sender,
        "sender_avatar_url": site_path("uploads.thumbnail", file_id=live_sender.avatar_file_id)
        if live_sender is not None and live_sender.avatar_file_id
        else None,
        "sender_name": services.display_name(sender),
        "sender_url": site_path("profiles.show", user_name=sender.user_name)
        if sender is not None and sender.deleted_at is None
        else None,
        "file_url": site_path("uploads.show", file_id=message.file_id) if message.file_id else None,
        # reports (blog/flags/reports.py): the message's menu links to its report page.
        "report_url": site_path("flags.report_message", message_id=message.id),
    }


# --------------------------------------------------------------------------- the list


@bp.get("")
@require_user
def index():
    return render_template(
        "chat/index.html",
        conversations=services.conversation_list(current_user.id),
        form=StartForm(formdata=None),
    )


@bp.get("/people")
@require_user
def people():
    """Autocomplete for the "With" field: names that match what is typed (an htmx fragment)."""
    keep_flashes()
    raw = request.args.get("members", "") or request.args.get("q", "")
    names = split_names(raw)
    typed = names[-1] if names and not raw.rstrip().endswith(",") else ""
    users = services.search_users(typed, exclude=current_user.id) if typed else []
    return render_template("chat/_people.html", users=users, typed=typed)


@bp.post("")
@limiter.limit(limit("chat_start"), key_func=user_key)
@require_verified
def start():
    form = StartForm()
    if not form.validate():
        return _start_error(form)
    names = split_names(form.members.data)
    users, unknown = services.find_users(names)
    if unknown:
        form.members.errors = [f"No one who can chat is called {', '.join(unknown)}."]
        return _start_error(form)
    others = [u for u in users if u.id != current_user.id]
    title = (form.title.data or "").strip()
    try:
        if len(others) == 1 and not title:
            conversation = services.start_direct(current_user, others[0])
        elif not others:
            raise services.ChatRefused("Name someone other than yourself.")
        elif not title:
            form.title.errors = ["A group needs a title."]
            return _start_error(form)
        else:
            conversation = services.create_group(current_user, title, others)
    except services.ChatRefused as refused:
        db.session.rollback()
        form.members.errors = [str(refused)]
        return _start_error(form)
    db.session.commit()
    return redirect_to(url_for("chat.show", conversation_id=conversation.id))


def _start_error(form: StartForm):
    if is_htmx():
        return (
            render_template("chat/_start_form.html", form=form),
            422,
            {"HX-Retarget": "#chat-start", "HX-Reswap": "outerHTML"},
        )
    return (
        render_template(
            "chat/index.html",
            conversations=services.conversation_list(current_user.id),
            form=form,
        ),
        422,
    )


@bp.post("/with/<user_name>")
@limiter.limit(limit("chat_start"), key_func=user_key)
@require_verified
def direct(user_name: str):
    """The profile's "Message" button: the one conversation with that person."""
    other = db.session.scalar(select(User).where(User.user_name == user_name))
    if other is None or other.deleted_at is not None:
        abort(404)
    if not ButtonForm().validate():
        abort(400, "The form expired. Reload the page and try again.")
    try:
        conversation = services.start_direct(current_user, other)
    except services.ChatRefused as refused:
        db.session.rollback()
        flash(str(refused), "error")
        return redirect_to(url_for("profiles.show", user_name=other.user_name))
    db.session.commit()
    return redirect_to(url_for("chat.show", conversation_id=conversation.id))


# --------------------------------------------------------------------------- a conversation


@bp.get("/<uuid:conversation_id>")
@require_user
def show(conversation_id: uuid.UUID):
    conversation, me = access_conversation(current_user, conversation_id)
    before = request.args.get("before")
    if before is None:
        # Opening the conversation reads it (committed first: a commit expires what is loaded).
        services.mark_read(conversation.id, current_user.id)
        db.session.commit()
    history = services.history(conversation.id, before)
    return _page(conversation, me, history, MessageForm(formdata=None))


def _page(conversation: Conversation, me: ConversationParticipant, history, form, status=200):
    participants = services.members(conversation.id)
    return (
        render_template(
            "chat/show.html",
            conversation=conversation,
            me=me,
            name=services.conversation_name(conversation, current_user.id),
            history=history,
            participants=participants,
            online=_online(participants),
            form=form,
            max_chars=services.max_message_chars(),
            paged=request.args.get("before") is not None,
            # Where a tab with no message yet catches up from (a reconnect, Redis back).
            opened_cursor=encode_cursor(utcnow(), uuid.UUID(int=0)),
        ),
        status,
    )


@bp.get("/<uuid:conversation_id>/older")
@require_user
def older(conversation_id: uuid.UUID):
    """The page of messages before the cursor, for "Load older" (a fragment for htmx)."""
    conversation, _me = access_conversation(current_user, conversation_id)
    if not is_htmx():
        return redirect_to(
            url_for("chat.show", conversation_id=conversation.id, before=request.args.get("before"))
        )
    keep_flashes()
    history = services.history(conversation.id, request.args.get("before"))
    return render_template("chat/_older.html", conversation=conversation, history=history)


@bp.get("/<uuid:conversation_id>/newer")
@require_user
def newer(conversation_id: uuid.UUID):
    """Messages after the cursor (a fragment): a tab catches up after its socket or Redis was
    away. Empty (204) when there is nothing new."""
    conversation, _me = access_conversation(current_user, conversation_id)
    keep_flashes()
    messages = services.newer(conversation.id, request.args.get("after"))
    if not messages:
        return "", 204
    return render_template("chat/_newer.html", conversation=conversation, messages=messages)


@bp.get("/<uuid:conversation_id>/presence")
@require_user
def presence(conversation_id: uuid.UUID):
    conversation, _me = access_conversation(current_user, conversation_id)
    keep_flashes()
    participants = services.members(conversation.id)
    return render_template(
        "chat/_presence.html",
        conversation=conversation,
        participants=participants,
        online=_online(participants),
    )


def _online(participants: list[ConversationParticipant]) -> set[str]:
    """Who is here: those with a tab open, and the viewer, who is looking at the page (a fresh
    tab's socket, and so its presence claim, comes only after the page is rendered)."""
    return online(p.user_id for p in participants) | {str(current_user.id)}


@bp.post("/<uuid:conversation_id>/messages")
@require_verified
def send(conversation_id: uuid.UUID):
    """A message by plain POST (no JavaScript, or the socket is down)."""
    conversation, me = access_conversation(current_user, conversation_id)
    form = MessageForm()
    if not form.validate():
        return _send_error(conversation, me, form)
    try:
        message = services.send_message(conversation.id, current_user, form.body.data)
    except services.SendRateLimited as refused:
        db.session.rollback()
        form.body.errors = [str(refused)]
        return _send_error(conversation, me, form, 429)
    except services.ChatRefused as refused:
        db.session.rollback()
        form.body.errors = [str(refused)]
        return _send_error(conversation, me, form)
    db.session.commit()
    if is_htmx():
        # The sender's tab may have no socket: the message comes back here too (chat.js drops
        # the copy that arrives second), with an empty composer.
        html = render_template(
            "chat/_sent.html",
            conversation=conversation,
            form=MessageForm(formdata=None),
            max_chars=services.max_message_chars(),
            **message_context(message),
            mine=True,
        )
        return html, 201
    return redirect_to(url_for("chat.show", conversation_id=conversation.id) + "#latest")


def _send_error(conversation, me, form, status=422):
    if is_htmx():
        html = render_template(
            "chat/_composer.html",
            conversation=conversation,
            form=form,
            max_chars=services.max_message_chars(),
        )
        return (
            html,
            status,
            {"HX-Retarget": f"#composer-{conversation.id}", "HX-Reswap": "outerHTML"},
        )
    history = services.history(conversation.id)
    return _page(conversation, me, history, form, status)


# --------------------------------------------------------------------------- members


@bp.get("/<uuid:conversation_id>/members")
@require_user
def members(conversation_id: uuid.UUID):
    conversation, me = access_conversation(current_user, conversation_id)
    return _members_page(conversation, me)


def _members_page(conversation, me, *, add_form=None, rename_form=None, status=200):
    participants = services.members(conversation.id)
    return (
        render_template(
            "chat/members.html",
            conversation=conversation,
            me=me,
            name=services.conversation_name(conversation, current_user.id),
            participants=participants,
            online=_online(participants),
            add_form=add_form or AddMembersForm(formdata=None),
            rename_form=rename_form or RenameForm(formdata=None, title=conversation.title),
            role_form=RoleForm(formdata=None),
            button=ButtonForm(formdata=None),
        ),
        status,
    )


def _members_url(conversation: Conversation) -> str:
    return url_for("chat.members", conversation_id=conversation.id)


@bp.post("/<uuid:conversation_id>/members")
@require_verified
def add_members(conversation_id: uuid.UUID):
    conversation, me = access_conversation(current_user, conversation_id, lock=True)
    form = AddMembersForm()
    if not form.validate():
        return _members_page(conversation, me, add_form=form, status=422)
    users, unknown = services.find_users(split_names(form.members.data))
    if unknown:
        form.members.errors = [f"No one who can chat is called {', '.join(unknown)}."]
        return _members_page(conversation, me, add_form=form, status=422)
    try:
        added = services.add_members(conversation, me, users)
    except services.ChatRefused as refused:
        db.session.rollback()
        return _refused(conversation, str(refused))
    db.session.commit()
    if added:
        flash(f"Added {', '.join(u.user_name for u in added)}.", "success")
    else:
        flash("They are already in this group.", "info")
    return redirect_to(_members_url(conversation))


@bp.post("/<uuid:conversation_id>/members/<uuid:user_id>/remove")
@require_verified
def remove_member(conversation_id: uuid.UUID, user_id: uuid.UUID):
    conversation, me = access_conversation(current_user, conversation_id, lock=True)
    target = access_member(conversation, user_id)
    if not ButtonForm().validate():
        abort(400, "The form expired. Reload the page and try again.")
    return _member_change(
        conversation,
        lambda: services.remove_member(conversation, me, target),
        f"{target.user.user_name} is no longer in this group.",
    )


@bp.post("/<uuid:conversation_id>/members/<uuid:user_id>/role")
@require_verified
def set_role(conversation_id: uuid.UUID, user_id: uuid.UUID):
    conversation, me = access_conversation(current_user, conversation_id, lock=True)
    target = access_member(conversation, user_id)
    form = RoleForm()
    if not form.validate():
        return _refused(conversation, "Choose a role from the list.")
    return _member_change(
        conversation,
        lambda: services.set_role(conversation, me, target, form.role.data),
        f"{target.user.user_name} is now {form.role.data}.",
    )


@bp.post("/<uuid:conversation_id>/rename")
@require_verified
def rename(conversation_id: uuid.UUID):
    conversation, me = access_conversation(current_user, conversation_id, lock=True)
    form = RenameForm()
    if not form.validate():
        return _members_page(conversation, me, rename_form=form, status=422)
    return _member_change(
        conversation,
        lambda: services.rename(conversation, me, form.title.data),
        "The group is renamed.",
    )


def _member_change(conversation: Conversation, change: Callable[[], object], done: str) -> Any:
    """Make a group change (the service raises ChatRefused with the reason), commit, and go
    back to the members page with `done` — or show the reason there."""
    try:
        change()
    except services.ChatRefused as refused:
        db.session.rollback()
        return _refused(conversation, str(refused))
    db.session.commit()
    flash(done, "success")
    return redirect_to(_members_url(conversation))


@bp.post("/<uuid:conversation_id>/leave")
@require_user
def leave(conversation_id: uuid.UUID):
    conversation, me = access_conversation(current_user, conversation_id, lock=True)
    if not ButtonForm().validate():
        abort(400, "The form expired. Reload the page and try again.")
    title = conversation.title
    try:
        services.leave(conversation, me)
    except services.ChatRefused as refused:
        db.session.rollback()
        return _refused(conversation, str(refused))
    db.session.commit()
    flash(f"You left “{title}”.", "success")
    return redirect_to(url_for("chat.index"))


def _refused(conversation: Conversation, message: str):
    """A refusal of a members-page action: 409 with the reason (a flash on the page)."""
    flash(message, "error")
    if is_htmx():
        return redirect_to(_members_url(conversation))
    me = services.participant(conversation.id, current_user.id)
    if me is None:
        abort(404)
    return _members_page(conversation, me, status=409)
