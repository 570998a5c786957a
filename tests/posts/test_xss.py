"""Stored XSS: payloads in titles, tags and Markdown come out inert on every page, fragment and
feed; the search box echoes its query escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from blog.core.markdown import render_markdown
from tests.conftest import new_client
from tests.posts.helpers import new_author, new_post, signed_in

MARKDOWN_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><script>alert(2)</script></svg>",
    '<a href="javascript:alert(1)">raw</a>',
    "[plain](javascript:alert(1))",
    "[mixed](JaVaScRiPt:alert(1))",
    "[entity](&#106;avascript:alert(1))",
    "[hex entity](&#x6A;avascript&#x3A;alert(1))",
    "[named entity](javascript&colon;alert(1))",
    "[tab](java\tscript:alert(1))",
    "[spaces](  javascript:alert(1))",
    "[vb](vbscript:msgbox(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![img](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![img](javascript:alert(1))",
    '<div hx-get="/account/sessions" hx-trigger="load">hx</div>',
    '<button hx-on:click="alert(1)">hx-on</button>',
    '<span data-hx-post="/logout" data-hx-trigger="load">data-hx</span>',
    "<iframe src=https://evil.example></iframe>",
    "<form action=https://evil.example><input name=x></form>",
    "<style>body{display:none}</style>",
    '<a href="https://ok.example" onclick="alert(1)" style="color:red">handler</a>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
]
TITLE_PAYLOAD = '<script>alert("title")</script><img src=x onerror=alert(1)>'

LIVE_TAGS = {"script", "style", "iframe", "svg", "math", "object", "embed", "base", "frame"}
LIVE_SCHEMES = ("javascript:", "vbscript:", "data:")
PAYLOAD_MARKS = ("alert", "/account/sessions", "/logout", "msgbox")


class _Inspector(HTMLParser):
    """Collects what a browser would treat as live in a document or fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and (values.get("src") or "").startswith("/static/"):
            return  # our own script files
        if tag == "script" and values.get("type") == "application/ld+json" and len(values) == 1:
            return  # a JSON-LD data block: never run; blog/seo/meta.py escapes < > & inside
        # Our own icons (templates/_macros/ui.html): decorative, no script can ride on them
        # (every attribute is still checked below). Markdown never lets an <svg> through.
        ours = (
            tag == "svg" and values.get("class") == "icon" and values.get("aria-hidden") == "true"
        )
        if tag in LIVE_TAGS and not ours:
            self.problems.append(f"<{tag}>")
        # <form method="dialog"> closes our confirmation dialog: it sends nothing anywhere.
        dialog = tag == "form" and values.get("method") == "dialog" and "action" not in values
        if tag == "form" and not dialog and not (values.get("action") or "").startswith("/"):
            self.problems.append(f"<form action={values.get('action')!r}>")
        for name, raw_value in attrs:
            value = raw_value or ""
            squashed = "".join(ch for ch in value if ch > " ").lower()
            if name.startswith("on"):
                self.problems.append(f"{tag} {name}=")
            if name.startswith(("hx-on", "data-hx-")):
                self.problems.append(f"{tag} {name}=")
            if name.startswith("hx-") and any(mark in value for mark in PAYLOAD_MARKS):
                self.problems.append(f"{tag} {name}={value!r}")
            if name in (
                "href",
                "src",
                "action",
                "formaction",
                "xlink:href",
            ) and squashed.startswith(LIVE_SCHEMES):
                self.problems.append(f"{tag} {name}={value!r}")
            if name == "style":
                self.problems.append(f"{tag} style=")


def assert_inert(html: str, where: str) -> None:
    inspector = _Inspector()
    inspector.feed(html)
    inspector.close()
    assert inspector.problems == [], f"{where}: {inspector.problems}"


@pytest.mark.parametrize("payload", MARKDOWN_PAYLOADS)
def test_the_renderer_neutralises_each_payload(payload):
    html = render_markdown(f"Before.\n\n{payload}\n\nAfter.").html
    assert_inert(html, payload)
    assert "After." in html


def test_links_get_rel_and_safe_urls_survive():
    html = render_markdown("[site](https://example.com/a?b=1) and <https://example.org>").html
    assert 'href="https://example.com/a?b=1"' in html
    assert html.count('rel="nofollow noopener noreferrer"') == 2


def test_headings_sit_below_the_page_title():
    html = render_markdown("# One\n\n###### Six").html
    assert "<h2>One</h2>" in html
    # Never a skipped level (axe heading-order): the h6 as written is One's child, an h3.
    assert "<h3>Six</h3>" in html
    assert "<h1" not in html


@pytest.fixture
def hostile_post(app):
    author = new_author(app, user_name="mallory")
    post = new_post(
        app,
        author,
        title=TITLE_PAYLOAD,
        content="Intro text.\n\n" + "\n\n".join(MARKDOWN_PAYLOADS),
        tags=["xss"],
    )
    return author, post


def test_hostile_post_is_inert_on_every_page(app, hostile_post):
    author, post = hostile_post
    reader = new_client(app)
    pages = {
        "post": f"/posts/{post.slug}",
        "home": "/",
        "tag": "/tags/xss",
        "tags": "/tags",
        "author": f"/u/{author.user_name}/posts",
        "search": "/search?q=intro",
        "search by title": "/search?q=alert",
    }
    for name, path in pages.items():
        response = reader.get(path)
        assert response.status_code == 200, name
        html = response.get_data(as_text=True)
        assert_inert(html, name)
    post_page = reader.get(f"/posts/{post.slug}").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in post_page


def test_hostile_post_is_inert_in_fragments(app, hostile_post):
    author, post = hostile_post
    htmx = new_client(app, htmx=True)
    for path in ("/", "/tags/xss", f"/u/{author.user_name}/posts", "/search?q=intro"):
        response = htmx.get(path)
        assert response.status_code == 200
        assert "<html" not in response.get_data(as_text=True)
        assert_inert(response.get_data(as_text=True), path)
    # The author's own editor and preview fragment.
    client = signed_in(app, author.email)
    assert_inert(client.get(f"/posts/{post.id}/edit").get_data(as_text=True), "editor")
    preview = client.post_form(
        f"/posts/{post.id}/preview", {"content": "\n\n".join(MARKDOWN_PAYLOADS)}
    )
    assert_inert(preview.get_data(as_text=True), "preview")
    htmx_author = signed_in(app, author.email, htmx=True)
    status = htmx_author.post_form(f"/posts/{post.id}/archive")
    assert_inert(status.get_data(as_text=True), "status fragment")


def test_hostile_post_is_escaped_in_feeds(app, hostile_post):
    author, _post = hostile_post
    for path in ("/feed.atom", "/tags/xss/feed.atom", f"/u/{author.user_name}/feed.atom"):
        body = new_client(app).get(path).get_data(as_text=True)
        root = ET.fromstring(body)  # noqa: S314 - our own output, parsed to prove it is XML
        ns = {"a": "http://www.w3.org/2005/Atom"}
        entry = root.find("a:entry", ns)
        assert entry is not None
        assert entry.findtext("a:title", namespaces=ns) == TITLE_PAYLOAD  # text, not markup
        content = entry.findtext("a:content", namespaces=ns) or ""
        assert_inert(content, path)  # the HTML a feed reader would render


@pytest.mark.parametrize(
    "tags",
    [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "ok, javascript:alert(1)",
        "<svg/onload=alert(1)>",
    ],
)
def test_hostile_tags_are_refused_with_the_value_escaped(app, tags):
    author = new_author(app)
    client = signed_in(app, author.email, htmx=True)
    response = client.post_form(
        "/write",
        {"title": "A fine title", "content": "Fine content here.", "tags": tags, "action": "save"},
        csrf_from="/write",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Tags use letters, digits and . + # - only." in html
    assert_inert(html, "tag error")


def test_search_query_is_escaped(app):
    client = new_client(app)
    payload = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'
    for c in (client, new_client(app, htmx=True)):
        response = c.get("/search", query_string={"q": payload})
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert_inert(html, "search")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_snippets_highlight_without_letting_markup_through(app):
    author = new_author(app)
    new_post(
        app,
        author,
        title="Escaping in snippets",
        content="Before `<b onmouseover=alert(1)>` the word banana appears <script>x</script>.",
    )
    html = new_client(app).get("/search?q=banana").get_data(as_text=True)
    assert "<mark>banana</mark>" in html
    assert "&lt;b onmouseover=alert(1)&gt;" in html
    assert_inert(html, "snippet")
