"""/robots.txt, and /sitemap.xml with its pages: every published post, streamed.

The sitemap index lists `/sitemap/posts-<n>.xml`, one per PAGE_SIZE published posts in
(published_at, id) order. Nothing is stored: page n is the key range from the published post at
offset (n-1)·size to the one at offset n·size, both found by walking ix_posts_published_feed
(an index-only scan of at most n·size entries, no heap, no sort), and its rows are read in that
order from the same index and streamed to the client as they come (a server-side cursor), so a
page of 50,000 URLs never sits in memory and takes one statement whatever the page.
Ranges are counted on published posts; hidden posts and the posts of deleted accounts are left
out of the page they fall in, so a page holds at most `size` URLs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from flask import Blueprint, Response, abort, current_app, stream_with_context
from sqlalchemy import func, or_, select, true, tuple_

from blog.auth.models import User
from blog.extensions import db
from blog.posts.models import Post, Tag
from blog.seo.meta import site_url

bp = Blueprint("seo", __name__)

PAGE_SIZE = 50_000  # the protocol's limit of URLs per sitemap
TAGS_MAX = 50_000
FETCH = 2_000  # rows per round trip of the server-side cursor
# The characters werkzeug's routing leaves unquoted in a path segment.
_SAFE = "!$&'()*+,:;=@"
CACHE = "public, max-age=3600"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


def page_size() -> int:
    return int(current_app.config.get("SITEMAP_PAGE_SIZE", PAGE_SIZE))


def _w3c(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _xml(body: Iterator[str] | str) -> Response:
    response = Response(body, mimetype="application/xml")
    response.headers["Cache-Control"] = CACHE
    return response


@bp.get("/robots.txt")
def robots():
    lines = [
        "User-agent: *",
        # Pages that are one person's own, or staff's: nothing there for an index.
        "Disallow: /account/",
        "Disallow: /admin/",
        "Disallow: /chat/",
        "Disallow: /notifications",
        "Disallow: /write",
        "",
        f"Sitemap: {site_url('seo.sitemap_index')}",
        "",
    ]
    response = Response("\n".join(lines), mimetype="text/plain")
    response.headers["Cache-Control"] = CACHE
    return response


def _published_keys() -> Any:
    """The published posts in sitemap order, through ix_posts_published_feed."""
    return (
        select(Post.published_at, Post.id)
        .where(Post.status == "published")
        .order_by(Post.published_at, Post.id)
    )


@bp.get("/sitemap.xml")
def sitemap_index():
    """The index: one entry per page of posts, and the tags page. One statement (a count
    over the partial index of published posts)."""
    published = db.session.scalar(
        select(func.count()).select_from(Post).where(Post.status == "published")
    )
    size = page_size()
    pages = max(1, -(-int(published or 0) // size))
    parts = [XML_HEAD, f'<sitemapindex xmlns="{NS}">\n']
    for n in range(1, pages + 1):
        loc = escape(site_url("seo.sitemap_posts", n=n))
        parts.append(f"<sitemap><loc>{loc}</loc></sitemap>\n")
    parts.append(f"<sitemap><loc>{escape(site_url('seo.sitemap_tags'))}</loc></sitemap>\n")
    parts.append("</sitemapindex>\n")
    return _xml("".join(parts))


def posts_page_statement(n: int, size: int) -> Any:
    """Page n's rows: the key range [start, end) of published posts, visible ones only."""
    keys = _published_keys()
    start = keys.offset((n - 1) * size).limit(1).subquery("start")
    end = keys.offset(n * size).limit(1).subquery("end")
    lastmod = func.greatest(Post.updated_at, Post.published_at)
    return (
        select(Post.slug, lastmod)
        .join(User, User.id == Post.author_id)
        .join(start, tuple_(Post.published_at, Post.id) >= tuple_(start.c.published_at, start.c.id))
        # No end row: this is the last page.
        .outerjoin(end, true())
        .where(
            Post.status == "published",
            Post.hidden_at.is_(None),
            User.deleted_at.is_(None),
            or_(
                end.c.id.is_(None),
                tuple_(Post.published_at, Post.id) < tuple_(end.c.published_at, end.c.id),
            ),
        )
        .order_by(Post.published_at, Post.id)
    )


@bp.get("/sitemap/posts-<int:n>.xml")
def sitemap_posts(n: int):
    if n < 1:
        abort(404)
    result = db.session.execute(
        posts_page_statement(n, page_size()), execution_options={"yield_per": FETCH}
    )
    chunks = result.partitions()
    first: Sequence[Any] = next(chunks, [])
    if not first and n > 1:
        result.close()
        abort(404)
    # /posts/<slug>, with the slug quoted as url_for would: one build, not one per row.
    prefix = site_url("posts.show", slug="-").removesuffix("-")

    def rows(batch: Sequence[Any]) -> str:
        return "".join(
            f"<url><loc>{escape(prefix + quote(slug, safe=_SAFE))}</loc>"
            f"<lastmod>{_w3c(lastmod)}</lastmod></url>\n"
            for slug, lastmod in batch
        )

    def body() -> Iterator[str]:
        try:
            yield XML_HEAD + f'<urlset xmlns="{NS}">\n' + rows(first)
            for batch in chunks:
                yield rows(batch)
            yield "</urlset>\n"
        finally:
            result.close()

    return _xml(stream_with_context(body()))


@bp.get("/sitemap/tags.xml")
def sitemap_tags():
    """Tags that list at least one post."""
    tags = db.session.execute(
        select(Tag.slug).where(Tag.post_count > 0).order_by(Tag.slug).limit(TAGS_MAX)
    ).scalars()
    prefix = site_url("posts.tag", slug="-").removesuffix("-")
    body = "".join(
        f"<url><loc>{escape(prefix + quote(slug, safe=_SAFE))}</loc></url>\n" for slug in tags
    )
    return _xml(XML_HEAD + f'<urlset xmlns="{NS}">\n' + body + "</urlset>\n")
