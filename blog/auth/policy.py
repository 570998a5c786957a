"""Account policies an operator changes at runtime (/admin/settings): retention of deleted
accounts and whether sign-ups are open."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from blog.core.settings import get_setting, register_setting

DEFAULT_RETENTION_DAYS = 30


FEATURE_FLAGS = register_setting(
    "feature_flags",
    "Switches: registration_open (new sign-ups with a password or Google).",
    {"registration_open": True},
    {
        "type": "object",
        "properties": {"registration_open": {"type": "boolean"}},
        "additionalProperties": {"type": "boolean"},
    },
)

RETENTION = register_setting(
    "retention",
    "Retention in days: a deleted account's personal data (an admin can restore it until then).",
    {"account_days": 30},
    {
        "type": "object",
        "properties": {"account_days": {"type": "integer", "minimum": 1, "maximum": 3650}},
        "additionalProperties": False,
    },
)


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
