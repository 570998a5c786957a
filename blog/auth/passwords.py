"""Password hashing (Argon2id) and the password policy."""

from __future__ import annotations

import contextlib
import re
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app

MIN_LENGTH = 8
# Beyond this, hashing is a denial-of-service lever rather than extra safety.
MAX_LENGTH = 256
_TRAILING_NOISE = re.compile(r"[\d\W_]+$")


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_cost: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, type=Type.ID)


def hasher() -> PasswordHasher:
    cfg = current_app.config
    return _hasher(cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"])


def hash_password(password: str) -> str:
    return hasher().hash(password)


@lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_cost: int) -> str:
    return _hasher(time_cost, memory_cost).hash("dummy password for timing")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password. With no hash (unknown user), burn the same time and return False,
    so the response time does not tell whether an account exists."""
    ph = hasher()
    if password_hash is None:
        cfg = current_app.config
        with contextlib.suppress(VerificationError):
            ph.verify(_dummy_hash(cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"]), password)
        return False
    try:
        return ph.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return hasher().check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    path = Path(__file__).with_name("common_passwords.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(
        line.strip().lower() for line in lines if line.strip() and not line.startswith("#")
    )


def password_problems(password: str, *, user_name: str = "", email: str = "") -> list[str]:
    """Why this password is not acceptable; an empty list means it is."""
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    if not any(c.isupper() for c in password):
        problems.append("Include an upper-case letter.")
    if not any(c.islower() for c in password):
        problems.append("Include a lower-case letter.")
    if not any(c.isdigit() for c in password):
        problems.append("Include a digit.")
    lowered = password.lower()
    stem = _TRAILING_NOISE.sub("", lowered)
    common = common_passwords()
    if lowered in common or stem in common or _is_run(stem):
        problems.append("This password is too common; choose one that is harder to guess.")
    else:
        local_part = email.split("@", 1)[0].lower()
        for personal in (user_name.lower(), local_part):
            if len(personal) >= 3 and personal in lowered:
                problems.append("Do not use your user name or email address in your password.")
                break
    return problems


def _is_run(stem: str) -> bool:
    """'' (all digits) or one repeated character ('aaaaaaa1')."""
    return len(set(stem)) <= 1
