"""The rate limits of account actions (Flask-Limiter on Redis), and the keys they count by.

Each limit is read at request time: first the `rate_limits` row of the `configuration` table
(a JSON object such as {"login": "10/minute;100/hour"}, editable at runtime), then an
`AUTH_<NAME>_LIMIT` app setting, then the default below. A malformed value is logged and
skipped, never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Response, current_app, request
from flask_login import current_user
from limits import parse_many

from blog.core.settings import get_setting, register_setting

log = logging.getLogger(__name__)

CONFIG_KEY = "rate_limits"

# Pages that check the current password ("reauth") are a password oracle for a stolen session,
# so they are limited too.
LIMIT_DEFAULTS = {
    "login": "10/minute;100/hour",
    "register": "10/hour",
    "reset": "5/minute;20/hour",
    "reset_email": "5/hour",
    "verify_resend": "3/hour;10/day",
    "reauth": "5/minute;30/hour",
    "account_mail": "5/hour",
    "comment": "10/minute;200/day",
    "flag": "20/hour",
    "post": "10/hour;50/day",  # new posts saved (blog/posts/editor.py)
    "preview": "120/minute",  # the editor's live preview and tag suggestions
    "autosave": "60/minute;1500/hour",  # the editor's background saves of drafts
    "chat_send": "20/10seconds;1000/hour",  # chat messages, by POST or over the websocket
    "chat_start": "30/hour",  # new conversations
    "data_export": "5/hour",  # --- exports: a flood guard; the service allows one a day
    "react": "60/minute;600/hour",  # likes and bookmarks (blog/reactions), on and off
}


def _check_limits(value: dict[str, str]) -> str | None:
    for name, spec in value.items():
        try:
            parse_many(spec)
        except ValueError:
            return f"{name}: {spec!r} is not a limit such as '10/minute;100/hour'"
    return None


RATE_LIMITS = register_setting(
    "rate_limits",
    'Rate limits of account actions, e.g. {"login": "10/minute;100/hour"}. '
    "Names: " + ", ".join(sorted(LIMIT_DEFAULTS)) + ". Unset names keep their defaults.",
    {},
    {
        "type": "object",
        "propertyNames": {"enum": sorted(LIMIT_DEFAULTS)},
        "additionalProperties": {"type": "string", "minLength": 3, "maxLength": 200},
    },
    _check_limits,
)


def limit_for(name: str) -> str:
    """The limit string in force for `name` now."""
    configured = get_setting(CONFIG_KEY, {})
    candidates = (
        (
            f"configuration {CONFIG_KEY}.{name}",
            configured.get(name) if isinstance(configured, dict) else None,
        ),
        (f"AUTH_{name.upper()}_LIMIT", current_app.config.get(f"AUTH_{name.upper()}_LIMIT")),
    )
    for source, value in candidates:
        if value is None:
            continue
        if _valid(value):
            return str(value)
        log.warning("rate limit %s=%r is not a valid limit; ignored", source, value)
    return LIMIT_DEFAULTS[name]


def _valid(value: object) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        return bool(parse_many(value))
    except ValueError:
        return False


def limit(name: str) -> Callable[[], str]:
    """The limit for Flask-Limiter's decorator, looked up on each request."""
    if name not in LIMIT_DEFAULTS:
        raise KeyError(f"no rate limit named {name!r}")
    return lambda: limit_for(name)


def hit(name: str, key: str) -> bool:
    """Count one use of limit `name` by `key` where no decorator can (a websocket message).

    False when over the limit. The counts live in the limiter's storage, so a POST and a socket
    message of the same action share them. If that storage is unreachable, the action is
    allowed (as the decorators do): a Redis outage must not stop the site.
    """
    from blog.extensions import limiter

    allowed = True
    try:
        for item in parse_many(limit_for(name)):
            # Every window counts the hit, even after one is already over.
            allowed = limiter.limiter.hit(item, name, key) and allowed
    except Exception as exc:  # noqa: BLE001 - the storage's errors vary by backend
        log.warning("rate limit %s could not be counted: %s", name, exc)
        return True
    return allowed


def login_email_key() -> str:
    # A second limit keyed on the account, so one email cannot be guessed at from many IPs.
    return "email:" + request.form.get("email", "").strip().lower()[:320]


def reset_email_key() -> str:
    # Per address too: nobody can flood one mailbox with reset mail from many IPs.
    return "reset-email:" + request.form.get("email", "").strip().lower()[:320]


def user_key() -> str:
    # Limits run before the view's own checks: an anonymous caller falls back to the IP.
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"ip:{request.remote_addr}"


def mail_was_sent(response: Response) -> bool:
    # Count only the requests that queue a mail (a redirect after success), not refusals.
    return response.status_code in (302, 303, 204)
