"""List pages and the post page: what they show, keyset pages of 20, and a bounded number of
SQL statements however long the list."""

from __future__ import annotations

import re

import pytest

from blog.auth.models import User
from blog.extensions import db
from tests.conftest import new_client
from tests.posts.helpers import make_author, make_posts, new_author, new_post, signed_in


def _titles(html: str) -> list[str]:
    return re.findall(r'<h2><a href="/posts/[^"]+">([^<]+)</a></h2>', html)


def _next_link(html: str) -> str | None:
    match = re.search(r'<a href="([^"]+before=[^"]+)" hx-get', html)
    return match.group(1).replace("&amp;", "&") if match else None


def _seed(app, n: int, tags: list[str] | None = None, authors: int = 3) -> None:
    with app.app_context():
        people = [make_author() for _ in range(authors)]
        for i in range(authors):
            make_posts(people[i], n // authors + (1 if i < n % authors else 0), tags=tags)
        db.session.remove()


def test_the_home_feed_pages_by_20_newest_first(app):
    with app.app_context():
        author = make_author()
        posts = make_posts(author, 45)
        expected = [p.title for p in reversed(posts)]
        db.session.remove()
    client = new_client(app)
    seen: list[str] = []
    path: str | None = "/"
    pages = 0
    while path:
        html = client.get(path).get_data(as_text=True)
        titles = _titles(html)
        assert len(titles) == (20 if pages < 2 else 5)
        seen += titles
        path = _next_link(html)
        pages += 1
    assert pages == 3
    assert seen == expected


def test_the_next_page_as_an_htmx_fragment(app):
    _seed(app, 25, authors=1)
    htmx = new_client(app, htmx=True)
    first = htmx.get("/").get_data(as_text=True)
    assert "<html" not in first
    next_url = _next_link(first)
    assert next_url is not None
    second = htmx.get(next_url).get_data(as_text=True)
    assert len(_titles(second)) == 5
    assert _next_link(second) is None
    assert 'id="feed-more"' not in second


@pytest.mark.parametrize("cursor", ["garbage", "1.2", "123." + "g" * 32, "9" * 40 + ".x"])
def test_a_malformed_cursor_is_a_400_not_a_500(app, cursor):
    response = new_client(app).get("/", query_string={"before": cursor})
    assert response.status_code == 400
    assert "This page link is not valid" in response.get_data(as_text=True)


def test_the_feed_shows_author_tags_and_excerpt_but_not_drafts_or_archived(app):
    author = new_author(app, user_name="writer")
    new_post(
        app, author, title="Visible post", content="The opening line of it.", tags=["alpha", "beta"]
    )
    new_post(app, author, title="A draft post", status="draft")
    new_post(app, author, title="An archived post", status="archived")
    html = new_client(app).get("/").get_data(as_text=True)
    assert _titles(html) == ["Visible post"]
    assert 'href="/u/writer/posts"' in html
    assert 'href="/tags/alpha"' in html
    assert 'href="/tags/beta"' in html
    assert "The opening line of it." in html


def test_anonymous_home_keeps_the_sign_up_prompt(app):
    html = new_client(app).get("/").get_data(as_text=True)
    assert "Welcome to Blog" in html
    assert 'href="/register"' in html
    assert "Nothing published yet" in html


def test_tag_page_and_tag_index_counts(app):
    author = new_author(app)
    for _ in range(3):
        new_post(app, author, tags=["python", "web"])
    new_post(app, author, tags=["python"])
    new_post(app, author, tags=["python"], status="draft")  # drafts do not count
    new_post(app, author, tags=["rust"], status="archived")  # nor archived posts
    client = new_client(app)
    index = client.get("/tags").get_data(as_text=True)
    counts = dict(
        re.findall(r'href="/tags/([^"]+)">[^<]+</a>\s*<span class="muted">(\d+) post', index)
    )
    assert counts == {"python": "4", "web": "3"}
    assert index.index("/tags/python") < index.index("/tags/web")  # most used first
    tag_page = client.get("/tags/python").get_data(as_text=True)
    assert len(_titles(tag_page)) == 4
    assert client.get("/tags/rust").status_code == 200  # the tag exists; no listed posts
    assert "No published posts with this tag yet." in client.get("/tags/rust").get_data(
        as_text=True
    )
    assert client.get("/tags/nope").status_code == 404


def test_author_page(app):
    author = new_author(app, user_name="Ada.L")
    other = new_author(app)
    new_post(app, author, title="By Ada")
    new_post(app, other, title="By someone else")
    client = new_client(app)
    html = client.get("/u/ada.l/posts").get_data(as_text=True)  # any case
    assert _titles(html) == ["By Ada"]
    assert client.get("/u/nobody/posts").status_code == 404


def test_my_posts_lists_every_status_for_the_author_only(app):
    author = new_author(app)
    new_post(app, author, title="Draft one", status="draft")
    new_post(app, author, title="Published one")
    new_post(app, author, title="Archived one", status="archived")
    new_post(app, new_author(app), title="Not mine")
    html = signed_in(app, author.email).get("/me/posts").get_data(as_text=True)
    for title in ("Draft one", "Published one", "Archived one"):
        assert title in html
    assert "Not mine" not in html
    assert html.index("Draft one") < html.index("Published one")


# --------------------------------------------------------------------------- query counts


def _statements(count_queries, client, path: str) -> int:
    """Statements for one request, the lower of two: a per-process settings cache (5 s) may
    add its own read to whichever request finds it expired."""
    counts = []
    for _ in range(2):
        with count_queries() as q:
            response = client.get(path)
        assert response.status_code == 200, path
        counts.append(q.count)
    return min(counts)


@pytest.mark.parametrize("signed", [False, True])
def test_list_pages_run_a_fixed_number_of_statements(app, count_queries, signed):
    reader = new_author(app)
    client = signed_in(app, reader.email) if signed else new_client(app)
    with app.app_context():
        author_name = db.session.get(User, reader.id).user_name  # type: ignore[union-attr]
    paths = ["/", "/tags/many", "/tags", f"/u/{author_name}/posts", "/search?q=post", "/feed.atom"]

    def measure() -> dict[str, int]:
        return {path: _statements(count_queries, client, path) for path in paths}

    with app.app_context():
        me = db.session.get(User, reader.id)
        make_posts(me, 2, tags=["many", "other"])  # type: ignore[arg-type]
        db.session.remove()
    small = measure()
    with app.app_context():
        me = db.session.get(User, reader.id)
        make_posts(me, 40, tags=["many", "third", "fourth"])  # type: ignore[arg-type]
        for _ in range(5):
            make_posts(make_author(), 3, tags=["many"])
        db.session.remove()
    large = measure()
    assert large == small
    assert max(large.values()) <= 6, large


def test_the_post_page_runs_a_fixed_number_of_statements(app, count_queries):
    author = new_author(app)
    few = new_post(app, author, tags=["one"])
    many = new_post(app, author, tags=["one", "two", "three", "four", "five"])
    client = new_client(app)
    assert _statements(count_queries, client, f"/posts/{few.slug}") == _statements(
        count_queries, client, f"/posts/{many.slug}"
    )
    # The post with its author and tags (up to 3), then the comment thread: a page and a count.
    assert _statements(count_queries, client, f"/posts/{many.slug}") <= 5


def test_lists_show_visible_comment_counts(app, count_queries):
    from blog.comments.models import Comment
    from blog.core.db import utcnow

    author = new_author(app)
    post = new_post(app, author, title="Much discussed")
    new_post(app, author, title="Quiet one")
    with app.app_context():
        for n in range(4):
            db.session.add(
                Comment(
                    post_id=post.id,
                    author_id=author.id,
                    content=f"comment {n}",
                    content_html=f"<p>comment {n}</p>",
                    deleted_at=utcnow() if n == 3 else None,  # deleted: not counted
                )
            )
        db.session.commit()
    html = new_client(app).get("/").get_data(as_text=True)
    assert f'href="/posts/{post.slug}#comments">3 comments' in html
    assert '0 comments<span class="visually-hidden"> on Quiet one' in html


@pytest.mark.parametrize(
    "path",
    [
        "/posts/a%00b",
        "/tags/a%00b",
        "/tags/a%00b/feed.atom",
        "/u/a%00b/posts",
        "/u/a%00b/feed.atom",
    ],
)
def test_nul_in_a_path_is_a_400_not_a_500(app, path):
    # Refused at the request boundary (blog/core/inputs.py, issue 19) before any route runs.
    response = new_client(app).get(path)
    assert response.status_code == 400
    assert "characters we cannot accept" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "status"), [("/search?tag=%00", 400), ("/search?q=a%00b", 400), ("/?before=%00", 400)]
)
def test_nul_in_a_query_value_is_handled(app, path, status):
    assert new_client(app).get(path).status_code == status


def test_an_overlong_slug_is_a_404(app):
    assert new_client(app).get("/posts/" + "a" * 5000).status_code == 404
    assert new_client(app).get("/tags/" + "a" * 5000).status_code == 404
