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
from markupsafe import Markup, escape

from blog.core.db import utcnow
from blog.core.urls import path_for

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


# --------------------------------------------------------------------------- the markup
# templates/_macros/ui.html exports these as `time`, `avatar` and `icon`. They are Python, not
# Jinja macros: a list draws one picture and one or two times per row, and a macro call costs
# ~30 Python calls of Jinja's machinery before any output (home_page: 20 cards, 8 icons).
# The markup is built from f-strings (S704 is waived line by line): every value put in is
# escaped here, or made by this module from dates and numbers (no character to escape).


def time_html(moment: datetime | None, cls: str = "", exact: bool = False) -> Markup:
    """`<time datetime>`: a relative phrase (static/js/time.js keeps it fresh), or with
    `exact` the date and time itself; the full moment in `title` either way."""
    if not moment:
        return Markup("")
    klass = f' class="{escape(cls)}"' if cls else ""
    if exact:
        shown = moment.strftime("%-d %b %Y, %H:%M UTC")
        return Markup(  # noqa: S704 - values escaped or ours
            f'<time datetime="{iso_time(moment)}" title="{exact_time(moment)}"{klass}>'
            f"{shown}</time>"
        )
    return Markup(  # noqa: S704 - values escaped or ours
        f'<time datetime="{iso_time(moment)}" title="{exact_time(moment)}" data-relative{klass}>'
        f"{relative_time(moment)}</time>"
    )


def avatar_html(person: Any, size: int = 32, alt: str = "", src: str | None = None) -> Markup:
    """The picture of a person: the uploaded avatar's thumbnail, else initials on a stable
    colour; None is a deleted account. `src`: the thumbnail's URL where no request can build
    it (a socket's fragment). `person` needs id, user_name, display_name, avatar_file_id."""
    if person is None:
        return _gone(int(size))
    if isinstance(person, dict):  # a group's picture: its name on its colour
        get = person.get
        file_id, pid, name = (
            get("avatar_file_id"),
            get("id"),
            get("display_name") or get("user_name"),
        )
    else:
        file_id, pid = person.avatar_file_id, person.id
        name = person.display_name or person.user_name
    if file_id:
        url = src or path_for("uploads.thumbnail", file_id=file_id)
        return _picture(url, int(size), str(alt))
    return _initials(pid, name, int(size), str(alt))


@lru_cache(maxsize=64)
def _gone(size: int) -> Markup:
    return Markup(f'<span class="avatar avatar-{size} avatar-gone" aria-hidden="true">?</span>')  # noqa: S704


@lru_cache(maxsize=8192)
def _picture(url: str, size: int, alt: str) -> Markup:
    return Markup(  # noqa: S704 - values escaped or ours
        f'<img class="avatar avatar-{size}" src="{escape(url)}" alt="{escape(alt)}" '
        f'width="{size}" height="{size}" loading="lazy" decoding="async">'
    )


@lru_cache(maxsize=8192)
def _initials(person_id: Any, name: str, size: int, alt: str) -> Markup:
    label = f' role="img" aria-label="{escape(alt)}"' if alt else ' aria-hidden="true"'
    return Markup(  # noqa: S704 - values escaped or ours
        f'<span class="avatar avatar-{size} hue-{avatar_hue(person_id)}"{label}>'
        f"{escape(initials(name))}</span>"
    )


_ICON_PATHS = {
    "home": '<path d="M3 11l9-8 9 8"/><path d="M5 10v10h14V10"/>',
    "tag": '<path d="M20.6 13.4l-7.2 7.2a2 2 0 0 1-2.8 0L3 13V3h10l7.6 7.6a2 2 0 0 1 0 2.8z"/>'
    '<circle cx="7.5" cy="7.5" r="1.5"/>',
    "search": '<circle cx="11" cy="11" r="7"/><path d="M21 21l-4.3-4.3"/>',
    "write": '<path d="M12 20h9"/><path d="M16.5 3.5a2.1 2.1 0 0 1 3 3L7 19l-4 1 1-4z"/>',
    "chat": '<path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/>',
    "bell": '<path d="M18 8A6 6 0 0 0 6 8c0 7-3 9-3 9h18s-3-2-3-9"/>'
    '<path d="M13.7 21a2 2 0 0 1-3.4 0"/>',
    "menu": '<path d="M3 6h18M3 12h18M3 18h18"/>',
    "chevron": '<path d="M6 9l6 6 6-6"/>',
    "bookmark": '<path d="M19 21l-7-5-7 5V5a2 2 0 0 1 2-2h10a2 2 0 0 1 2 2z"/>',
}


@lru_cache(maxsize=64)
def icon_html(name: str, size: int = 20) -> Markup:
    """A line icon (24-unit grid, the stroke in the text colour), hidden from screen readers:
    the link or button it sits in carries the words."""
    return Markup(  # noqa: S704 - values escaped or ours
        f'<svg class="icon" aria-hidden="true" width="{size}" height="{size}" viewBox="0 0 24 24" '
        'fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" '
        f'stroke-linejoin="round">{_ICON_PATHS.get(name, "")}</svg>'
    )


def init_ui(app: Flask) -> None:
    filters: dict[str, Any] = {
        "iso_time": iso_time,
        "exact_time": exact_time,
        "relative_time": _relative,
        "initials": initials,
        "avatar_hue": avatar_hue,
    }
    app.jinja_env.filters.update(filters)
    app.jinja_env.globals.update(
        _ui_time_html=time_html, _ui_avatar_html=avatar_html, _ui_icon_html=icon_html
    )
