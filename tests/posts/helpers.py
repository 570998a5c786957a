"""Shared steps of the post tests: verified authors, posts through the real services, and a
client signed in through the real form."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask

from blog.auth.models import User
from blog.core.db import utcnow
from blog.extensions import db
from blog.posts import services
from blog.posts.models import Post
from tests.conftest import Client, HtmxClient, new_client
from tests.factories import DEFAULT_PASSWORD, make_user

_seq = itertools.count(1)
BODY = "Some **Markdown** text, long enough to be a post."


def make_author(role: str = "user", **attrs: Any) -> User:
    """A user whose address is confirmed (posting needs that). Call inside an app context."""
    return make_user(role=role, email_verified_at=utcnow(), **attrs)


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    email: str
    user_name: str


def new_author(app: Flask, role: str = "user", **attrs: Any) -> Person:
    """make_author in its own app context; returns what tests need outside it."""
    with app.app_context():
        user = make_author(role, **attrs)
        person = Person(user.id, user.email, user.user_name)
        db.session.remove()
        return person


@dataclass(frozen=True)
class PostRef:
    id: uuid.UUID
    slug: str
    title: str


def new_post(app: Flask, author: Person, **kw: Any) -> PostRef:
    """make_post in its own app context."""
    with app.app_context():
        post = make_post(db.session.get(User, author.id), **kw)  # type: ignore[arg-type]
        ref = PostRef(post.id, post.slug, post.title)
        db.session.remove()
        return ref


def load_post(app: Flask, post_id: uuid.UUID) -> Post:
    """The post as the database has it now (detached, with its text loaded)."""
    from sqlalchemy.orm import undefer

    with app.app_context():
        post = db.session.get(
            Post, post_id, options=[undefer(Post.content), undefer(Post.content_html)]
        )
        assert post is not None
        _ = post.tags
        db.session.expunge_all()
        db.session.remove()
        return post


def make_post(
    author: User,
    *,
    title: str | None = None,
    content: str = BODY,
    tags: list[str] | None = None,
    status: str = "published",
    published_at: datetime | None = None,
) -> Post:
    """A post through the services, committed. `published_at` backdates a published post."""
    post = services.create_post(
        author,
        title=title or f"Post number {next(_seq)}",
        content=content,
        tag_names=tags or [],
    )
    if status in ("published", "archived"):
        services.publish_post(post, actor=author, now=published_at or utcnow())
    if status == "archived":
        services.archive_post(post, actor=author)
    db.session.commit()
    return post


def make_posts(author: User, n: int, tags: list[str] | None = None) -> list[Post]:
    """n published posts a minute apart, the last one newest."""
    start = utcnow() - timedelta(minutes=n + 1)
    return [
        make_post(author, tags=tags, published_at=start + timedelta(minutes=i)) for i in range(n)
    ]


def signed_in(app: Flask, user_email: str, *, htmx: bool = False) -> Client:
    """A new browser signed in through the form."""
    client = new_client(app, htmx=htmx)
    response = Client.post_form(
        client, "/login", {"email": user_email, "password": DEFAULT_PASSWORD}, csrf_from="/login"
    )
    assert response.status_code in (302, 204), response.get_data(as_text=True)[:300]
    return client


def post_form(client: Client, path: str, data: dict[str, Any], **kw: Any) -> Any:
    """POST a form the way its page would (CSRF token from the page at `csrf_from`)."""
    return client.post_form(path, data, **kw)


def htmx_client(app: Flask, email: str) -> HtmxClient:
    client = signed_in(app, email, htmx=True)
    assert isinstance(client, HtmxClient)
    return client
