"""The runtime settings operators may change from /admin/settings: each key, what it means, its
default and the JSON Schema its value must meet (jsonschema, Draft 2020-12)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match


class SettingInvalid(ValueError):
    """The value does not fit its key's schema; the message says where and why."""


@dataclass(frozen=True)
class Setting:
    key: str
    description: str
    default: Any
    schema: dict[str, Any]
    check: Callable[[Any], str | None] | None = field(default=None)

    def validate(self, value: Any) -> None:
        error = best_match(Draft202012Validator(self.schema).iter_errors(value))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path)
            raise SettingInvalid(f"{where + ': ' if where else ''}{error.message}")
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise SettingInvalid(problem)


def _check_limits(value: dict[str, str]) -> str | None:
    from limits import parse_many

    for name, spec in value.items():
        try:
            parse_many(spec)
        except ValueError:
            return f"{name}: {spec!r} is not a limit such as '10/minute;100/hour'"
    return None


def _limit_names() -> list[str]:
    from blog.auth.limits import LIMIT_DEFAULTS

    return sorted(LIMIT_DEFAULTS)


def _settings() -> dict[str, Setting]:
    return {
        s.key: s
        for s in (
            Setting(
                "maintenance",
                "Maintenance mode: everyone but administrators gets a 503 page with this message. "
                "/healthz and /readyz stay up; sign-in stays open so administrators can get in.",
                {"enabled": False, "message": ""},
                {
                    "type": "object",
                    "properties": {
                        "enabled": {"type": "boolean"},
                        "message": {"type": "string", "maxLength": 500},
                    },
                    "required": ["enabled"],
                    "additionalProperties": False,
                },
            ),
            Setting(
                "rate_limits",
                'Rate limits of account actions, e.g. {"login": "10/minute;100/hour"}. '
                "Names: " + ", ".join(_limit_names()) + ". Unset names keep their defaults.",
                {},
                {
                    "type": "object",
                    "propertyNames": {"enum": _limit_names()},
                    "additionalProperties": {"type": "string", "minLength": 3, "maxLength": 200},
                },
                _check_limits,
            ),
            Setting(
                "feature_flags",
                "Switches: registration_open (new sign-ups with a password or Google).",
                {"registration_open": True},
                {
                    "type": "object",
                    "properties": {"registration_open": {"type": "boolean"}},
                    "additionalProperties": {"type": "boolean"},
                },
            ),
            Setting(
                "uploads",
                "Uploads: largest file in bytes, and each user's storage quota in bytes.",
                {"max_bytes": 10 * 1024 * 1024, "quota_bytes": 500 * 1024 * 1024},
                {
                    "type": "object",
                    "properties": {
                        "max_bytes": {"type": "integer", "minimum": 1024, "maximum": 1 << 30},
                        "quota_bytes": {"type": "integer", "minimum": 0, "maximum": 1 << 40},
                    },
                    "additionalProperties": False,
                },
            ),
            Setting(
                "chat",
                "Chat: the longest message in characters (at most 4000), and the quiet period in "
                "minutes: someone away gets at most one notice per conversation per period.",
                {"max_message_chars": 4000, "quiet_minutes": 15},
                {
                    "type": "object",
                    "properties": {
                        "max_message_chars": {"type": "integer", "minimum": 1, "maximum": 4000},
                        "quiet_minutes": {"type": "integer", "minimum": 0, "maximum": 1440},
                    },
                    "additionalProperties": False,
                },
            ),
            Setting(
                "moderation",
                "Flags: content is hidden once this many different readers flag it, until a "
                "moderator decides.",
                {"flags_to_hide": 3},
                {
                    "type": "object",
                    "properties": {
                        "flags_to_hide": {"type": "integer", "minimum": 1, "maximum": 100}
                    },
                    "additionalProperties": False,
                },
            ),
            Setting(
                "monitoring",
                "Database monitoring: statements slower than slow_query_ms (milliseconds) are "
                "kept in the slow-statement log shown on /admin/database.",
                {"slow_query_ms": 200},
                {
                    "type": "object",
                    "properties": {
                        "slow_query_ms": {"type": "integer", "minimum": 1, "maximum": 600000}
                    },
                    "additionalProperties": False,
                },
            ),
            Setting(
                "retention",
                "Retention in days: a deleted account's personal data (an admin can restore it "
                "until then).",
                {"account_days": 30},
                {
                    "type": "object",
                    "properties": {
                        "account_days": {"type": "integer", "minimum": 1, "maximum": 3650}
                    },
                    "additionalProperties": False,
                },
            ),
        )
    }


SETTINGS = _settings()


def setting_default(key: str) -> Any:
    return SETTINGS[key].default
