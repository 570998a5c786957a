"""Edit history: editing a published post keeps the version it replaces, the post says
"edited" with the time (without an extra statement), and the history with its diff is for
the author and staff only (404 to everyone else)."""

from __future__ import annotations

from sqlalchemy import select

from blog.extensions import db
from blog.posts.history import Line, line_diff
from blog.posts.models import PostRevision
from tests.conftest import new_client
from tests.posts.helpers import load_post, new_author, new_post, signed_in
from tests.posts.test_pages import _statements

FIRST = "Line one.\nLine two.\nLine three.\nLine four.\nLine five.\nLine six."


def _edit(client, post, content, title=None, version=None, **extra):
    current = load_post(client.application, post.id)
    return client.post_form(
        f"/posts/{post.id}/edit",
        {
            "title": title or current.title,
            "content": content,
            "tags": "",
            "version": str(version or current.version),
            "action": "save",
            **extra,
        },
        csrf_from=f"/posts/{post.id}/edit",
    )


def test_editing_a_published_post_keeps_the_version_it_replaces(app):
    author = new_author(app)
    post = new_post(app, author, title="The first title", content=FIRST)
    client = signed_in(app, author.email)
    assert _edit(client, post, FIRST.replace("Line two.", "Line 2, rewritten.")).status_code == 302
    assert _edit(client, post, FIRST, title="A better title").status_code == 302
    edited = load_post(app, post.id)
    assert edited.version == 3
    assert edited.edited_at is not None
    with app.app_context():
        rows = db.session.scalars(
            select(PostRevision)
            .where(PostRevision.post_id == post.id)
            .order_by(PostRevision.version)
        ).all()
        assert [(r.version, r.title, r.editor_id) for r in rows] == [
            (1, "The first title", author.id),
            (2, "The first title", author.id),
        ]
        assert rows[0].body == FIRST
        assert rows[0].edited_at == edited.published_at
        assert "Line 2, rewritten." in rows[1].body
    # Tags alone are no edit of the text: no revision, no "edited".
    before = load_post(app, post.id).edited_at
    assert _edit(client, post, FIRST, tags="python").status_code == 302
    assert load_post(app, post.id).edited_at == before


def test_drafts_keep_no_history(app):
    author = new_author(app)
    post = new_post(app, author, status="draft", content=FIRST)
    client = signed_in(app, author.email)
    assert _edit(client, post, FIRST + "\nMore.").status_code == 302
    with app.app_context():
        assert db.session.scalars(select(PostRevision)).all() == []
    assert load_post(app, post.id).edited_at is None


def test_the_post_shows_edited_and_its_history_is_for_the_author_and_staff(app):
    author, reader = new_author(app), new_author(app)
    moderator = new_author(app, role="moderator")
    post = new_post(app, author, title="The first title", content=FIRST)
    client = signed_in(app, author.email)
    _edit(client, post, FIRST.replace("Line five.", "Line <b>5</b>."), title="A newer title")
    slug = load_post(app, post.id).slug

    page = client.get(f"/posts/{slug}").get_data(as_text=True)
    assert f'<a href="/posts/{post.id}/history">edited</a> <time' in page
    anonymous = new_client(app).get(f"/posts/{slug}").get_data(as_text=True)
    assert '<span class="edited">edited <time' in anonymous
    assert "/history" not in anonymous

    history = client.get(f"/posts/{post.id}/history")
    assert history.status_code == 200
    html = history.get_data(as_text=True)
    assert "1 earlier version" in html
    assert '<del><span class="visually-hidden">removed: </span>Line five.</del>' in html
    assert (
        '<ins><span class="visually-hidden">added: </span>Line &lt;b&gt;5&lt;/b&gt;.</ins>' in html
    )
    assert "removed: </span>The first title</del>" in html
    assert signed_in(app, moderator.email).get(f"/posts/{post.id}/history").status_code == 200
    assert signed_in(app, reader.email).get(f"/posts/{post.id}/history").status_code == 404
    assert new_client(app).get(f"/posts/{post.id}/history").status_code == 404


def test_a_draft_history_is_404_to_everyone_but_its_author(app):
    author = new_author(app)
    moderator = new_author(app, role="moderator")
    draft = new_post(app, author, status="draft")
    assert signed_in(app, moderator.email).get(f"/posts/{draft.id}/history").status_code == 404
    assert signed_in(app, author.email).get(f"/posts/{draft.id}/history").status_code == 200


def test_the_edited_mark_costs_no_statement(app, count_queries):
    author = new_author(app)
    plain = new_post(app, author, content=FIRST)
    edited = new_post(app, author, content=FIRST)
    client = signed_in(app, author.email)
    _edit(client, edited, FIRST + "\nAn afterthought.")
    reader = new_client(app)
    assert "edited <time" in reader.get(f"/posts/{edited.slug}").get_data(as_text=True)
    assert _statements(count_queries, reader, f"/posts/{plain.slug}") == _statements(
        count_queries, reader, f"/posts/{edited.slug}"
    )


def test_the_history_page_runs_a_fixed_number_of_statements(app, count_queries):
    author = new_author(app)
    few, many = new_post(app, author, content=FIRST), new_post(app, author, content=FIRST)
    client = signed_in(app, author.email)
    _edit(client, few, FIRST + "\nOne.")
    for n in range(8):
        _edit(client, many, FIRST + f"\nEdit number {n}.")
    assert _statements(count_queries, client, f"/posts/{few.id}/history") == _statements(
        count_queries, client, f"/posts/{many.id}/history"
    )


def test_line_diff_keeps_context_and_marks_gaps():
    before = "\n".join(f"l{n}" for n in range(10))
    after = before.replace("l5", "five")
    assert line_diff(before, after) == [
        Line("gap", ""),
        Line("same", "l3"),
        Line("same", "l4"),
        Line("del", "l5"),
        Line("ins", "five"),
        Line("same", "l6"),
        Line("same", "l7"),
        Line("gap", ""),
    ]
    assert line_diff("same", "same") == []
