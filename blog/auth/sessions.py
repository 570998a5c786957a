"""Server-side sessions: the cookie carries a random token, the `sessions` table its SHA-256.

Every request looks the token up (one indexed query joined with the user), so signing out,
a password change, a suspension or a deletion ends a session at once, even for a copied cookie.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from flask import Flask, Response, current_app, g, has_app_context, request
from sqlalchemy import Engine, bindparam, event, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from blog.auth.models import User, UserSession
from blog.core.db import utcnow
from blog.core.prepared import Prepared
from blog.extensions import db

# last_seen_at is for the devices page and the idle timeout: write it at most once a minute.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
# After a rotation the replaced token stays good this long: a page that fired several requests
# with the old cookie must not be signed out by the one that rotated it.
ROTATION_GRACE = timedelta(seconds=30)
_MAX_TOKEN_LENGTH = 100


def session_lifetime(remember: bool) -> timedelta:
    """Absolute lifetime: SESSION_LIFETIME_HOURS, or SESSION_REMEMBER_DAYS with "remember me"."""
    cfg = current_app.config
    if remember:
        return timedelta(days=cfg["SESSION_REMEMBER_DAYS"])
    return timedelta(hours=cfg["SESSION_LIFETIME_HOURS"])


def new_token() -> tuple[str, bytes]:
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class SessionInfo:
    """What a request needs of its session row (the row itself: current_session())."""

    id: uuid.UUID
    user_id: uuid.UUID
    token_hash: bytes
    token_rotated_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    remember: bool

    def is_valid(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now


_SESSION_FIELDS = [f.name for f in fields(SessionInfo)]


@lru_cache(maxsize=1)
def _user_attributes() -> list[Any]:
    """The User's mapped columns, in the order the lookup selects them."""
    return list(sa_inspect(User).column_attrs)


@lru_cache(maxsize=1)
def _user_id_position() -> int:
    return [prop.key for prop in _user_attributes()].index("id")


# Figures every signed-in page shows (the navigation's badges), read by the session lookup's
# own statement rather than by one more: a feature registers a scalar select of the session's
# user (read_with_session), the page reads its value (session_extra). A statement the request
# sends that may write drops them (_drop_extras): what is drawn after a change reads it again.
_WITH_SESSION: dict[str, Callable[[Any, Any], Any]] = {}
_extra_names: list[str] = []  # the order the compiled lookup selects them in


def read_with_session(name: str, build: Callable[[Any, Any], Any]) -> None:
    """`build(user_id_column, table_to_correlate)` -> a scalar select, read with every session
    lookup; during the request its value is session_extra(name). Register at start-up."""
    if name not in _WITH_SESSION and "_compiled" in SESSION_LOOKUP.__dict__:
        raise RuntimeError(f"read_with_session({name!r}) after the session lookup was built")
    _WITH_SESSION[name] = build


def session_extra(name: str) -> Any:
    """What the session lookup read for `name` this request, or None (not signed in, not
    registered, or the request has written since)."""
    extras = g.get("session_extras")
    return None if extras is None else extras.get(name)


def _drop_extras(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    if has_app_context() and "session_extras" in g and not statement.startswith(_READS):
        g.pop("session_extras", None)


_READS = ("SELECT", "EXECUTE", "PREPARE", "SHOW", "SET ", "select")


def _session_lookup() -> Any:
    """The session's fields and its user's columns by a token's hash (or the previous
    token's, within the grace after a rotation)."""
    token_hash = bindparam("token_hash", type_=UserSession.token_hash.type)
    rotated_after = bindparam("rotated_after", type_=UserSession.token_rotated_at.type)
    _extra_names[:] = list(_WITH_SESSION)
    extras = [
        _WITH_SESSION[name](UserSession.user_id, UserSession).label(name) for name in _extra_names
    ]
    return (
        select(
            *(getattr(UserSession, name) for name in _SESSION_FIELDS),
            *(prop.columns[0] for prop in _user_attributes()),
            *extras,
        )
        .join(User, UserSession.user_id == User.id)
        .where(
            (UserSession.token_hash == token_hash)
            | (
                (UserSession.previous_token_hash == token_hash)
                & (UserSession.token_rotated_at > rotated_after)
            )
        )
    )


# Prepared on the server (blog.core.prepared): planning it cost six times running it.
SESSION_LOOKUP = Prepared("session_lookup", _session_lookup)


def _attached_user(values: Sequence[Any]) -> User:
    """The User of these column values, in the request's session as if the ORM had loaded
    it (persistent: a change is flushed as usual, relationships load on access).

    Built rather than loaded: the ORM's loading set up its row processors on every request,
    ~0.3 ms, the largest part of what a signed-in page cost more than a visitor's
    (benchmarks/home_page.py, issue 18 item 5). This is SQLAlchemy's documented way in for
    rows that come from elsewhere (set_committed_value, make_transient_to_detached)."""
    props = _user_attributes()
    mapper = sa_inspect(User)
    key = mapper.identity_key_from_primary_key((values[_user_id_position()],))
    existing = db.session.identity_map.get(key)
    if existing is not None:  # the request read this person before: that object it is
        return existing
    user = mapper.class_manager.new_instance()
    for prop, value in zip(props, values, strict=True):
        set_committed_value(user, prop.key, value)
    make_transient_to_detached(user)
    db.session.add(user)
    return user


def load_user_from_request(_request: object = None) -> User | None:
    """Flask-Login's request loader: the user of a valid, unexpired, unrevoked session."""
    token = request.cookies.get(current_app.config["AUTH_COOKIE_NAME"], "")
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    token_hash = hash_token(token)
    now = utcnow()
    row = SESSION_LOOKUP.execute(
        {"token_hash": token_hash, "rotated_after": now - ROTATION_GRACE}
    ).first()
    if row is None:
        return None
    split = len(_SESSION_FIELDS)
    auth_session = SessionInfo(*row[:split])
    if not auth_session.is_valid(now):
        return None
    split_extras = split + len(_user_attributes())
    user = _attached_user(row[split:split_extras])
    if not user.can_sign_in:
        return None
    cfg = current_app.config
    if now - auth_session.last_seen_at > timedelta(hours=cfg["SESSION_IDLE_HOURS"]):
        return None  # idle too long; the row expires on its own and is purged later
    g.auth_session = auth_session
    g.session_extras = dict(zip(_extra_names, row[split_extras:], strict=True))
    rotate_every = timedelta(hours=cfg["SESSION_ROTATE_HOURS"])
    if (
        auth_session.token_hash == token_hash
        and now - auth_session.token_rotated_at >= rotate_every
    ):
        _rotate_token(auth_session, token_hash, now)
    elif now - auth_session.last_seen_at >= LAST_SEEN_RESOLUTION:
        _touch_session(auth_session, now)
    return user


def _rotate_token(auth_session: SessionInfo, old_hash: bytes, now: datetime) -> None:
    # Its own short transaction, like _touch_session. The WHERE on the old hash lets exactly
    # one of several concurrent requests rotate; the others keep the old cookie, which stays
    # good for ROTATION_GRACE.
    token, new_hash = new_token()
    with db.engine.begin() as conn:
        rotated = conn.execute(
            update(UserSession)
            .where(UserSession.id == auth_session.id, UserSession.token_hash == old_hash)
            .values(
                token_hash=new_hash,
                previous_token_hash=old_hash,
                token_rotated_at=now,
                last_seen_at=now,
            )
        ).rowcount
    if rotated:
        g.rotated_session_token = (token, auth_session.remember)


def _touch_session(auth_session: SessionInfo, now: datetime) -> None:
    # On its own short transaction, so a GET never needs the request's commit and a failed
    # request never loses the timestamp. The WHERE makes concurrent tabs write once.
    with db.engine.begin() as conn:
        conn.execute(
            update(UserSession)
            .where(UserSession.id == auth_session.id)
            .where(UserSession.last_seen_at < now - LAST_SEEN_RESOLUTION)
            .values(last_seen_at=now)
        )


def current_session() -> UserSession | None:
    """The session row of this request's signed-in user (loading the user if not yet done):
    one query, on the few pages that need the row (sign out, devices, password change)."""
    from flask_login import current_user

    if not current_user.is_authenticated:
        return None
    info = g.get("auth_session")
    return None if info is None else db.session.get(UserSession, info.id)


def current_session_info() -> SessionInfo | None:
    """What the request loader read of this request's session, without a query."""
    from flask_login import current_user

    if not current_user.is_authenticated:
        return None
    return g.get("auth_session")


def set_session_cookie(response: Response, token: str, *, remember: bool) -> None:
    cfg = current_app.config
    response.set_cookie(
        cfg["AUTH_COOKIE_NAME"],
        token,
        # Without "remember me" the cookie dies with the browser; the row expires anyway.
        max_age=int(session_lifetime(True).total_seconds()) if remember else None,
        httponly=True,
        secure=cfg["AUTH_COOKIE_SECURE"],
        samesite="Lax",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    cfg = current_app.config
    response.delete_cookie(
        cfg["AUTH_COOKIE_NAME"],
        path="/",
        httponly=True,
        secure=cfg["AUTH_COOKIE_SECURE"],
        samesite="Lax",
    )


def _send_rotated_token(response: Response) -> Response:
    rotated = g.pop("rotated_session_token", None)
    # A response that signs in or out sets the cookie itself: leave that one alone.
    cookie_prefix = current_app.config["AUTH_COOKIE_NAME"] + "="
    sets_cookie = any(h.startswith(cookie_prefix) for h in response.headers.getlist("Set-Cookie"))
    if rotated is not None and not sets_cookie:
        token, remember = rotated
        set_session_cookie(response, token, remember=remember)
    return response


def init_sessions(app: Flask) -> None:
    from blog.extensions import login_manager

    login_manager.request_loader(load_user_from_request)
    if not event.contains(Engine, "before_cursor_execute", _drop_extras):
        event.listen(Engine, "before_cursor_execute", _drop_extras)
    app.after_request(_send_rotated_token)
