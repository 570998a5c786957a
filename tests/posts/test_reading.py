"""The post page as a reader gets it over HTTP: the reading layout's pieces (byline, reading
time, author card, highlighted code, headings in order), @mentions linked in posts and
comments, one comment count everywhere, and `flask posts rerender` for texts saved before."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from blog.auth.models import User
from blog.comments.models import Comment
from blog.comments.services import add_comment
from blog.core.db import utcnow
from blog.extensions import db
from blog.posts.models import Post
from tests.conftest import new_client
from tests.posts.helpers import make_author, make_post, signed_in

WORDS_460 = " ".join(["word"] * 460)  # two minutes at 230 words a minute

ARTICLE = f"""Intro with @ada, @gone and @nobody, and `@ada` in code.

# Part one

{WORDS_460}

### Detail

```python
def hop(seed):
    return seed * 31
```

## Part two

| a | b |
|---|---|
| 1 | 2 |
"""


@pytest.fixture
def article(app):
    with app.app_context():
        make_author(user_name="ada")
        make_author(user_name="gone", deleted_at=utcnow())
        author = make_author(
            user_name="hedy",
            display_name="Hedy Lamarr",
            bio="Inventor. " + "Radio and film. " * 30,
        )
        post = make_post(author, title="Frequency hopping", content=ARTICLE)
        add_comment(post, make_author(user_name="grace"), "# Aside\n\nLovely, @hedy!")
        db.session.commit()
        slug = post.slug
        db.session.remove()
    return f"/posts/{slug}"


def _headings(html: str) -> list[int]:
    main = html[html.index("<main") : html.index("</main>")]
    return [int(n) for n in re.findall(r"<h([1-6])[ >]", main)]


def test_the_post_page_has_the_reading_layout(app, article):
    html = new_client(app).get(article).get_data(as_text=True)

    assert 'href="/static/css/reading.css?v=' in html
    assert 'class="post reading"' in html
    # The byline: the author's picture and name, the published time, the reading time.
    start = html.index('class="post-byline"')
    byline = html[start : html.index("</p>", start)]
    assert 'href="/u/hedy">Hedy Lamarr</a>' in byline
    assert "avatar" in byline
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"', byline)
    assert "2 min read" in byline
    # The author card: a 64 px picture, the name, the bio cut short, their posts.
    start = html.index('class="author-card"')
    card = html[start : html.index("</aside>", start)]
    assert "avatar-64" in card
    assert "Hedy Lamarr" in card
    assert "Inventor. Radio and film." in card
    assert "…" in card
    assert "Radio and film. " * 30 not in card
    assert 'href="/u/hedy/posts"' in card
    # Code highlighted on the server; the table in its scroll box.
    assert '<pre class="highlight" tabindex="0"><code><span class="k">def</span>' in html
    assert '<div class="table-scroll" tabindex="0"><table>' in html


def test_headings_on_the_post_page_never_skip_a_level(app, article):
    levels = _headings(new_client(app).get(article).get_data(as_text=True))
    # h1 title; the body's #, ###, ## as h2, h3, h3 (both under "# Part one"); the author
    # card's h2; the comments' h2 with the comment's own "# Aside" under it as an h3.
    assert levels == [1, 2, 3, 3, 2, 2, 3], levels


def test_mentions_link_live_people_only(app, article):
    html = new_client(app).get(article).get_data(as_text=True)
    body = html[html.index('class="post-body"') : html.index('class="author-card"')]
    assert '<a href="/u/ada" class="mention" rel="nofollow noopener noreferrer">@ada</a>' in body
    assert "@gone" in body  # a deleted account: plain text, not a link to a 404
    assert 'href="/u/gone"' not in body
    assert "@nobody" in body
    assert 'href="/u/nobody"' not in body
    assert "<code>@ada</code>" in body
    comments = html[html.index('id="comments"') :]
    assert '<a href="/u/hedy" class="mention"' in comments


def test_a_mention_link_leads_to_the_profile(app, article):
    client = new_client(app)
    html = client.get(article).get_data(as_text=True)
    href = re.search(r'<a href="([^"]+)" class="mention"', html).group(1)  # type: ignore[union-attr]
    assert client.get(href).status_code == 200


def test_mentions_cost_one_lookup_however_many(app, count_queries):
    with app.app_context():
        names = [make_author(user_name=f"person{n}").user_name for n in range(30)]
        writer = make_author()
        email = writer.email
        db.session.remove()
    client = signed_in(app, email)

    def statements(text: str) -> int:
        token = client.csrf("/write")
        with count_queries() as q:
            response = client.post("/write/preview", data={"csrf_token": token, "content": text})
        assert response.status_code == 200
        return q.count, response.get_data(as_text=True)

    one, _ = statements("Hello @person0.")
    many, html = statements("Hello " + ", ".join(f"@{name}" for name in names) + ".")
    assert html.count('class="mention"') == 30
    assert many == one


def test_the_editor_preview_is_highlighted_and_styled(app):
    with app.app_context():
        email = make_author().email
        db.session.remove()
    client = signed_in(app, email)
    assert 'href="/static/css/reading.css?v=' in client.get("/write").get_data(as_text=True)
    token = client.csrf("/write")
    html = client.post(
        "/write/preview", data={"csrf_token": token, "content": "```js\nlet x = 1;\n```"}
    ).get_data(as_text=True)
    assert '<span class="kd">let</span>' in html


# --------------------------------------------------------------------------- one comment count


@pytest.fixture
def five_comments(app):
    with app.app_context():
        author = make_author(user_name="ada")
        reader = make_author(user_name="bob")
        mod = make_author("moderator", user_name="mod")
        post = make_post(author, title="Counted once")
        comments = [add_comment(post, reader, f"Comment number {n}") for n in range(5)]
        db.session.commit()
        ids = {"slug": post.slug, "comments": [c.id for c in comments], "mod": mod.email}
        db.session.remove()
    return ids


def _home_count(app) -> str:
    html = new_client(app).get("/").get_data(as_text=True)
    return re.search(r"(\d+) comments?<span", html).group(1)  # type: ignore[union-attr]


def _heading_count(app, slug: str) -> str:
    html = new_client(app).get(f"/posts/{slug}").get_data(as_text=True)
    return re.search(r'<span id="comment-count">(\d+) comment', html).group(1)  # type: ignore[union-attr]


def test_a_removed_comment_leaves_every_count_at_once(app, five_comments):
    slug = five_comments["slug"]
    assert (_home_count(app), _heading_count(app, slug)) == ("5", "5")
    mod = signed_in(app, five_comments["mod"])
    removed = five_comments["comments"][2]

    response = mod.post_form(
        f"/comments/{removed}/remove", {"reason": "Off topic"}, csrf_from=f"/posts/{slug}"
    )

    assert response.status_code == 302
    assert (_home_count(app), _heading_count(app, slug)) == ("4", "4")
    # The removed comment's place in the thread stays, with its reason.
    assert "Removed by a moderator: Off topic" in new_client(app).get(f"/posts/{slug}").get_data(
        as_text=True
    )


def test_an_htmx_removal_updates_the_heading_count_in_place(app, five_comments):
    slug = five_comments["slug"]
    mod = signed_in(app, five_comments["mod"], htmx=True)
    removed = five_comments["comments"][0]

    response = mod.post_form(
        f"/comments/{removed}/remove", {"reason": "Spam"}, csrf_from=f"/posts/{slug}"
    )

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'id="comment-{removed}"' in html
    assert '<span id="comment-count" hx-swap-oob="true">4 comments</span>' in html


def test_a_comment_deleted_by_its_author_is_not_counted(app, five_comments):
    slug = five_comments["slug"]
    with app.app_context():
        bob = db.session.scalar(select(User).where(User.user_name == "bob"))
        email = bob.email  # type: ignore[union-attr]
        db.session.remove()
    bob_client = signed_in(app, email)
    deleted = five_comments["comments"][4]
    response = bob_client.post_form(f"/comments/{deleted}/delete", csrf_from=f"/posts/{slug}")
    assert response.status_code == 302
    assert (_home_count(app), _heading_count(app, slug)) == ("4", "4")


# --------------------------------------------------------------------------- re-rendering


def test_rerender_brings_old_html_up_to_date_without_touching_updated_at(app):
    with app.app_context():
        make_author(user_name="ada")
        author = make_author()
        post = make_post(author, content="# Title\n\n```python\nx = 1\n```\n\nHi @ada")
        comment = add_comment(post, author, "Thanks @ada")
        db.session.commit()
        # As the renderer before December 2026 stored them.
        old_post = "<h2>Title</h2>\n<pre><code>x = 1\n</code></pre>\n<p>Hi @ada</p>\n"
        db.session.execute(
            update(Post)
            .where(Post.id == post.id)
            .values(content_html=old_post, updated_at=Post.updated_at)
        )
        db.session.execute(
            update(Comment).where(Comment.id == comment.id).values(content_html="<p>x</p>")
        )
        db.session.commit()
        before = db.session.scalar(select(Post.updated_at).where(Post.id == post.id))
        post_id, comment_id = post.id, comment.id
        db.session.remove()

    runner = app.test_cli_runner()
    result = runner.invoke(args=["posts", "rerender", "--batch", "1"])
    assert result.exit_code == 0, result.output
    assert "posts:    1 of 1 re-rendered" in result.output
    assert "comments: 1 of 1 re-rendered" in result.output

    with app.app_context():
        html, updated = db.session.execute(
            select(Post.content_html, Post.updated_at).where(Post.id == post_id)
        ).one()
        assert '<pre class="highlight" tabindex="0">' in html
        assert 'href="/u/ada"' in html
        assert updated == before  # a re-render is not an edit
        assert 'href="/u/ada"' in db.session.get(Comment, comment_id).content_html  # type: ignore[union-attr]
    again = runner.invoke(args=["posts", "rerender"])
    assert "posts:    0 of 1 re-rendered" in again.output  # idempotent
