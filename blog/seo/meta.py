"""What a page tells link previews and search engines: OpenGraph and Twitter card meta, the
canonical address, and a post's JSON-LD `BlogPosting`.

Everything here works on what the page already loaded (the post with its author, the profile's
user, the tag): no statement of its own. Addresses are absolute on the configured SITE_URL,
never on the request's Host, as the Atom feeds do.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

from flask import Flask, current_app, request
from markupsafe import Markup

from blog.auth.models import User

SITE_NAME = "Blog"  # the name base.html shows
DESCRIPTION_LENGTH = 200
# Query values that name a different page of the same list; anything else (tracking tags,
# ?next=) is left out of the canonical address.
CANONICAL_ARGS = ("before", "page")

# Block elements part words; inline ones (<em>, <a>) sit inside them.
_BLOCK_TAG = re.compile(
    r"</?(?:p|div|h[1-6]|li|ul|ol|br|hr|blockquote|pre|table|tr|td|th|figure|img)\b[^>]*>", re.I
)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
# content_html is nh3's output: attributes always double-quoted.
_FIRST_IMAGE = re.compile(r'<img\b[^>]*?\ssrc="([^"]+)"', re.IGNORECASE)


def site_url(endpoint: str, **values: Any) -> str:
    """An absolute URL on the configured site."""
    site = urlsplit(current_app.config["SITE_URL"])
    adapter = current_app.url_map.bind(
        site.netloc, script_name=site.path or "/", url_scheme=site.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def absolute(url: str) -> str:
    """A path or URL made absolute against the site's address."""
    return urljoin(current_app.config["SITE_URL"].rstrip("/") + "/", url)


def canonical_url() -> str | None:
    """This page's own address on the site: the route and its page cursor, nothing else."""
    if request.endpoint is None or request.endpoint == "static":
        return None
    values: dict[str, Any] = dict(request.view_args or {})
    for name in CANONICAL_ARGS:
        value = request.args.get(name)
        if value:
            values[name] = value
    return site_url(request.endpoint, **values)


def excerpt(content_html: str, length: int = DESCRIPTION_LENGTH) -> str:
    """The first words of the post's text (from its stored HTML), cut at a word."""
    return shorten(html.unescape(_TAG.sub("", _BLOCK_TAG.sub(" ", content_html))), length)


def shorten(text: str, length: int = DESCRIPTION_LENGTH) -> str:
    """Plain text on one line, cut at a word."""
    text = _SPACE.sub(" ", text).strip()
    if len(text) <= length:
        return text
    cut = text[: length - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:") + "…"


def picture_url(user: User) -> str:
    """The person's uploaded picture, else their generated initials (absolute)."""
    if user.avatar_file_id:
        return site_url("uploads.thumbnail", file_id=user.avatar_file_id)
    return site_url("profiles.avatar", user_id=user.id)


def first_image(content_html: str) -> str | None:
    match = _FIRST_IMAGE.search(content_html)
    return absolute(html.unescape(match.group(1))) if match else None


def _name(user: User) -> str:
    return user.display_name or user.user_name


def post_meta(post: Any) -> dict[str, Any]:
    author = post.author
    image = first_image(post.content_html) or picture_url(author)
    return {
        "type": "article",
        "title": post.title,
        "description": excerpt(post.content_html),
        "url": site_url("posts.show", slug=post.slug),
        "image": image,
        "large_image": image != picture_url(author),
        "published": post.published_at,
        "modified": post.updated_at,
        "author_url": None
        if author.deleted_at
        else site_url("profiles.show", user_name=author.user_name),
        "tags": [t.name for t in post.tags],
    }


def profile_meta(user: User) -> dict[str, Any]:
    name = _name(user)
    return {
        "type": "profile",
        "title": name,
        "description": shorten(user.bio or "") or f"Posts by {name} on {SITE_NAME}.",
        "url": site_url("profiles.show", user_name=user.user_name),
        "image": picture_url(user),
        "large_image": False,
        "user_name": user.user_name,
    }


def tag_meta(tag: Any) -> dict[str, Any]:
    return {
        "type": "website",
        "title": f"Posts tagged {tag.name}",
        "description": f"Posts tagged {tag.name} on {SITE_NAME}.",
        "url": site_url("posts.tag", slug=tag.slug),
        "image": None,
        "large_image": False,
    }


def json_script(data: Any) -> Markup:
    """JSON for a `<script type="application/ld+json">` block: `<`, `>` and `&` escaped as
    \\u003c, \\u003e, \\u0026, so no text inside (a title holding `</script>` or `<!--`) can end
    the element or change how the HTML parser reads it. The JSON value is unchanged."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    # U+2028/2029 are valid in JSON and in HTML; escaped anyway for old JavaScript parsers.
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)  # noqa: S704 - json.dumps output with every < > & escaped


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment else None


def post_json_ld(post: Any) -> Markup:
    """schema.org BlogPosting for the post page (Google's Article structured data)."""
    meta = post_meta(post)
    author: dict[str, Any] = {"@type": "Person", "name": _name(post.author)}
    if meta["author_url"]:
        author["url"] = meta["author_url"]
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "BlogPosting",
        "headline": post.title,
        "description": meta["description"],
        "author": author,
        "datePublished": _iso(post.published_at),
        "dateModified": _iso(max(filter(None, [post.updated_at, post.published_at]))),
        "image": [meta["image"]],
        "mainEntityOfPage": {"@type": "WebPage", "@id": meta["url"]},
        "url": meta["url"],
    }
    if meta["tags"]:
        data["keywords"] = meta["tags"]
    return json_script({k: v for k, v in data.items() if v is not None})


def init_seo(app: Flask) -> None:
    app.add_template_global(canonical_url)
    app.add_template_global(post_meta)
    app.add_template_global(profile_meta)
    app.add_template_global(tag_meta)
    app.add_template_global(post_json_ld)
