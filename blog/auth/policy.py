"""Account policies an operator changes at runtime (/admin/settings): retention of deleted
accounts and whether sign-ups are open."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from blog.ops.runtime import get_setting

DEFAULT_RETENTION_DAYS = 30


def retention() -> timedelta:
    """How long a deleted account's personal data is kept (an admin can restore it meanwhile):
    the `retention` setting, else the ACCOUNT_RETENTION_DAYS app setting, else 30 days."""
    stored = get_setting("retention", {})
    days = stored.get("account_days") if isinstance(stored, dict) else None
    if not isinstance(days, int) or days < 1:
        days = int(current_app.config.get("ACCOUNT_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))
    return timedelta(days=days)


def registration_open() -> bool:
    flags = get_setting("feature_flags")
    return not isinstance(flags, dict) or flags.get("registration_open", True) is not False
