"""The face's small helpers: times and pictures of people, as Jinja filters.

Time: every timestamp is shown as `<time datetime>` with a relative phrase ("3 minutes ago",
"yesterday", then a short date) and the exact time in `title` (templates/_macros/ui.html).
static/js/time.js refreshes the phrases in the page with the same rules, without a request.

People: the uploaded avatar's thumbnail, else the initials on a colour derived from the id, drawn
by CSS (`.hue-N`): no request and no query per person; the list query brings the four fields.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from flask import Flask

from blog.core.db import utcnow

HUES = 12  # static/css/app.css defines .hue-0 … .hue-11, each AA-contrast with white text


# Lists repeat the same people and times on every view: the pure formatters are cached (a
# home page shows 20 posts, each with a picture and two times).
@lru_cache(maxsize=8192)
def iso_time(moment: datetime) -> str:
    """A valid HTML datetime: UTC, at most millisecond precision (the Nu checker refuses six)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@lru_cache(maxsize=8192)
def exact_time(moment: datetime) -> str:
    """The full date and time for `title`: "Thursday 3 December 2026, 14:05 UTC"."""
    return moment.astimezone(UTC).strftime("%A %-d %B %Y, %H:%M UTC")


def short_date(moment: datetime, now: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%-d %b" if moment.year == now.year else "%-d %b %Y")


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def relative_time(moment: datetime, now: datetime | None = None) -> str:
    """ "just now", "5 minutes ago", "3 hours ago", "yesterday", "4 days ago", then "3 Dec".

    Future moments (a scheduled post) read "in 5 minutes", "in 3 hours", "tomorrow", then the
    date. Days are counted in UTC, as the server knows no reader's time zone; the page's script
    recounts them in the reader's own.
    """
    now = now or utcnow()
    seconds = (now - moment).total_seconds()
    ahead = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "just now"
    if seconds < 45 * 60:
        n = max(1, round(seconds / 60))
        return f"in {_plural(n, 'minute')}" if ahead else f"{_plural(n, 'minute')} ago"
    if seconds < 22 * 3600:
        n = max(1, round(seconds / 3600))
        return f"in {_plural(n, 'hour')}" if ahead else f"{_plural(n, 'hour')} ago"
    days = abs((now.astimezone(UTC).date() - moment.astimezone(UTC).date()).days)
    if days <= 1:
        return "tomorrow" if ahead else "yesterday"
    if days < 7 and not ahead:
        return f"{days} days ago"
    return short_date(moment, now)


@lru_cache(maxsize=8192)
def initials(name: str | None) -> str:
    """One or two letters for a picture: "Alice Liddell" → "AL", "bob" → "BO"."""
    name = (name or "").strip()
    words = [w for w in name.replace("_", " ").replace(".", " ").replace("-", " ").split() if w]
    letters = "".join(w[0] for w in words[:2]) if len(words) > 1 else name[:2]
    return letters.upper() or "?"


@lru_cache(maxsize=8192)
def avatar_hue(person_id: uuid.UUID | str | None) -> int:
    """A stable colour index for a person (the same in every list and on every visit)."""
    if person_id is None:
        return 0
    raw = person_id.bytes if isinstance(person_id, uuid.UUID) else str(person_id).encode()
    return hashlib.sha256(raw).digest()[0] % HUES


def reading_minutes(words: int) -> int:
    """Minutes to read `words` at 230 words a minute, at least one."""
    return max(1, round(words / 230))


def _relative(moment: datetime | None) -> str:
    return relative_time(moment) if moment is not None else ""


def init_ui(app: Flask) -> None:
    filters: dict[str, Any] = {
        "iso_time": iso_time,
        "exact_time": exact_time,
        "relative_time": _relative,
        "initials": initials,
        "avatar_hue": avatar_hue,
    }
    app.jinja_env.filters.update(filters)
