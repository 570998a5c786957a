"""Sharing and search engines: OpenGraph / Twitter meta, canonical addresses, JSON-LD on posts,
the sitemap (published posts only, streamed by keyset, a fixed number of statements), robots.txt
and noindex where a page is not for an index."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from html.parser import HTMLParser

import pytest

from blog.auth.models import User
from blog.core.db import utcnow
from blog.extensions import db
from blog.posts.models import Post
from blog.seo.meta import json_script
from tests.conftest import new_client
from tests.posts.helpers import make_author, make_post, new_author, new_post, signed_in

NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


class Head(HTMLParser):
    """The meta, link and JSON-LD of a page, as a crawler reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, list[str]] = {}
        self.links: dict[str, str] = {}
        self.json_ld: list[str] = []
        self._in_ld = False

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        a = dict(attrs)
        if tag == "meta" and (a.get("property") or a.get("name")):
            self.meta.setdefault(a.get("property") or a["name"], []).append(a.get("content", ""))
        elif tag == "link" and a.get("rel"):
            self.links[a["rel"]] = a.get("href", "")
        elif tag == "script" and a.get("type") == "application/ld+json":
            self._in_ld = True
            self.json_ld.append("")

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag == "script":
            self._in_ld = False

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if self._in_ld:
            self.json_ld[-1] += data


def head_of(html: str) -> Head:
    parser = Head()
    parser.feed(html)
    return parser


def site(app) -> str:  # type: ignore[no-untyped-def]
    return app.config["SITE_URL"].rstrip("/")


# --------------------------------------------------------------------------- post meta


def test_a_post_page_meta_and_json_ld_match_the_post(app):
    author = new_author(app, display_name="Ada Writer")
    title = 'Closing </script><script>alert("x")</script> & <!-- tags'
    content = "First words of the post, *emphasised*.\n\n![a chart](/static/favicon.svg)\n\nMore."
    ref = new_post(app, author, title=title, content=content, tags=["graphs"])
    with app.app_context():
        post = db.session.get(Post, ref.id)
        published, updated = post.published_at, post.updated_at  # type: ignore[union-attr]
    html = new_client(app).get(f"/posts/{ref.slug}").get_data(as_text=True)
    # The title cannot end the data block: one script element, then the page goes on.
    assert html.count("</script>") == html.count("<script")
    head = head_of(html)
    url = f"{site(app)}/posts/{ref.slug}"
    assert head.meta["og:type"] == ["article"]
    assert head.meta["og:title"] == [title]
    assert head.meta["og:url"] == [url]
    assert head.meta["og:site_name"] == ["Blog"]
    assert head.meta["og:description"][0].startswith("First words of the post, emphasised.")
    assert head.meta["og:image"] == [f"{site(app)}/static/favicon.svg"]
    assert head.meta["twitter:card"] == ["summary_large_image"]
    assert head.meta["twitter:title"] == [title]
    assert head.meta["article:tag"] == ["graphs"]
    assert head.links["canonical"] == url
    assert "robots" not in head.meta
    assert len(head.json_ld) == 1
    assert "</script" not in head.json_ld[0]
    assert "<" not in head.json_ld[0]
    ld = json.loads(head.json_ld[0])
    assert ld["@type"] == "BlogPosting"
    assert ld["headline"] == title
    assert ld["description"] == head.meta["og:description"][0]
    assert ld["author"] == {
        "@type": "Person",
        "name": "Ada Writer",
        "url": f"{site(app)}/u/{author.user_name}",
    }
    assert ld["datePublished"] == published.isoformat()
    assert ld["dateModified"] == max(updated, published).isoformat()
    assert ld["image"] == [f"{site(app)}/static/favicon.svg"]
    assert ld["mainEntityOfPage"]["@id"] == url


def test_a_post_without_an_image_shows_the_authors_picture(app):
    author = new_author(app)
    ref = new_post(app, author)
    head = head_of(new_client(app).get(f"/posts/{ref.slug}").get_data(as_text=True))
    assert head.meta["og:image"] == [f"{site(app)}/avatars/{author.id}.svg"]
    assert head.meta["twitter:card"] == ["summary"]


def test_json_script_escapes_what_could_end_the_element():
    text = json_script({"t": "</script><!-- & \u2028"})
    assert "<" not in text
    assert ">" not in text
    assert "&" not in text
    assert json.loads(str(text)) == {"t": "</script><!-- & \u2028"}


def test_a_draft_is_noindex_and_has_no_json_ld(app):
    author = new_author(app)
    ref = new_post(app, author, status="draft")
    client = signed_in(app, author.email)
    head = head_of(client.get(f"/posts/{ref.slug}").get_data(as_text=True))
    assert head.meta["robots"] == ["noindex"]
    assert head.json_ld == []
    editor = head_of(client.get("/write").get_data(as_text=True))
    assert editor.meta["robots"] == ["noindex"]


def test_the_post_page_statement_count_is_unchanged(app, count_queries):
    """The meta is built from what the page loads already (tests/posts/test_pages.py: <= 5)."""
    from tests.posts.test_pages import _statements

    author = new_author(app)
    ref = new_post(app, author, tags=["one", "two"])
    assert _statements(count_queries, new_client(app), f"/posts/{ref.slug}") <= 5


# --------------------------------------------------------------------------- other pages


def test_profile_and_tag_pages_carry_their_meta(app):
    author = new_author(app, bio="I write about <graphs> & charts.")
    new_post(app, author, tags=["charts"])
    client = new_client(app)
    profile = head_of(client.get(f"/u/{author.user_name}").get_data(as_text=True))
    assert profile.meta["og:type"] == ["profile"]
    assert profile.meta["og:description"] == ["I write about <graphs> & charts."]
    assert profile.meta["og:image"] == [f"{site(app)}/avatars/{author.id}.svg"]
    assert profile.meta["profile:username"] == [author.user_name]
    assert profile.links["canonical"] == f"{site(app)}/u/{author.user_name}"
    assert "robots" not in profile.meta
    tag = head_of(client.get("/tags/charts").get_data(as_text=True))
    assert tag.meta["og:type"] == ["website"]
    assert tag.meta["og:title"] == ["Posts tagged charts"]
    assert tag.links["canonical"] == f"{site(app)}/tags/charts"


def test_every_public_page_has_a_canonical_link_without_tracking_values(app):
    client = new_client(app)
    for path, canonical in [
        ("/", "/"),
        ("/?utm_source=x", "/"),
        ("/tags", "/tags"),
        ("/login?next=/write", "/login"),
    ]:
        head = head_of(client.get(path).get_data(as_text=True))
        assert head.links["canonical"] == site(app) + canonical, path


def test_search_results_and_suspended_profiles_are_noindex(app):
    client = new_client(app)
    assert head_of(client.get("/search?q=x").get_data(as_text=True)).meta["robots"] == ["noindex"]
    person = new_author(app)
    with app.app_context():
        user = db.session.get(User, person.id)
        user.status = "suspended"  # type: ignore[union-attr]
        db.session.commit()
    head = head_of(client.get(f"/u/{person.user_name}").get_data(as_text=True))
    assert head.meta["robots"] == ["noindex"]
    missing = client.get("/posts/no-such-post")
    assert missing.status_code == 404
    head = head_of(missing.get_data(as_text=True))
    assert head.meta["robots"] == ["noindex"]
    assert "canonical" not in head.links


# --------------------------------------------------------------------------- sitemap


def _parse(data: bytes) -> ET.Element:
    return ET.fromstring(data)  # noqa: S314 - our own sitemap, not untrusted input


def _urls(xml: bytes) -> list[str]:
    root = _parse(xml)
    return [loc.text or "" for loc in root.findall("s:url/s:loc", NS)]


def test_robots_txt_names_the_sitemap(app):
    response = new_client(app).get("/robots.txt")
    assert response.mimetype == "text/plain"
    assert f"Sitemap: {site(app)}/sitemap.xml" in response.get_data(as_text=True).splitlines()


def test_the_sitemap_lists_published_posts_and_never_a_draft(app):
    with app.app_context():
        author = make_author()
        published = make_post(author, title="Published & <fine>")
        draft = make_post(author, title="A draft post", status="draft")
        archived = make_post(author, title="An archived post", status="archived")
        hidden = make_post(author, title="A hidden post")
        hidden.hidden_at = utcnow()
        db.session.commit()
        slugs = {p: p.slug for p in (published, draft, archived, hidden)}
        db.session.remove()
    client = new_client(app)
    index = client.get("/sitemap.xml")
    assert index.mimetype == "application/xml"
    root = _parse(index.data)
    assert root.tag == "{{{}}}sitemapindex".format(NS["s"])
    pages = [loc.text for loc in root.findall("s:sitemap/s:loc", NS)]
    assert pages == [f"{site(app)}/sitemap/posts-1.xml", f"{site(app)}/sitemap/tags.xml"]
    page = client.get("/sitemap/posts-1.xml")
    assert page.is_streamed
    urls = _urls(page.data)
    assert urls == [f"{site(app)}/posts/{slugs[published]}"]
    for post in (draft, archived, hidden):
        assert slugs[post] not in page.get_data(as_text=True)
    lastmod = _parse(page.data).find("s:url/s:lastmod", NS)
    assert lastmod is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lastmod.text)
    assert client.get("/sitemap/posts-2.xml").status_code == 404


def test_sitemap_pages_follow_keyset_ranges_and_cost_one_statement(app, count_queries, monkeypatch):
    monkeypatch.setitem(app.config, "SITEMAP_PAGE_SIZE", 3)
    with app.app_context():
        author = make_author()
        start = utcnow() - timedelta(hours=1)
        posts = [make_post(author, published_at=start + timedelta(minutes=i)) for i in range(8)]
        make_post(author, status="draft")
        expected = [p.slug for p in posts]
        db.session.remove()
    client = new_client(app)
    index = _parse(client.get("/sitemap.xml").data)
    assert len(index.findall("s:sitemap", NS)) == 3 + 1  # 8 posts in pages of 3, and tags
    seen: list[str] = []
    counts = []
    for n in (1, 2, 3):
        client.get(f"/sitemap/posts-{n}.xml")  # the settings cache may add a read once
        with count_queries() as q:
            data = client.get(f"/sitemap/posts-{n}.xml").data
        counts.append(q.count)
        urls = _urls(data)
        assert len(urls) <= 3
        seen += [u.rsplit("/", 1)[1] for u in urls]
    assert seen == expected  # each post once, in order, across the pages
    assert len(set(counts)) == 1, counts
    assert counts[0] <= 3, counts
    assert client.get("/sitemap/posts-4.xml").status_code == 404
    assert client.get("/sitemap/posts-0.xml").status_code == 404


@pytest.mark.parametrize("n", [5, 60])
def test_sitemap_statements_do_not_grow_with_posts(app, count_queries, monkeypatch, n):
    """Streamed in batches of 7 (a server-side cursor): 60 posts take nine round trips of one
    cursor, past the end of the request's own transaction."""
    monkeypatch.setattr("blog.seo.views.FETCH", 7)
    with app.app_context():
        author = make_author()
        for _ in range(n):
            make_post(author)
        db.session.remove()
    client = new_client(app)
    client.get("/sitemap/posts-1.xml")
    with count_queries() as q:
        assert len(_urls(client.get("/sitemap/posts-1.xml").data)) == n
    # The session lookup (anonymous: none), the page: one statement for the rows.
    assert q.count <= 2, q.statements


def test_the_tags_sitemap_lists_tags_with_posts(app):
    with app.app_context():
        author = make_author()
        make_post(author, tags=["listed"])
        make_post(author, tags=["drafty"], status="draft")
        db.session.remove()
    urls = _urls(new_client(app).get("/sitemap/tags.xml").data)
    assert urls == [f"{site(app)}/tags/listed"]
