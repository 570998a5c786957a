"""Periodic account housekeeping."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_

from blog.auth.models import UserSession, VerificationToken
from blog.core.db import utcnow
from blog.extensions import db

# Ended sessions stay listed for a week (useful when a user asks "was that me?").
KEEP_ENDED_SESSIONS = timedelta(days=7)
# Dead mail links are kept a week too, so a late click still hears "expired", not "not valid".
KEEP_EXPIRED_TOKENS = timedelta(days=7)


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
