"""Users, their signed-in devices (server-side sessions) and their single-use mail tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Mapped, mapped_column, relationship

from blog.core.db import Base, Timestamps, UUIDPrimaryKey, utcnow

Role = Literal["admin", "moderator", "user"]
ROLES: tuple[Role, ...] = ("admin", "moderator", "user")
STATUSES = ("active", "suspended")
PROVIDERS = ("local", "google")
TokenPurpose = Literal["verify_email", "reset_password", "change_email"]

# Kept deliberately loose (one @, a dot in the domain, no spaces): the form validates properly
# with email-validator; the database only refuses what is certainly not an address.
EMAIL_CHECK = r"email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' AND email = lower(email)"

# What a purged account keeps in password_hash (a local account must have one): never a valid
# Argon2 hash, so no password matches it.
PURGED_PASSWORD = "!purged"  # noqa: S105 - a marker that can never verify, not a secret


class User(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(EMAIL_CHECK, name="email_format"),
        CheckConstraint("role IN ('admin', 'moderator', 'user')", name="role"),
        CheckConstraint("status IN ('active', 'suspended')", name="status"),
        CheckConstraint("provider IN ('local', 'google')", name="provider"),
        CheckConstraint("theme IN ('system', 'light', 'dark')", name="theme"),
        CheckConstraint("char_length(user_name) BETWEEN 3 AND 255", name="user_name_length"),
        CheckConstraint("bio IS NULL OR char_length(bio) <= 1000", name="bio_length"),
        CheckConstraint(
            "provider <> 'local' OR password_hash IS NOT NULL", name="local_has_password"
        ),
        # A reason and an end belong to a suspension only: reinstating must clear them.
        CheckConstraint(
            "status <> 'active' OR (suspended_reason IS NULL AND suspended_until IS NULL)",
            name="suspension_only_when_suspended",
        ),
        # User names are unique whatever their case: "Ada" and "ada" are one person's name.
        Index("uq_users_user_name_lower", text("lower(user_name)"), unique=True),
        # The admin's user search is by prefix, through these (no pg_trgm on the embedded
        # PostgreSQL): a substring LIKE would read all the accounts.
        Index("ix_users_user_name_prefix", text("lower(user_name) text_pattern_ops")),
        Index("ix_users_email_prefix", text("email text_pattern_ops")),
        Index("ix_users_display_name_prefix", text("lower(display_name) text_pattern_ops")),
        Index("ix_users_created_at_id", text("created_at DESC"), "id"),
    )

    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    user_name: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="user", server_default="user")
    provider: Mapped[str] = mapped_column(String(20), default="local", server_default="local")
    status: Mapped[str] = mapped_column(String(20), default="active", server_default="active")
    email_verified_at: Mapped[datetime | None]
    # Reset and email-change links issued before this instant are dead (VerificationToken.problem).
    password_changed_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    suspended_reason: Mapped[str | None] = mapped_column(Text)
    # None while suspended means "until further notice".
    suspended_until: Mapped[datetime | None]
    purge_after: Mapped[datetime | None]
    # The public profile. The user name is the handle in URLs and mentions; the display name
    # is optional and free-form.
    display_name: Mapped[str | None] = mapped_column(String(100))
    bio: Mapped[str | None] = mapped_column(Text)
    # The colour scheme the person chose; "system" follows prefers-color-scheme.
    theme: Mapped[str] = mapped_column(String(10), default="system", server_default="system")
    # An uploaded avatar (blog/uploads); the generated SVG stands in while it is unset.
    # use_alter: file_metadata refers back to users (its uploader).
    avatar_file_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("file_metadata.id", ondelete="SET NULL", use_alter=True), index=True
    )

    sessions: Mapped[list[UserSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    accounts: Mapped[list[Account]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    # Flask-Login's protocol. `is_active` is False for anyone who may not act.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.can_sign_in

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def can_sign_in(self) -> bool:
        return self.status == "active" and self.deleted_at is None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_moderator(self) -> bool:
        """Moderators and admins: admins can do everything a moderator can."""
        return self.role in ("admin", "moderator")

    @property
    def has_password(self) -> bool:
        """False for an account made through Google that never set one (and a purged one)."""
        return self.password_hash is not None and self.password_hash != PURGED_PASSWORD

    @property
    def is_verified(self) -> bool:
        return self.email_verified_at is not None

    def set_password_hash(self, password_hash: str, now: datetime) -> None:
        """A new password; every reset or email-change link issued before `now` dies with it."""
        self.password_hash = password_hash
        self.password_changed_at = now

    def suspend(self, *, reason: str, until: datetime | None = None) -> None:
        """Suspend with a reason, until `until` (aware) or until further notice."""
        if self.deleted_at is not None:
            raise ValueError("a deleted account cannot be suspended")
        if not reason.strip():
            raise ValueError("a suspension needs a reason")
        if until is not None and until.tzinfo is None:
            raise ValueError("suspended_until must be an aware datetime")
        self.status = "suspended"
        self.suspended_reason = reason.strip()
        self.suspended_until = until

    def reinstate(self) -> None:
        self.status = "active"
        self.suspended_reason = None
        self.suspended_until = None

    def soft_delete(self, *, now: datetime, purge_after: datetime) -> None:
        """Mark the account deleted; its personal data goes at `purge_after` (aware)."""
        if self.deleted_at is not None:
            raise ValueError("this account is already deleted")
        if purge_after.tzinfo is None or purge_after < now:
            raise ValueError("purge_after must be an aware datetime after now")
        self.deleted_at = now
        self.purge_after = purge_after

    def can_be_restored(self, now: datetime) -> bool:
        """Deleted, and its personal data not yet purged nor due to be."""
        return (
            self.deleted_at is not None and self.purge_after is not None and self.purge_after > now
        )

    def restore(self, now: datetime) -> None:
        if not self.can_be_restored(now):
            raise ValueError("only a deleted account not yet purged can be restored")
        self.deleted_at = None
        self.purge_after = None

    def anonymise(self) -> None:
        """Replace the personal data of a deleted account; the row stays for what refers to it.

        The email and user name keep the CHECKs and stay unique (they derive from the id);
        the password marker is no valid hash, so verify_password always refuses it.
        """
        if self.deleted_at is None:
            raise ValueError("only a deleted account can be anonymised")
        self.email = f"deleted-{self.id.hex}@invalid.example"
        self.user_name = f"deleted-{self.id.hex[:12]}"
        self.password_hash = PURGED_PASSWORD
        self.email_verified_at = None
        self.last_login_at = None
        self.password_changed_at = None
        self.purge_after = None

    def suspension_is_over(self, now: datetime) -> bool:
        """A suspension with an end that has passed (the cron job has not lifted it yet)."""
        return (
            self.status == "suspended"
            and self.suspended_until is not None
            and self.suspended_until <= now
        )

    def __repr__(self) -> str:
        return f"<User {self.user_name}>"


class Account(UUIDPrimaryKey, Base):
    """An external identity (an OpenID Connect provider's subject) that signs in as a user."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("provider IN ('google')", name="provider"),
        CheckConstraint("char_length(subject) > 0", name="subject_present"),
        UniqueConstraint("provider", "subject"),
        UniqueConstraint("user_id", "provider"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(20))
    # The provider's stable id for the person ("sub"); the email may change, the subject never.
    subject: Mapped[str] = mapped_column(String(255))
    # The address the provider reported at link time: shown on the account page only.
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="accounts")


class UserSession(UUIDPrimaryKey, Base):
    """One signed-in device. The cookie carries a random token; we keep only its SHA-256.

    The token has 256 bits of entropy, so a fast hash is right here (no brute force is
    possible) and lets the lookup use the unique index.
    """

    __tablename__ = "sessions"
    __table_args__ = (
        CheckConstraint("octet_length(token_hash) = 32", name="token_hash_sha256"),
        CheckConstraint(
            "previous_token_hash IS NULL OR octet_length(previous_token_hash) = 32",
            name="previous_token_hash_sha256",
        ),
        CheckConstraint("expires_at > created_at", name="expires_after_created"),
        # The lookup of a cookie from just before a rotation (see blog/auth/sessions.py).
        Index(
            "ix_sessions_previous_token_hash",
            "previous_token_hash",
            postgresql_where=text("previous_token_hash IS NOT NULL"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[bytes] = mapped_column(unique=True)
    # The token is replaced periodically; the one it replaced stays good for a few seconds, so
    # requests already in flight with the old cookie are not signed out.
    token_rotated_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    previous_token_hash: Mapped[bytes | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    remember: Mapped[bool] = mapped_column(default=False, server_default="false")
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ip: Mapped[str | None] = mapped_column(INET)

    user: Mapped[User] = relationship(back_populates="sessions")

    def is_valid(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now

    def revoke(self, now: datetime) -> None:
        if self.revoked_at is None:
            self.revoked_at = now


class VerificationToken(UUIDPrimaryKey, Base):
    """A single-use link mailed to a user: confirm an address, reset a password, change email.

    The link carries a random token; we keep only its SHA-256 (256 bits of entropy: a fast
    hash is right, as for sessions). `used_at` makes it single use.
    """

    __tablename__ = "verification_tokens"
    __table_args__ = (
        CheckConstraint(
            "purpose IN ('verify_email', 'reset_password', 'change_email')", name="purpose"
        ),
        CheckConstraint("octet_length(token_hash) = 32", name="token_hash_sha256"),
        CheckConstraint("expires_at > created_at", name="expires_after_created"),
        # The address to switch to travels with (and only with) a change_email token.
        CheckConstraint(
            "(purpose = 'change_email') = (new_email IS NOT NULL)", name="new_email_iff_change"
        ),
        CheckConstraint(EMAIL_CHECK.replace("email", "new_email"), name="new_email_format"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[bytes] = mapped_column(unique=True)
    new_email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    def problem(self, now: datetime) -> Literal["used", "expired", "superseded"] | None:
        """Why this token may not be used now, or None if it may."""
        if self.used_at is not None:
            return "used"
        if self.expires_at <= now:
            return "expired"
        # A password change kills every reset and email-change link issued before it: someone
        # who had the old password (or the mailbox) must not keep a way back in.
        changed = self.user.password_changed_at
        if (
            self.purpose in ("reset_password", "change_email")
            and changed is not None
            and self.created_at <= changed
        ):
            return "superseded"
        if self.user.deleted_at is not None:
            return "superseded"
        return None

    def use(self, now: datetime) -> None:
        """Spend the token. Refuses a token that is not usable: single use is an invariant."""
        problem = self.problem(now)
        if problem is not None:
            raise ValueError(f"this token cannot be used ({problem})")
        self.used_at = now
