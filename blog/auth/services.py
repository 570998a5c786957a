"""Account rules. Services add and flush; the view commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from blog.audit.services import record_audit
from blog.auth.models import User, UserSession
from blog.auth.passwords import hash_password, needs_rehash, verify_password
from blog.auth.sessions import new_token, session_lifetime
from blog.auth.tokens import access_token, spend_other_tokens
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
    """Credentials are right but the account may not sign in (suspended).

    The message is for the person signing in: the reason and when the suspension ends.
    """

    def __init__(self, reason: str | None, until: datetime | None) -> None:
        self.reason = reason
        self.until = until
        super().__init__(self.notice)

    @property
    def notice(self) -> str:
        end = (
            "until " + self.until.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
            if self.until is not None
            else "until further notice"
        )
        reason = f" Reason: {self.reason}" if self.reason else ""
        return f"This account is suspended {end}.{reason}"


class WrongPassword(Exception):
    """The current password, asked for again before a sensitive change, is not right."""


class SameEmail(Exception):
    """The new address is the one the account already has."""


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

    Raises SignInRefused when the password is right but the account is suspended; a suspension
    whose end has passed is lifted here (the cron job may not have run yet). A deleted account
    answers exactly like a wrong password.
    """
    user = get_user_by_email(email)
    stored_hash = user.password_hash if user is not None and user.deleted_at is None else None
    if not verify_password(stored_hash, password) or user is None or stored_hash is None:
        return None
    if user.suspension_is_over(utcnow()):
        lift_suspension_if_over(user)
    if user.status != "active":
        raise SignInRefused(user.suspended_reason, user.suspended_until)
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
        expires_at=now + session_lifetime(remember),
        token_rotated_at=now,
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


def suspend_user(
    user: User,
    *,
    actor: User,
    reason: str,
    until: datetime | None = None,
    ip: str | None = None,
) -> None:
    """Suspend an account (until `until`, or until further notice) and end its sessions at
    once. Audited; emits user.suspended. Raises ValueError for a deleted account."""
    old = _suspension_state(user)
    user.suspend(reason=reason, until=until)
    ended = revoke_all_sessions(user.id)
    record_audit(
        actor_id=actor.id,
        action="user.suspend",
        entity_type="user",
        entity_id=user.id,
        old=old,
        new={**_suspension_state(user), "sessions_ended": ended},
        ip=ip,
    )
    emit(
        "user.suspended",
        aggregate_type="user",
        aggregate_id=user.id,
        data={
            "reason": user.suspended_reason,
            "until": user.suspended_until.isoformat() if user.suspended_until else None,
            "actor_id": str(actor.id),
        },
    )
    db.session.flush()


def reinstate_user(user: User, *, actor: User, ip: str | None = None) -> None:
    """Lift a suspension by hand. Audited; emits user.reinstated. A no-op if not suspended."""
    if user.status != "suspended":
        return
    _reinstate(user, actor_id=actor.id, action="user.reinstate", ip=ip)


def lift_suspension_if_over(user: User) -> bool:
    """Reinstate `user` if their suspension's end has passed. True if it was lifted.

    Locks the row and re-checks: the cron job, a sign-in and a moderator extending the
    suspension can race, and only one of them may decide.
    """
    db.session.refresh(user, with_for_update=True)
    if not user.suspension_is_over(utcnow()):
        return False
    _reinstate(user, actor_id=None, action="user.suspension_expired", ip=None)
    return True


def _reinstate(user: User, *, actor_id: uuid.UUID | None, action: str, ip: str | None) -> None:
    old = _suspension_state(user)
    user.reinstate()
    record_audit(
        actor_id=actor_id,
        action=action,
        entity_type="user",
        entity_id=user.id,
        old=old,
        new=_suspension_state(user),
        ip=ip,
    )
    emit(
        "user.reinstated",
        aggregate_type="user",
        aggregate_id=user.id,
        data={
            "expired": actor_id is None,
            "actor_id": str(actor_id) if actor_id is not None else None,
        },
    )
    db.session.flush()


def _suspension_state(user: User) -> dict[str, str | None]:
    return {
        "status": user.status,
        "reason": user.suspended_reason,
        "until": user.suspended_until.isoformat() if user.suspended_until else None,
    }


# --------------------------------------------------------------------------- deletion


class NotRestorable(Exception):
    """The account is not deleted, or its personal data is purged or due to be."""


def delete_account(
    user: User, *, password: str, retention: timedelta, ip: str | None = None
) -> datetime:
    """Soft-delete your own account after checking the password: every session ends at once,
    personal data is purged after `retention`. Audited; emits user.deleted.

    Raises WrongPassword. Returns when the data will be purged.
    """
    confirm_identity(user, password)
    return soft_delete_user(user, actor_id=user.id, retention=retention, ip=ip)


def confirm_identity(user: User, secret: str) -> None:
    """Ask again before a sensitive change: the current password, or, for an account that
    signs in only through Google (no password), its user name typed out — the session itself
    is then the authentication, and the name proves intent. Raises WrongPassword."""
    if not user.has_password:
        if secret.strip().lower() != user.user_name.lower():
            raise WrongPassword("Type your user name exactly as shown to confirm.")
    elif not verify_password(user.password_hash, secret):
        raise WrongPassword("The password is not right.")


def soft_delete_user(
    user: User, *, actor_id: uuid.UUID, retention: timedelta, ip: str | None = None
) -> datetime:
    """Soft-delete an account (by its owner or an admin): every session ends at once, personal
    data is purged after `retention`. Audited; emits user.deleted. Returns the purge time."""
    now = utcnow()
    purge_after = now + retention
    old = deletion_state(user)
    user.soft_delete(now=now, purge_after=purge_after)
    ended = revoke_all_sessions(user.id)
    record_audit(
        actor_id=actor_id,
        action="user.delete",
        entity_type="user",
        entity_id=user.id,
        old=old,
        new={**deletion_state(user), "sessions_ended": ended},
        ip=ip,
    )
    emit(
        "user.deleted",
        aggregate_type="user",
        aggregate_id=user.id,
        data={"purge_after": purge_after.isoformat(), "actor_id": str(actor_id)},
    )
    db.session.flush()
    return purge_after


def restore_user(user: User, *, actor: User, ip: str | None = None) -> None:
    """Undo a deletion (admins). Only before the purge; raises NotRestorable otherwise.
    Audited; emits user.restored. The user signs in again with their old password."""
    # The purge job locks the rows it anonymises (SKIP LOCKED): waiting for the lock here
    # means we see its result and cannot restore a half-purged account.
    db.session.refresh(user, with_for_update=True)
    if not user.can_be_restored(utcnow()):
        raise NotRestorable("This account cannot be restored: it is not deleted or is purged.")
    old = deletion_state(user)
    user.restore(utcnow())
    record_audit(
        actor_id=actor.id,
        action="user.restore",
        entity_type="user",
        entity_id=user.id,
        old=old,
        new=deletion_state(user),
        ip=ip,
    )
    emit(
        "user.restored",
        aggregate_type="user",
        aggregate_id=user.id,
        data={"actor_id": str(actor.id)},
    )
    db.session.flush()


def deletion_state(user: User) -> dict[str, str | None]:
    return {
        "deleted_at": user.deleted_at.isoformat() if user.deleted_at else None,
        "purge_after": user.purge_after.isoformat() if user.purge_after else None,
    }


# --------------------------------------------------------------------------- email verification


def request_email_verification(user: User) -> None:
    """Ask for a new confirmation link; the mail handler issues the token after commit."""
    emit("user.email_verification_requested", aggregate_type="user", aggregate_id=user.id)


def verify_email(token: str) -> User:
    """Spend a verify_email token and mark the address confirmed. Raises TokenInvalid."""
    found = access_token(token, "verify_email", lock=True)
    now = utcnow()
    found.use(now)
    user = found.user
    _mark_verified(user, now)
    db.session.flush()
    return user


def _mark_verified(user: User, now: datetime) -> None:
    if user.email_verified_at is None:
        user.email_verified_at = now
        emit("user.email_verified", aggregate_type="user", aggregate_id=user.id)


# --------------------------------------------------------------------------- passwords


def request_password_reset(email: str) -> None:
    """Emit user.password_reset_requested if `email` belongs to an account, else nothing.

    Either way the same statements run (the lookup, an outbox INSERT in a savepoint, the
    commit's WAL flush and the relay trigger after it): for an unknown address the savepoint
    is rolled back. So the answer takes as long whether or not the account exists.
    """
    user = get_user_by_email(email)
    known = user is not None and user.deleted_at is None
    savepoint = db.session.begin_nested()
    emit(
        "user.password_reset_requested",
        aggregate_type="user",
        aggregate_id=user.id if user is not None and known else uuid.uuid4(),
    )
    db.session.flush()
    if known:
        savepoint.commit()
    else:
        savepoint.rollback()


def reset_password(token: str, password: str) -> User:
    """Set a new password through a reset link and end every session. Raises TokenInvalid."""
    # Hash before taking the row locks: Argon2 is slow on purpose.
    password_hash = hash_password(password)
    found = access_token(token, "reset_password", lock=True)
    now = utcnow()
    found.use(now)
    user = found.user
    user.set_password_hash(password_hash, now)
    # The link came through the mailbox: that proves the address as well as a confirmation.
    _mark_verified(user, now)
    revoke_all_sessions(user.id)
    emit(
        "user.password_changed",
        aggregate_type="user",
        aggregate_id=user.id,
        data={"via": "reset"},
    )
    db.session.flush()
    return user


def change_password(
    user: User, *, current_password: str, new_password: str, keep_session_id: uuid.UUID | None
) -> int:
    """Replace the password after checking the current one; end every other session.

    Raises WrongPassword. Returns how many other sessions were ended.
    """
    if not verify_password(user.password_hash, current_password) or user.password_hash is None:
        raise WrongPassword("The current password is not right.")
    user.set_password_hash(hash_password(new_password), utcnow())
    ended = revoke_all_sessions(user.id, except_id=keep_session_id)
    emit(
        "user.password_changed",
        aggregate_type="user",
        aggregate_id=user.id,
        data={"via": "change"},
    )
    db.session.flush()
    return ended


# --------------------------------------------------------------------------- email address


def request_email_change(user: User, *, password: str, new_email: str) -> str:
    """Check the password and the new address; the mail handler then mails a confirmation
    link to the new address. Nothing changes until it is opened.

    Raises WrongPassword, SameEmail or AccountExists. Returns the normalised new address.
    """
    confirm_identity(user, password)
    new_email = normalise_email(new_email)
    if new_email == user.email:
        raise SameEmail("This is already your email address.")
    if get_user_by_email(new_email) is not None:
        raise AccountExists("email", "An account with this email address already exists.")
    emit(
        "user.email_change_requested",
        aggregate_type="user",
        aggregate_id=user.id,
        data={"new_email": new_email},
    )
    return new_email


def change_email(token: str) -> tuple[User, str]:
    """Switch to the address a change_email link was mailed to. Returns (user, old address).

    Raises TokenInvalid, or AccountExists if another account took the address meanwhile.
    """
    found = access_token(token, "change_email", lock=True)
    now = utcnow()
    found.use(now)
    user = found.user
    old_email, new_email = user.email, str(found.new_email)
    taken = AccountExists("email", "Another account now uses this email address.")
    if get_user_by_email(new_email) is not None:
        raise taken
    try:
        # A concurrent change or sign-up can pass the check above; the unique index decides.
        with db.session.begin_nested():
            user.email = new_email
            db.session.flush()
    except IntegrityError:
        raise taken from None
    # Links mailed to the old address (a reset, an older change) must not outlive it.
    spend_other_tokens(user.id, now=now, keep=found.id)
    # Opening the link proved the new address.
    user.email_verified_at = None
    _mark_verified(user, now)
    emit(
        "user.email_changed",
        aggregate_type="user",
        aggregate_id=user.id,
        data={"old_email": old_email, "new_email": new_email},
    )
    db.session.flush()
    return user, old_email
