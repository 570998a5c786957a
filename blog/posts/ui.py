"""The post card of every list, drawn once and reused: the card macro memoised by what it shows.

A card (templates/posts/_macros.html `post_item`) is a pure function of its post summary (title,
author, tags, counts, the viewer's like and save marks), the phrase of its time ("3 hours
ago") and the search highlights: the list's one statement reads all of it, so the summary
itself, with the phrase, is the key, and an edit, a new comment or like, a renamed author or
tag makes a new key rather than needing an invalidation. The two values of the Save form that
belong to one request, the CSRF token (it changes every second) and the page to come back to,
are drawn as markers and put in on every call.

Why: the card was ~40% of the home page's application CPU (benchmarks/home_page.py, issue 18
item 5), and the first page of a list is the same for every reader until something on it
changes. Per process, bounded (CARD_CACHE_SIZE cards, least recently used out first: ~3 KB a
card with its key, so at most ~12 MB).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import request
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from blog.core.ui import relative_time
from blog.posts.queries import PostSummary

CARD_CACHE_SIZE = 4096
# Stand-ins for the request's values. NUL cannot come out of the macro otherwise: no post field
# can hold it (PostgreSQL text refuses it), and escaping leaves it as it is.
_TOKEN = "\x00token\x00"  # noqa: S105 - a marker, not a secret
_BACK = "\x00back\x00"


@lru_cache(maxsize=CARD_CACHE_SIZE)
def _card(
    macro: Any,
    post: PostSummary,
    *,
    phrase: str,
    title: Markup | None,
    snippet: Markup | None,
    page_start: bool,
) -> str:
    """The card's markup, markers in. `phrase` is only a key: the macro works it out again
    from the clock; a rendering that straddles a minute is one phrase behind until the next
    key, as a page drawn a second earlier would be."""
    del phrase
    card = macro(
        post, title=title, snippet=snippet, page_start=page_start, back=_BACK, token=_TOKEN
    )
    return str(card)


def post_card(
    macro: Any,
    post: PostSummary,
    *,
    title: Markup | None = None,
    snippet: Markup | None = None,
    page_start: bool = False,
    back: str | None = None,
    token: str | None = None,
) -> Markup:
    """One card: `macro` is templates/posts/_macros.html's `post_item` (the key's first part,
    so a reloaded template or another app never reuses markup it did not draw)."""
    html = _card(
        macro,
        post,
        phrase=relative_time(post.published_at),
        title=title,
        snippet=snippet,
        page_start=bool(page_start),
    )
    if post.saved is not None:  # a signed-in reader's card has a Save form
        html = html.replace(_TOKEN, escape(token or generate_csrf())).replace(
            _BACK, escape(back or request.full_path.rstrip("?"))
        )
    return Markup(html)  # noqa: S704 - the macro's escaped output, our values escaped here
