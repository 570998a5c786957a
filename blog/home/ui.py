"""The account menu of every signed-in page, drawn once per person and reused.

templates/home/_account_links.html is the same on every page a person opens, except for the
CSRF token (it changes every second) and the page the theme form comes back to: those two are
drawn as markers and put in on each call. The template sees a snapshot of the person (`Who`),
not the User row, so what it shows is exactly what the cache is keyed on: a renamed person, a
new picture, a role or a theme changed is a new key. Jinja draws an attribute the snapshot
lacks as nothing: what the template comes to read must be added to `Who`.

Why: the menu cost ~0.3 ms of every signed-in page (benchmarks/home_page.py, issue 18 item 5).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flask import current_app, request
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

_TOKEN = "\x00token\x00"  # noqa: S105 - a marker, not a secret
_PATH = "\x00path\x00"


@dataclass(frozen=True)
class Who:
    """What the account menu shows of its person (and the avatar macro reads)."""

    id: uuid.UUID
    user_name: str
    display_name: str | None
    avatar_file_id: uuid.UUID | None
    is_admin: bool
    is_moderator: bool
    is_authenticated: bool = True


@dataclass(frozen=True)
class _Here:
    path: str = _PATH


@lru_cache(maxsize=1024)
def _menu(template: Any, who: Who, theme: str, env_name: str) -> str:
    return str(
        template.render(
            current_user=who,
            ui_theme=theme,
            config={"ENV_NAME": env_name},
            request=_Here(),
            csrf_token=lambda: _TOKEN,
        )
    )


def account_menu(theme: str) -> Markup:
    """The signed-in person's account menu (header panel and /menu)."""
    user = current_user
    who = Who(
        user.id,
        user.user_name,
        user.display_name,
        user.avatar_file_id,
        user.is_admin,
        user.is_moderator,
    )
    template = current_app.jinja_env.get_template("home/_account_links.html")
    html = _menu(template, who, theme, current_app.config["ENV_NAME"])
    return Markup(  # noqa: S704 - the template's escaped output, our values escaped here
        html.replace(_TOKEN, escape(generate_csrf())).replace(_PATH, escape(request.path))
    )
