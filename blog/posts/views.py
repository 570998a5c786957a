"""Reading: the post page, tag pages and index, author pages, search, Atom feeds.

The editor and the status buttons are in blog/posts/editor.py.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from blog.core.db import utcnow
from blog.core.htmx import is_htmx, render
from blog.core.markdown import word_count
from blog.core.ui import reading_minutes
from blog.posts import queries
from blog.posts.access import access_post_history, check_post_access, get_post
from blog.posts.counters import count_view_in_redis, pending_views
from blog.posts.history import post_history
from blog.posts.ui import post_card

bp = Blueprint("posts", __name__)

FEED_SIZE = 20


bp.add_app_template_global(post_card)


@bp.app_template_filter("date")
def format_date(moment: datetime | None, with_time: bool = False) -> str:
    if moment is None:
        return ""
    return moment.strftime("%-d %b %Y, %H:%M UTC" if with_time else "%-d %b %Y")


@bp.app_template_filter("atom_date")
def atom_date(moment: datetime | None) -> str:
    """RFC 3339 in UTC; a feed with no entries is as new as now."""
    return (moment or utcnow()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@bp.app_template_filter("entry_updated")
def entry_updated(post: queries.PostSummary) -> datetime:
    """An entry changed when it was edited or (re)published, whichever came last."""
    return max(post.updated_at, post.published_at)


# XML 1.0 refuses most control characters; forms refuse them too, but a feed must never break.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@bp.app_template_filter("xml_text")
def xml_text(value: str) -> str:
    return _NOT_XML.sub("", value)


def read_cursor() -> str | None:
    """The `before` cursor of a list page; a malformed one is a bad link (400)."""
    cursor = request.args.get("before") or None
    if cursor is not None:
        try:
            queries.decode_cursor(cursor)
        except queries.BadCursor:
            abort(400, "This page link is not valid. Start again from the first page.")
    return cursor


def viewer_id(user: Any = None) -> uuid.UUID | None:
    """The signed-in reader's id (the current user unless given): whose likes and bookmarks a
    list shows, and whose ignored people it leaves out (blog.safety); None for a visitor."""
    user = current_user if user is None else user
    return user.id if user.is_authenticated else None


@bp.get("/posts/<slug:slug>")
def show(slug: str):
    post = get_post(slug)
    if post is None:
        # A slug the post had before its title changed: send readers (and links) on.
        current = queries.redirected_slug(slug)
        if current is None:
            abort(404)
        return redirect(url_for("posts.show", slug=current), 301)
    check_post_access(current_user, post)
    is_author = current_user.is_authenticated and current_user.id == post.author_id
    views = post.view_count
    # A reader's view: not the author's own, not a fragment, not a HEAD probe.
    if post.is_published and not is_author and not is_htmx() and request.method == "GET":
        views += count_view_in_redis(post.id) or 0
    else:
        views += pending_views(post.id)
    # Counted per view from the stored HTML: 0.14 ms for a 2,000-word post (word_count).
    minutes = reading_minutes(word_count(post.content_html))
    return render(
        "posts/show.html",
        "post_status",
        post=post,
        views=views,
        is_author=is_author,
        minutes=minutes,
    )


@bp.get("/posts/<uuid:post_id>/history")
def history(post_id: uuid.UUID):
    """A post's versions with what changed in each: for its author and staff only."""
    post = access_post_history(current_user, post_id)
    return render("posts/history.html", post=post, versions=post_history(post))


@bp.get("/tags")
def tag_index():
    return render("posts/tags.html", tags=queries.tag_index())


@bp.get("/tags/<slug:slug>")
def tag(slug: str):
    tag = queries.get_tag_by_slug(slug)
    if tag is None:
        abort(404)
    page = queries.tag_feed(tag, read_cursor(), viewer_id=viewer_id(current_user))
    return render("posts/tag.html", "page", tag=tag, page=page)


@bp.get("/u/<slug:user_name>/posts")
def author(user_name: str):
    author = queries.get_author(user_name)
    if author is None:
        abort(404)
    page = queries.author_feed(author, read_cursor(), viewer_id=viewer_id(current_user))
    return render("posts/author.html", "page", author=author, page=page)


@bp.get("/search")
def search():
    q = request.args.get("q", "")[: queries.QUERY_MAX]
    tag_slug = request.args.get("tag", "")[:200]
    # No slug holds a NUL (PostgreSQL would refuse to compare one): such a filter matches none.
    tag = queries.get_tag_by_slug(tag_slug) if tag_slug and "\x00" not in tag_slug else None
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        page = 1
    results = queries.search_posts(q, tag, page, viewer_id=viewer_id())
    return render(
        "posts/search.html",
        "results",
        q=q,
        tag=tag,
        tag_slug=tag_slug,
        results=results,
        tags=queries.tag_index(50),
    )


# --------------------------------------------------------------------------- Atom feeds


def _site_url(endpoint: str, **values: Any) -> str:
    """An absolute URL on the configured site, never on the request's Host."""
    site = urlsplit(current_app.config["SITE_URL"])
    adapter = current_app.url_map.bind(
        site.netloc, script_name=site.path or "/", url_scheme=site.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def _atom(title: str, self_url: str, alternate_url: str, page: queries.Page) -> Response:
    body = render_template(
        "posts/feed.atom.xml",
        feed_title=title,
        self_url=self_url,
        alternate_url=alternate_url,
        posts=page.posts,
        updated=max((entry_updated(post) for post in page.posts), default=None),
        site_url=_site_url,
        feed_id=self_url,
    )
    response = Response(body, mimetype="application/atom+xml")
    # Feed readers poll: a short public cache spares the database.
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/feed.atom")
def feed():
    page = queries.home_feed(size=FEED_SIZE, with_content=True)
    return _atom("Blog", _site_url("posts.feed"), _site_url("home.index"), page)


@bp.get("/tags/<slug:slug>/feed.atom")
def tag_feed(slug: str):
    tag = queries.get_tag_by_slug(slug)
    if tag is None:
        abort(404)
    page = queries.tag_feed(tag, size=FEED_SIZE, with_content=True)
    return _atom(
        f"Blog: posts tagged {tag.name}",
        _site_url("posts.tag_feed", slug=tag.slug),
        _site_url("posts.tag", slug=tag.slug),
        page,
    )


@bp.get("/u/<slug:user_name>/feed.atom")
def author_feed(user_name: str):
    author = queries.get_author(user_name)
    if author is None:
        abort(404)
    page = queries.author_feed(author, size=FEED_SIZE, with_content=True)
    return _atom(
        f"Blog: posts by {author.display_name or author.user_name}",
        _site_url("posts.author_feed", user_name=author.user_name),
        _site_url("posts.author", user_name=author.user_name),
        page,
    )
