"""`flask posts rerender`: render every post's and comment's stored Markdown again.

The HTML is made once, when a text is saved (blog.core.markdown), and stored. When the renderer
changes (server-side highlighting, the heading renumbering, @mention links: December 2026), the
texts saved before it keep their old HTML until this runs, once per deployment, after the
migrations. It is safe to run again (only rows whose HTML changes are written), goes by keyset
batches with a commit each (no long transaction, no lock on the whole table), and leaves
`updated_at` alone: a re-render is not an edit, so feeds do not show every post as updated.
"""

from __future__ import annotations

import uuid
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select, update

from blog.comments.models import Comment
from blog.comments.services import COMMENT_HEADING_BASE
from blog.extensions import db
from blog.posts.models import Post
from blog.profiles.mentions import render_user_text
from blog.uploads.images import image_sizes

posts_cli = AppGroup("posts", help="Maintenance of posts and their comments.")


def _batches(model: Any, batch: int, *extra: Any) -> Any:
    after: uuid.UUID | None = None
    while True:
        query = select(model.id, model.content, model.content_html, *extra).order_by(model.id)
        if after is not None:
            query = query.where(model.id > after)
        rows = db.session.execute(query.limit(batch)).all()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def rerender_posts(batch: int = 200) -> tuple[int, int]:
    """Re-render every post; returns (seen, changed). Commits once per batch."""
    seen = changed = 0
    for rows in _batches(Post, batch, Post.author_id):
        for post_id, content, old_html, author_id in rows:
            seen += 1
            rendered = render_user_text(content, images=image_sizes(author_id))
            if rendered.html == old_html:
                continue
            changed += 1
            db.session.execute(
                update(Post)
                .where(Post.id == post_id)
                # Naming updated_at keeps its onupdate from firing: not an edit.
                .values(
                    content_html=rendered.html,
                    content_text=rendered.text,
                    updated_at=Post.updated_at,
                )
            )
        db.session.commit()
    return seen, changed


def rerender_comments(batch: int = 500) -> tuple[int, int]:
    """Re-render every comment; returns (seen, changed). Commits once per batch."""
    seen = changed = 0
    for rows in _batches(Comment, batch):
        for comment_id, content, old_html in rows:
            seen += 1
            html = render_user_text(content, heading_base=COMMENT_HEADING_BASE).html
            if html == old_html:
                continue
            changed += 1
            db.session.execute(
                update(Comment).where(Comment.id == comment_id).values(content_html=html)
            )
        db.session.commit()
    return seen, changed


@posts_cli.command("rerender")
@click.option("--batch", default=200, show_default=True, type=click.IntRange(1, 10_000))
def rerender_command(batch: int) -> None:
    """Render the stored Markdown of every post and comment again (after a renderer change)."""
    seen, changed = rerender_posts(batch)
    click.echo(f"posts:    {changed} of {seen} re-rendered")
    seen, changed = rerender_comments(batch)
    click.echo(f"comments: {changed} of {seen} re-rendered")


def init_posts_cli(app: Flask) -> None:
    app.cli.add_command(posts_cli)
