"""/ws: the live channel of a signed-in tab (badge, toasts, chat).

Security boundary: the handshake is refused with 403 BEFORE the upgrade unless its Origin is
exactly this site's (browsers send Origin on every websocket handshake, and cookies ride along
on a cross-site one: without this check any page could read a user's live updates) and the
request carries a valid server-side session. flask-sock does neither (field notes), so a
before_request hook of this blueprint does both. Once open, the socket lives until the client
leaves or its session stops being valid (checked every few seconds by blog.core.live).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, abort, current_app, request
from flask_login import current_user
from sqlalchemy import select

from blog.auth.models import User, UserSession
from blog.auth.sessions import current_session_info
from blog.core.db import utcnow
from blog.core.dbgate import release_slot
from blog.core.live import LiveSocket, dispatch, get_hub, init_live
from blog.extensions import db, sock
from blog.notifications.services import badge_html, site_path

bp = Blueprint("live", __name__)


@bp.record_once
def _setup(state: Any) -> None:
    app: Flask = state.app
    init_live(app)
    hub = get_hub(app)
    hub.session_check = valid_sessions
    hub.render_status = _render_status
    hub.render_ended = render_ended


def _render_status(ok: bool) -> str:
    # Rendered from the listener thread too, where there is no request: plain Jinja.
    template = current_app.jinja_env.get_template("notifications/_live_status.html")
    return template.render(live_ok=ok, oob=True, signin_url=site_path("auth.login"))


def render_ended(session_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The last message of each socket whose session ended (the watchdog's thread): the notice
    that the person is signed out, and why when it is their account's doing (suspended,
    deleted), with a link to sign in. One query for all of them."""
    rows = db.session.execute(
        select(UserSession.id, User.status, User.deleted_at)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.id.in_(session_ids))
    ).all()
    db.session.remove()
    template = current_app.jinja_env.get_template("notifications/_live_status.html")
    signin_url = site_path("auth.login")
    notices = {}
    for session_id, status, deleted_at in rows:
        reason = "deleted" if deleted_at else "suspended" if status == "suspended" else "ended"
        notices[session_id] = template.render(ended=reason, oob=True, signin_url=signin_url)
    return notices


def valid_sessions(session_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these sessions may still use the site (one query for all of a process's).

    The same rules as a request's (blog.auth.sessions.load_user_from_request), the idle
    timeout included: an open socket is not activity (it does not move last_seen_at), so a
    tab left open past the idle limit is signed out like one that makes a request.
    """
    now = utcnow()
    idle_limit = timedelta(hours=current_app.config["SESSION_IDLE_HOURS"])
    rows = db.session.scalars(
        select(UserSession.id)
        .join(User, User.id == UserSession.user_id)
        .where(
            UserSession.id.in_(session_ids),
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > now,
            UserSession.last_seen_at >= now - idle_limit,
            User.status == "active",
            User.deleted_at.is_(None),
        )
    ).all()
    db.session.remove()
    return set(rows)


@bp.before_request
def check_handshake() -> None:
    """Origin first (it needs no database), then the session: 403 before any upgrade."""
    if request.headers.get("Origin", "") != current_app.config["SITE_ORIGIN"]:
        abort(403)
    if not current_user.is_authenticated or current_session_info() is None:
        abort(403)
    # Each socket holds a worker thread for good: past this many (gunicorn.conf.py sets it from
    # the thread count), pages would wait for threads. The tab retries later; pages need no
    # socket. Not atomic with register(): concurrent handshakes may pass it by a few, which the
    # reserve absorbs.
    if get_hub().count() >= current_app.config.get("LIVE_MAX_SOCKETS", float("inf")):
        abort(503)


@sock.route("/ws", bp=bp)
def socket(ws: Any) -> None:
    auth_session = current_session_info()
    assert auth_session is not None  # check_handshake refused anything else
    live = LiveSocket(ws, user_id=auth_session.user_id, session_id=auth_session.id)
    hub = get_hub()
    hub.register(live)  # and the user's presence: badges are published to those present
    try:
        try:
            # So what changed between the page's render and the presence claim is not missed:
            # the badge as it is now, after the claim (push_toasts skips people not present).
            badge = badge_html(auth_session.user_id)
        finally:
            # The socket may stay open for hours: give the pooled connection back now, and
            # the request's database slot (blog.core.dbgate; each message a tab sends takes one).
            db.session.remove()
            release_slot()
        # Let the listener subscribe (lazily started), then say whether live updates work.
        hub.subscribed.wait(timeout=1.0)
        live.send(hub.status_html() + badge)
        # The receive loop notices a client that left, and hands what the tab sends (chat
        # messages, typing, reads: blog.core.live.dispatch) to its handler.
        while not live.closed:
            data = ws.receive(timeout=5)
            if data is not None:
                dispatch(live, data)
    finally:
        hub.unregister(live)
