"""The Save button of a post: one function, drawn on every card of a signed-in reader's lists
and by reactions/_save.html (the post page and the htmx answer).

Python rather than a Jinja macro, like blog.core.ui's time, avatar and icon: a list draws it
20 times a page, and the macro's call and its escapes cost as much as the rest of the card.
Every value put into the markup is escaped here or made here (ids, paths, "0"/"1").
"""

from __future__ import annotations

import uuid

from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from blog.core.ui import icon_html
from blog.core.urls import path_for


def save_button_html(
    post_id: uuid.UUID,
    saved: bool,
    title: str | None = None,
    next: str | None = None,
    token: str | None = None,
) -> Markup:
    """A form that swaps itself (htmx) or posts and comes back to `next`. A list passes the
    page's CSRF `token` once for all its cards."""
    action = escape(path_for("reactions.save_post", post_id=post_id))
    back = f'<input type="hidden" name="next" value="{escape(next)}">' if next else ""
    label = "Saved" if saved else "Save"
    hidden_title = f'<span class="visually-hidden"> {escape(title)}</span>' if title else ""
    return Markup(  # noqa: S704 - every value escaped above or made here
        f'<form id="save-post-{post_id}" class="inline-form reaction-form" method="post" '
        f'action="{action}"\n      hx-post="{action}" hx-target="this" hx-swap="outerHTML">\n'
        f'  <input type="hidden" name="csrf_token" value="{escape(token or generate_csrf())}">\n'
        f'  <input type="hidden" name="on" value="{"0" if saved else "1"}">\n'
        f"  {back}\n"
        '  <button type="submit" class="reaction-button save-button" '
        f'aria-pressed="{"true" if saved else "false"}">{icon_html("bookmark", 18)}'
        f'<span class="save-label">{label}</span>{hidden_title}</button>\n'
        "</form>"
    )
