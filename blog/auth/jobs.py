"""Periodic account housekeeping."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_, select

from blog.audit.services import record_audit
from blog.auth.models import User, UserSession, VerificationToken
from blog.auth.services import lift_suspension_if_over
from blog.core.db import utcnow
from blog.exports.sections import purge_sections  # --- exports
from blog.extensions import db

# Ended sessions stay listed for a week (useful when a user asks "was that me?").
KEEP_ENDED_SESSIONS = timedelta(days=7)
# Dead mail links are kept a week too, so a late click still hears "expired", not "not valid".
KEEP_EXPIRED_TOKENS = timedelta(days=7)
# Accounts anonymised per transaction: row locks are held for one batch only.
PURGE_BATCH = 100


def purge_expired_sessions() -> int:
    """Delete sessions that expired or were revoked more than a week ago. Idempotent."""
    cutoff = utcnow() - KEEP_ENDED_SESSIONS
    result = db.session.execute(
        delete(UserSession).where(
            or_(UserSession.expires_at < cutoff, UserSession.revoked_at < cutoff)
        )
    )
    db.session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


def purge_expired_tokens() -> int:
    """Delete mail tokens that expired more than a week ago (used or not). Idempotent."""
    cutoff = utcnow() - KEEP_EXPIRED_TOKENS
    result = db.session.execute(
        delete(VerificationToken).where(VerificationToken.expires_at < cutoff)
    )
    db.session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


def lift_expired_suspensions() -> int:
    """Reinstate every account whose suspension has ended. Idempotent; returns how many."""
    # SKIP LOCKED: a row being signed in with (which lifts it too) or edited by a moderator
    # is left to that transaction; the next run sees whatever it decided.
    ids = db.session.scalars(
        select(User.id)
        .where(User.status == "suspended")
        .where(User.suspended_until <= utcnow())
        .with_for_update(skip_locked=True)
    ).all()
    lifted = 0
    for user_id in ids:
        user = db.session.get(User, user_id)
        if user is not None and lift_suspension_if_over(user):
            lifted += 1
    db.session.commit()
    return lifted


def purge_deleted_accounts() -> int:
    """Anonymise every deleted account whose retention has passed. Idempotent; returns how many.

    The row stays (audit entries and posts refer to it); its personal data, sessions and mail
    tokens go. purge_after is cleared, so each account is purged once.
    """
    purged = 0
    while True:
        # SKIP LOCKED: a row an admin is restoring is left to that transaction; if the restore
        # fails, the next run purges it.
        users = db.session.scalars(
            select(User)
            .where(User.deleted_at.is_not(None))
            .where(User.purge_after <= utcnow())
            .order_by(User.purge_after)
            .limit(PURGE_BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        if not users:
            break
        ids = [user.id for user in users]
        db.session.execute(delete(UserSession).where(UserSession.user_id.in_(ids)))
        db.session.execute(delete(VerificationToken).where(VerificationToken.user_id.in_(ids)))
        # --- exports: everything "Download your data" lists goes too (blog/exports/sections.py)
        purge_sections(ids)
        # --- end exports
        for user in users:
            user.anonymise()
            # No personal data in the entry: it would outlive the purge.
            record_audit(actor_id=None, action="user.purge", entity_type="user", entity_id=user.id)
        db.session.commit()
        purged += len(users)
    db.session.commit()
    return purged
