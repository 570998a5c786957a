"""Factories: real rows through the real services, committed."""

from __future__ import annotations

import itertools
from typing import Any

from blog.auth.models import User
from blog.auth.services import register_user
from blog.extensions import db

DEFAULT_PASSWORD = "Correct-Horse-7"
_seq = itertools.count(1)


def make_user(
    *,
    email: str | None = None,
    user_name: str | None = None,
    password: str = DEFAULT_PASSWORD,
    role: str = "user",
    **attrs: Any,
) -> User:
    """Create and commit a user (call inside an app context)."""
    n = next(_seq)
    user = register_user(
        email=email or f"user{n}@example.com",
        user_name=user_name or f"user{n}",
        password=password,
        role=role,
    )
    for key, value in attrs.items():
        setattr(user, key, value)
    db.session.commit()
    return user
