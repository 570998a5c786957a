"""New-account limits (Discourse's trust level 0): for accounts younger than a runtime-set
number of hours, fewer links, images, mentions and new conversations. Staff are exempt.

The numbers are the `new_accounts` runtime setting (the admin settings page), read through the
settings cache, so a change takes effect within seconds and without a restart. Each check
raises NewAccountLimit with words for the person: which limit, and when it lifts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from blog.core.db import utcnow
from blog.core.settings import get_setting, register_setting
from blog.extensions import db

STAFF_ROLES = ("admin", "moderator")
DEFAULTS = {
    "new_account_hours": 24,
    "links_per_post": 2,
    "links_per_comment": 2,
    "images_per_post": 1,
    "conversations_per_day": 3,
    "mentions_per_comment": 2,
}
_COUNT = {"type": "integer", "minimum": 0, "maximum": 1000}
NEW_ACCOUNTS = register_setting(
    "new_accounts",
    "New accounts: for this many hours after sign-up (0 turns the limits off), at most this "
    "many links per post and per comment, images per post, new conversations a day and "
    "mentions per comment. Moderators and admins are exempt.",
    DEFAULTS,
    {
        "type": "object",
        "properties": {
            "new_account_hours": {"type": "integer", "minimum": 0, "maximum": 24 * 365},
            **{key: _COUNT for key in DEFAULTS if key != "new_account_hours"},
        },
        "additionalProperties": False,
    },
)

# Links the person wrote: every <a> of the sanitised HTML except the mentions we linked.
_LINK = re.compile(r"<a\s[^>]*>", re.IGNORECASE)
_IMAGE = re.compile(r"<img\s", re.IGNORECASE)
_MENTION = re.compile(r'<a\s[^>]*class="mention"[^>]*>([^<]*)</a>', re.IGNORECASE)


class NewAccountLimit(ValueError):
    """A new account's limit applies; the message says which and when it lifts."""


def _limits() -> dict[str, int]:
    configured = get_setting("new_accounts")
    values = dict(DEFAULTS)
    if isinstance(configured, dict):
        values.update({k: v for k, v in configured.items() if isinstance(v, int)})
    return values


def limits_for(user: Any, now: datetime | None = None) -> tuple[dict[str, int], datetime] | None:
    """The limits that apply to `user` and when they lift, or None (staff, older accounts)."""
    if getattr(user, "role", None) in STAFF_ROLES or getattr(user, "created_at", None) is None:
        return None
    limits = _limits()
    lifts = user.created_at + timedelta(hours=limits["new_account_hours"])
    if (now or utcnow()) >= lifts:
        return None
    return limits, lifts


def when(moment: datetime, now: datetime | None = None) -> str:
    """ "14:05 UTC today", "14:05 UTC tomorrow", or "14:05 UTC on 9 Dec"."""
    now = now or utcnow()
    day = (moment.date() - now.date()).days
    clock = moment.strftime("%H:%M UTC")
    if day == 0:
        return f"{clock} today"
    if day == 1:
        return f"{clock} tomorrow"
    return f"{clock} on {moment.day} {moment:%b}"


def _refuse(what: Callable[[int], str], limit: int, lifts: datetime) -> None:
    raise NewAccountLimit(f"New accounts can add at most {what(limit)} until {when(lifts)}.")


def _plural(one: str, many: str, where: str) -> Callable[[int], str]:
    return lambda n: f"{n} {one if n == 1 else many} {where}"


def count_links(html: str) -> int:
    return sum(1 for tag in _LINK.findall(html) if 'class="mention"' not in tag)


def count_images(html: str) -> int:
    return len(_IMAGE.findall(html))


def check_post(author: Any, html: str) -> None:
    """A post's rendered HTML against the author's limits (links, images)."""
    applied = limits_for(author)
    if applied is None:
        return
    limits, lifts = applied
    if count_links(html) > limits["links_per_post"]:
        _refuse(_plural("link", "links", "to a post"), limits["links_per_post"], lifts)
    if count_images(html) > limits["images_per_post"]:
        _refuse(_plural("image", "images", "to a post"), limits["images_per_post"], lifts)


def count_mentions(html: str, author_name: str = "") -> int:
    """People mentioned: the mentions that became links (live accounts; not the same person
    twice, not the author). A name that matches nobody pings nobody."""
    names = {name.strip().lstrip("@").lower() for name in _MENTION.findall(html)}
    return len(names - {author_name.lower()})


def check_comment(author: Any, html: str) -> None:
    """A comment's rendered HTML against the author's limits (links, mentions)."""
    applied = limits_for(author)
    if applied is None:
        return
    limits, lifts = applied
    if count_links(html) > limits["links_per_comment"]:
        _refuse(_plural("link", "links", "per comment"), limits["links_per_comment"], lifts)
    if count_mentions(html, getattr(author, "user_name", "")) > limits["mentions_per_comment"]:
        _refuse(
            _plural("mention", "mentions", "per comment"), limits["mentions_per_comment"], lifts
        )


def check_new_conversation(user: Any, exists: Callable[[], bool] | None = None) -> None:
    """Before a new conversation: a new account starts at most so many a day. `exists` says
    whether the conversation is already there (then nothing new is started)."""
    from blog.chat.models import Conversation

    applied = limits_for(user)
    if applied is None or (exists is not None and exists()):
        return
    limits, lifts = applied
    started = db.session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(
            Conversation.created_by_id == user.id,
            Conversation.created_at > utcnow() - timedelta(days=1),
        )
    )
    if int(started or 0) >= limits["conversations_per_day"]:
        _refuse(
            _plural("new conversation", "new conversations", "a day"),
            limits["conversations_per_day"],
            lifts,
        )
