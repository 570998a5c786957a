"""Single-use mail tokens: issue one (raw token out, only its hash kept), find and lock one.

Services add and flush; nothing here commits.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import contains_eager

from blog.auth.models import TokenPurpose, User, VerificationToken
from blog.auth.sessions import hash_token, new_token
from blog.core.db import utcnow
from blog.extensions import db

LIFETIMES: dict[str, timedelta] = {
    "verify_email": timedelta(hours=24),
    "reset_password": timedelta(hours=1),
    "change_email": timedelta(hours=24),
}
# What new_token() makes: secrets.token_urlsafe(32), 43 characters of base64url. Anything else
# is refused before it reaches the database.
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")

Problem = Literal["unknown", "used", "expired", "superseded"]


class TokenInvalid(Exception):
    """The link cannot be used; `problem` says why (for the page, not for logic)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem)
        self.problem: Problem = problem


def issue_token(
    user: User, purpose: TokenPurpose, *, new_email: str | None = None, now: datetime | None = None
) -> str:
    """Add a token for `user` and return the raw value for the link (never stored)."""
    now = now or utcnow()
    token, token_hash = new_token()
    db.session.add(
        VerificationToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=token_hash,
            new_email=new_email,
            created_at=now,
            expires_at=now + LIFETIMES[purpose],
        )
    )
    db.session.flush()
    return token


def access_token(token: str, purpose: TokenPurpose, *, lock: bool = False) -> VerificationToken:
    """The usable token behind a link, or TokenInvalid. `lock` holds its row (and its user's)
    until commit, so two clicks at once spend it once."""
    if not TOKEN_SHAPE.match(token):
        raise TokenInvalid("unknown")
    stmt = (
        select(VerificationToken)
        .join(User, VerificationToken.user_id == User.id)
        .where(VerificationToken.token_hash == hash_token(token))
        .where(VerificationToken.purpose == purpose)
        .options(contains_eager(VerificationToken.user))
    )
    if lock:
        # populate_existing: re-read used_at after waiting for a concurrent spender's commit.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    found = db.session.scalar(stmt)
    if found is None:
        raise TokenInvalid("unknown")
    problem = found.problem(utcnow())
    if problem is not None:
        raise TokenInvalid(problem)
    return found


def spend_other_tokens(user_id: uuid.UUID, *, now: datetime, keep: uuid.UUID | None = None) -> int:
    """Mark every other unused token of a user spent (its links now answer "already used")."""
    stmt = (
        update(VerificationToken)
        .where(VerificationToken.user_id == user_id)
        .where(VerificationToken.used_at.is_(None))
        .values(used_at=now)
    )
    if keep is not None:
        stmt = stmt.where(VerificationToken.id != keep)
    return int(db.session.execute(stmt).rowcount)  # type: ignore[attr-defined]
