"""@mentions as links to profiles, and the one Markdown entry point for what people write.

blog.core.markdown knows no users: it asks `profile_links` once per text for the names it
found, so a post with forty mentions costs one statement, not forty. The links are stored with
the rendered HTML (like everything the renderer adds); a mention of an unknown or deleted
account stays plain text.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select

from blog.auth.models import User
from blog.core.markdown import ImageLookup, Rendered, mentioned_names, render_markdown
from blog.extensions import db


def _profile_path(user_name: str) -> str:
    # Built against the configured site, not a request: posts are also rendered by jobs and
    # the CLI, and the stored link must work wherever the site is mounted.
    site = urlsplit(current_app.config.get("SITE_URL") or "")
    adapter = current_app.url_map.bind("localhost", script_name=site.path or "/")
    return adapter.build("profiles.show", {"user_name": user_name})


def profile_links(names: Collection[str]) -> dict[str, str]:
    """Lower-case user names → the profile path of each live account among them (one query)."""
    if not names:
        return {}
    rows = db.session.execute(
        select(User.user_name).where(
            func.lower(User.user_name).in_(list(names)), User.deleted_at.is_(None)
        )
    ).scalars()
    return {user_name.lower(): _profile_path(user_name) for user_name in rows}


def render_user_text(
    source: str, *, heading_base: int = 1, images: ImageLookup | None = None
) -> Rendered:
    """A post's or a comment's Markdown, rendered with its mentions linked (and its images
    sized, given `images`: blog.uploads.images.image_sizes)."""
    return render_markdown(source, people=profile_links, heading_base=heading_base, images=images)


def mentioned_people(
    source: str, *, author_id: uuid.UUID, before: str | None = None
) -> list[dict[str, str]]:
    """The live accounts `source` mentions, as {id, user_name} for an event: never the author,
    and, for an edit, none that `before` (the earlier text) mentioned already. One statement."""
    names = set(mentioned_names(source))
    if before is not None:
        names -= set(mentioned_names(before))
    if not names:
        return []
    rows = db.session.execute(
        select(User.id, User.user_name).where(
            func.lower(User.user_name).in_(sorted(names)),
            User.deleted_at.is_(None),
            User.id != author_id,
        )
    ).all()
    return [{"id": str(uid), "user_name": name} for uid, name in rows]
