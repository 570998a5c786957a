"""Account rules. Services add and flush; the view commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from blog.audit.services import record_audit
from blog.auth.models import User, UserSession
from blog.auth.passwords import hash_password, needs_rehash, verify_password
from blog.auth.sessions import REMEMBER_LIFETIME, SESSION_LIFETIME, new_token
from blog.core.db import utcnow
from blog.extensions import db
from blog.outbox.events import emit


class AccountExists(Exception):
    """The email or user name is taken; `field` says which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class SignInRefused(Exception):
    """Credentials are right but the account may not sign in (suspended)."""


@dataclass(frozen=True)
class NewSession:
    token: str
    session: UserSession


def normalise_email(email: str) -> str:
    return email.strip().lower()


def get_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def get_user_by_name(user_name: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.user_name) == user_name.lower()))


def register_user(*, email: str, user_name: str, password: str, role: str = "user") -> User:
    """Create a local account. Raises AccountExists if the email or user name is taken."""
    email = normalise_email(email)
    if get_user_by_email(email) is not None:
        raise AccountExists("email", "An account with this email address already exists.")
    if get_user_by_name(user_name) is not None:
        raise AccountExists("user_name", "This user name is taken.")
    user = User(
        email=email,
        user_name=user_name,
        password_hash=hash_password(password),
        role=role,
        provider="local",
    )
    # A concurrent sign-up can pass the checks above; the unique indexes decide, and the
    # savepoint keeps the request's transaction usable for the error page.
    try:
        with db.session.begin_nested():
            db.session.add(user)
            db.session.flush()
    except IntegrityError as exc:
        if "user_name" in str(exc.orig):
            raise AccountExists("user_name", "This user name is taken.") from None
        raise AccountExists("email", "An account with this email address already exists.") from None
    emit(
        "user.registered",
        aggregate_type="user",
        aggregate_id=user.id,
        data={"user_name": user.user_name, "provider": user.provider},
    )
    return user


def authenticate(email: str, password: str) -> User | None:
    """The user these credentials belong to, or None. Takes the same time either way.

    Raises SignInRefused when the password is right but the account is suspended. A deleted
    account answers exactly like a wrong password.
    """
    user = get_user_by_email(email)
    stored_hash = user.password_hash if user is not None and user.deleted_at is None else None
    if not verify_password(stored_hash, password) or user is None or stored_hash is None:
        return None
    if user.status != "active":
        raise SignInRefused("This account is suspended.")
    if needs_rehash(stored_hash):
        user.password_hash = hash_password(password)
    return user


def start_session(
    user: User, *, remember: bool, user_agent: str | None, ip: str | None
) -> NewSession:
    """Issue a new session token for this device (never reuse one: no fixation)."""
    now = utcnow()
    token, token_hash = new_token()
    auth_session = UserSession(
        user_id=user.id,
        token_hash=token_hash,
        created_at=now,
        last_seen_at=now,
        expires_at=now + (REMEMBER_LIFETIME if remember else SESSION_LIFETIME),
        remember=remember,
        user_agent=(user_agent or "")[:512] or None,
        ip=ip,
    )
    user.last_login_at = now
    db.session.add(auth_session)
    db.session.flush()
    return NewSession(token=token, session=auth_session)


def list_active_sessions(user: User) -> list[UserSession]:
    now = utcnow()
    return list(
        db.session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user.id)
            .where(UserSession.revoked_at.is_(None))
            .where(UserSession.expires_at > now)
            .order_by(UserSession.last_seen_at.desc())
        )
    )


def end_session(auth_session: UserSession) -> None:
    auth_session.revoke(utcnow())


def revoke_user_session(user: User, session_id: uuid.UUID) -> bool:
    """Revoke one of the user's own sessions. False if it is not theirs or already ended."""
    result = db.session.execute(
        update(UserSession)
        .where(UserSession.id == session_id)
        .where(UserSession.user_id == user.id)
        .where(UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def revoke_all_sessions(user_id: uuid.UUID, *, except_id: uuid.UUID | None = None) -> int:
    """End every live session of a user (but `except_id`). Returns how many were ended."""
    stmt = (
        update(UserSession)
        .where(UserSession.user_id == user_id)
        .where(UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if except_id is not None:
        stmt = stmt.where(UserSession.id != except_id)
    return int(db.session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def suspend_user(user: User, *, actor: User, reason: str, ip: str | None = None) -> None:
    """Suspend an account and end its sessions at once. Audited."""
    old_status = user.status
    user.suspend()
    ended = revoke_all_sessions(user.id)
    record_audit(
        actor_id=actor.id,
        action="user.suspend",
        entity_type="user",
        entity_id=user.id,
        old={"status": old_status},
        new={"status": user.status, "reason": reason, "sessions_ended": ended},
        ip=ip,
    )
    db.session.flush()
