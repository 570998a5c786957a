"""Server-side sessions: the cookie carries a random token, the `sessions` table its SHA-256.

Every request looks the token up (one indexed query joined with the user), so signing out,
a password change, a suspension or a deletion ends a session at once, even for a copied cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import Flask, Response, current_app, g, request
from sqlalchemy import select, update

from blog.auth.models import User, UserSession
from blog.core.db import utcnow
from blog.extensions import db

SESSION_LIFETIME = timedelta(hours=12)
REMEMBER_LIFETIME = timedelta(days=30)
# last_seen_at is for the devices page, not security: write it at most once a minute.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
_MAX_TOKEN_LENGTH = 100


def new_token() -> tuple[str, bytes]:
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def load_user_from_request(_request: object = None) -> User | None:
    """Flask-Login's request loader: the user of a valid, unexpired, unrevoked session."""
    token = request.cookies.get(current_app.config["AUTH_COOKIE_NAME"], "")
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    row = db.session.execute(
        select(UserSession, User)
        .join(User, UserSession.user_id == User.id)
        .where(UserSession.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    auth_session, user = row
    now = utcnow()
    if not auth_session.is_valid(now) or not user.can_sign_in:
        return None
    g.auth_session = auth_session
    if now - auth_session.last_seen_at >= LAST_SEEN_RESOLUTION:
        _touch_session(auth_session, now)
    return user


def _touch_session(auth_session: UserSession, now: object) -> None:
    # On its own short transaction, so a GET never needs the request's commit and a failed
    # request never loses the timestamp. The WHERE makes concurrent tabs write once.
    with db.engine.begin() as conn:
        conn.execute(
            update(UserSession)
            .where(UserSession.id == auth_session.id)
            .where(UserSession.last_seen_at < now - LAST_SEEN_RESOLUTION)  # type: ignore[operator]
            .values(last_seen_at=now)
        )


def current_session() -> UserSession | None:
    """The session row of this request's signed-in user (loading the user if not yet done)."""
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
        max_age=int(REMEMBER_LIFETIME.total_seconds()) if remember else None,
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


def init_sessions(app: Flask) -> None:
    from blog.extensions import login_manager

    login_manager.request_loader(load_user_from_request)
