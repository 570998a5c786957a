"""/search (weighted full-text, ranked, highlighted, filtered by tag, live as a fragment) and
the Atom feeds (valid XML, the right entries)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from tests.conftest import new_client
from tests.posts.helpers import new_author, new_post, signed_in

ATOM = {"a": "http://www.w3.org/2005/Atom"}


def _result_titles(html: str) -> list[str]:
    raw = re.findall(r'<h2><a href="/posts/[^"]+">(.+?)</a></h2>', html)
    return [re.sub(r"</?mark>", "", title) for title in raw]


def test_title_matches_rank_above_text_matches(app):
    author = new_author(app)
    new_post(
        app, author, title="Notes from a conference", content="We talked about gardening a lot."
    )
    new_post(app, author, title="Gardening for beginners", content="Soil, water and patience.")
    new_post(app, author, title="Unrelated post", content="Nothing to see here at all.")
    html = new_client(app).get("/search?q=gardening").get_data(as_text=True)
    assert _result_titles(html) == ["Gardening for beginners", "Notes from a conference"]
    assert "<mark>Gardening</mark> for beginners" in html
    assert "about <mark>gardening</mark> a lot" in html


def test_every_word_must_match_and_the_last_is_a_prefix(app):
    author = new_author(app)
    new_post(app, author, title="Publishing with Python", content="Flask and friends, in detail.")
    new_post(app, author, title="Publishing with Rust", content="Axum and friends, in detail.")
    client = new_client(app)
    assert _result_titles(client.get("/search?q=publish pyth").get_data(as_text=True)) == [
        "Publishing with Python"
    ]
    # Stemming: "published" finds "Publishing".
    assert len(_result_titles(client.get("/search?q=published").get_data(as_text=True))) == 2
    assert "Nothing matches" in client.get("/search?q=zebra").get_data(as_text=True)


def test_drafts_and_archived_posts_are_not_found(app):
    author = new_author(app)
    new_post(app, author, title="Secret pineapple plans", status="draft")
    new_post(app, author, title="Old pineapple recipes", status="archived")
    html = new_client(app).get("/search?q=pineapple").get_data(as_text=True)
    assert _result_titles(html) == []


def test_tag_filter(app):
    author = new_author(app)
    new_post(app, author, title="Cooking with herbs", tags=["food"])
    new_post(app, author, title="Herbs in the garden", tags=["garden"])
    client = new_client(app)
    assert len(_result_titles(client.get("/search?q=herbs").get_data(as_text=True))) == 2
    html = client.get("/search?q=herbs&tag=garden").get_data(as_text=True)
    assert _result_titles(html) == ["Herbs in the garden"]
    assert '<option value="garden" selected>' in html


def test_live_search_is_a_fragment_and_still_a_get_page(app):
    author = new_author(app)
    new_post(app, author, title="Live search works")
    htmx = new_client(app, htmx=True)
    fragment = htmx.get("/search?q=live").get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="search-results"')
    assert "<html" not in fragment
    assert 'id="search-status" hx-swap-oob="innerHTML">1 result' in fragment
    page = new_client(app).get("/search?q=live").get_data(as_text=True)
    assert '<form id="search-form" method="get" action="/search"' in page
    assert 'value="live"' in page
    assert page.count('id="search-status"') == 1


def test_empty_odd_and_long_queries(app):
    client = new_client(app)
    for q in ("", "   ", "&|!():*", "'", "\\", "a" * 5000, "the and of"):
        response = client.get("/search", query_string={"q": q})
        assert response.status_code == 200, q
    assert client.get("/search?page=abc&q=x").status_code == 200
    assert client.get("/search?page=-5&q=x").status_code == 200


def test_results_page_by_20(app):
    author = new_author(app)
    for n in range(23):
        new_post(app, author, title=f"Lemon tart number {n}")
    client = new_client(app)
    first = client.get("/search?q=lemon").get_data(as_text=True)
    assert len(_result_titles(first)) == 20
    assert "20 or more results" in first
    second = client.get("/search?q=lemon&page=2").get_data(as_text=True)
    assert len(_result_titles(second)) == 3


# --------------------------------------------------------------------------- Atom


def _feed(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    return ET.fromstring(response.get_data(as_text=True))  # noqa: S314 - our own output


def test_feeds_are_atom_with_the_right_entries(app):
    ada = new_author(app, user_name="ada")
    bob = new_author(app, user_name="bob")
    new_post(app, ada, title="Ada on engines", tags=["engines"], content="The *analytical* engine.")
    new_post(app, bob, title="Bob on engines", tags=["engines"])
    new_post(app, bob, title="Bob on gardens", tags=["gardens"])
    new_post(app, ada, title="Ada's draft", status="draft", tags=["engines"])
    new_post(app, ada, title="Ada archived", status="archived", tags=["engines"])
    client = new_client(app)
    site = app.config["SITE_URL"]

    root = _feed(client, "/feed.atom")
    assert root.tag == "{http://www.w3.org/2005/Atom}feed"
    titles = [e.findtext("a:title", namespaces=ATOM) for e in root.findall("a:entry", ATOM)]
    assert titles == ["Bob on gardens", "Bob on engines", "Ada on engines"]
    assert root.find("a:link[@rel='self']", ATOM).get("href") == f"{site}/feed.atom"
    for element in ("a:id", "a:title", "a:updated"):
        assert root.findtext(element, namespaces=ATOM)
    entry = root.findall("a:entry", ATOM)[2]
    assert entry.findtext("a:id", namespaces=ATOM).startswith("urn:uuid:")
    assert entry.find("a:link", ATOM).get("href") == f"{site}/posts/ada-on-engines"
    assert entry.findtext("a:author/a:name", namespaces=ATOM) == "ada"
    assert entry.find("a:category", ATOM).get("term") == "engines"
    assert "<em>analytical</em>" in entry.findtext("a:content", namespaces=ATOM)
    assert re.match(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", entry.findtext("a:updated", namespaces=ATOM)
    )

    tag_root = _feed(client, "/tags/engines/feed.atom")
    assert [e.findtext("a:title", namespaces=ATOM) for e in tag_root.findall("a:entry", ATOM)] == [
        "Bob on engines",
        "Ada on engines",
    ]
    author_root = _feed(client, "/u/ada/feed.atom")
    assert [
        e.findtext("a:title", namespaces=ATOM) for e in author_root.findall("a:entry", ATOM)
    ] == ["Ada on engines"]
    assert client.get("/tags/none/feed.atom").status_code == 404
    assert client.get("/u/none/feed.atom").status_code == 404


def test_an_empty_feed_is_still_valid(app):
    root = _feed(new_client(app), "/feed.atom")
    assert root.findall("a:entry", ATOM) == []
    assert root.findtext("a:updated", namespaces=ATOM)


def test_pages_advertise_their_feeds(app):
    author = new_author(app, user_name="carol")
    new_post(app, author, tags=["news"])
    client = new_client(app)
    assert 'type="application/atom+xml"' in client.get("/").get_data(as_text=True)
    assert 'href="/tags/news/feed.atom"' in client.get("/tags/news").get_data(as_text=True)
    assert 'href="/u/carol/feed.atom"' in client.get("/u/carol/posts").get_data(as_text=True)
    assert signed_in(app, author.email).get("/feed.atom").status_code == 200
