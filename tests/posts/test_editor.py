"""The editor: validation beside each field (422 for htmx, never a 500), save / publish,
Markdown stored rendered, tags created on the fly, the live preview and tag suggestions."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select

from blog.extensions import db
from blog.outbox.models import OutboxEvent
from blog.posts.models import Tag
from tests.conftest import new_client
from tests.posts.helpers import load_post, new_author, new_post, signed_in

GOOD = {"title": "A perfectly good title", "content": "Some *Markdown* here.", "tags": ""}


def _post_id(location: str) -> uuid.UUID:
    return uuid.UUID(location.rstrip("/").split("/")[-2])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "", "Give the post a title."),
        ("title", "Four", "A title has 5 to 500 characters."),
        ("title", "x" * 501, "A title has 5 to 500 characters."),
        ("title", "Bad\x1btitle", "Contains a character that is not allowed."),
        ("content", "", "Write the post."),
        ("content", "Too short", "The text has 10 to 100,000 characters."),
        ("content", "x" * 100_001, "The text has 10 to 100,000 characters."),
        ("tags", "a, b, c, d, e, f", "Use at most 5 tags."),
        ("tags", "x" * 31, "A tag has at most 30 characters."),
        ("tags", "semi;colon", "Tags use letters, digits and . + # - only."),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_input_is_shown_beside_the_field(app, field, value, message, htmx):
    author = new_author(app)
    client = signed_in(app, author.email, htmx=htmx)
    response = client.post_form(
        "/write", {**GOOD, field: value, "action": "publish"}, csrf_from="/write"
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'<small id="{field}-error" class="field-error">{message}' in html
    assert f'aria-describedby="{field}-hint {field}-error"' in html or (
        f'aria-describedby="{field}-error"' in html
    )
    assert ("<html" in html) is not htmx  # the form block alone for htmx
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.event_type == "post.published")
            )
            == 0
        )


def test_boundary_lengths_are_accepted(app):
    author = new_author(app)
    client = signed_in(app, author.email)
    for title, content in (("Five!", "Ten chars."), ("t" * 500, "c" * 100_000)):
        response = client.post_form(
            "/write", {"title": title, "content": content, "action": "save"}, csrf_from="/write"
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:300]


def test_a_form_without_csrf_is_refused(app):
    author = new_author(app)
    client = signed_in(app, author.email)
    response = client.post("/write", data={**GOOD, "action": "publish"})
    assert response.status_code == 400
    assert "Your form expired" in response.get_data(as_text=True)


def test_save_a_draft_then_publish_from_the_editor(app):
    author = new_author(app)
    client = signed_in(app, author.email)
    response = client.post_form(
        "/write", {**GOOD, "tags": "Python, python , Web Dev", "action": "save"}, csrf_from="/write"
    )
    assert response.status_code == 302
    post_id = _post_id(response.location)
    assert response.location.endswith(f"/posts/{post_id}/edit")
    draft = load_post(app, post_id)
    assert draft.status == "draft"
    assert draft.content_html.strip() == "<p>Some <em>Markdown</em> here.</p>"
    assert [t.name for t in draft.tags] == ["python", "web-dev"]
    editor = client.get(response.location).get_data(as_text=True)
    assert "Draft saved. Only you can see it." in editor
    assert 'value="python, web-dev"' in editor

    response = client.post_form(
        f"/posts/{post_id}/edit",
        {
            "title": "A perfectly good title",
            "content": "New **text** now.",
            "tags": "python",
            "action": "publish",
        },
    )
    assert response.status_code == 302
    assert response.location.endswith(f"/posts/{draft.slug}")
    published = load_post(app, post_id)
    assert published.status == "published"
    assert published.content_html.strip() == "<p>New <strong>text</strong> now.</p>"
    assert [t.name for t in published.tags] == ["python"]
    assert "Your post is published." in client.get(response.location).get_data(as_text=True)
    with app.app_context():  # tags are shared, never duplicated
        assert db.session.scalar(select(func.count()).select_from(Tag)) == 2


def test_editing_a_published_post_emits_post_updated(app):
    author = new_author(app)
    post = new_post(app, author, title="Stable title", content="Original text here.")
    client = signed_in(app, author.email)
    page = client.get(f"/posts/{post.id}/edit").get_data(as_text=True)
    assert "Update post" in page
    assert re.search(r'id="post-preview" class="preview">\s*<p>Original text here.</p>', page)
    response = client.post_form(
        f"/posts/{post.id}/edit",
        {
            "title": "Stable title",
            "content": "Edited text here.",
            "tags": "new-tag",
            "action": "save",
        },
    )
    assert response.status_code == 302
    assert "Edited text here." in load_post(app, post.id).content_html
    with app.app_context():
        [event] = db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == "post.updated")
        ).all()
        assert event.event_data["changed"] == ["content", "tags"]


def test_publishing_through_htmx_redirects_the_page(app):
    author = new_author(app)
    client = signed_in(app, author.email, htmx=True)
    response = client.post_form("/write", {**GOOD, "action": "publish"}, csrf_from="/write")
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/posts/a-perfectly-good-title"


def test_preview_without_javascript_saves_nothing(app):
    author = new_author(app)
    client = signed_in(app, author.email)
    response = client.post_form(
        "/write",
        {**GOOD, "content": "# Heading\n\n*preview me*", "action": "preview"},
        csrf_from="/write",
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h2>Heading</h2>" in html
    assert "<em>preview me</em>" in html
    assert 'value="A perfectly good title"' in html
    assert "A perfectly good title" not in client.get("/me/posts").get_data(as_text=True)


def test_live_preview_fragment(app):
    author = new_author(app)
    client = signed_in(app, author.email, htmx=True)
    response = client.post_form("/write/preview", {"content": "Hello *there*"}, csrf_from="/write")
    assert response.status_code == 200
    html = response.get_data(as_text=True).strip()
    assert html.startswith('<div id="post-preview" class="preview">')
    assert "<em>there</em>" in html
    empty = client.post_form("/write/preview", {"content": "  "}, csrf_from="/write")
    assert "The preview of your text appears here." in empty.get_data(as_text=True)
    too_long = client.post_form("/write/preview", {"content": "x" * 100_001}, csrf_from="/write")
    assert too_long.status_code == 422


def test_the_editor_page_wires_preview_and_suggestions(app):
    author = new_author(app)
    html = signed_in(app, author.email).get("/write").get_data(as_text=True)
    assert 'hx-post="/write/preview"' in html
    assert 'hx-trigger="input changed delay:400ms"' in html
    assert 'hx-get="/write/tag-suggestions"' in html
    assert 'list="tag-options"' in html
    assert '<form id="post-form" method="post" action="/write"' in html  # works without JS
    assert 'aria-live="polite"' in html


def test_tag_suggestions(app):
    author = new_author(app)
    new_post(app, author, tags=["python", "pytest"])
    new_post(app, author, tags=["python"])
    new_post(app, author, tags=["pypy-secret"], status="draft")  # not public: not suggested
    client = signed_in(app, author.email, htmx=True)
    html = client.get("/write/tag-suggestions?tags=py").get_data(as_text=True)
    assert html.strip().startswith('<datalist id="tag-options">')
    assert html.index('value="python"') < html.index('value="pytest"')  # most used first
    assert "pypy-secret" not in html
    html = client.get("/write/tag-suggestions?tags=python, py").get_data(as_text=True)
    assert 'value="python, pytest"' in html
    assert 'value="python, python"' not in html
    assert "<option" not in client.get("/write/tag-suggestions?tags=").get_data(as_text=True)
    assert client.get("/write/tag-suggestions?tags=py%00").status_code == 400  # issue 19
    assert new_client(app).get("/write/tag-suggestions?tags=py").status_code == 302


def test_a_refused_publish_in_the_editor_keeps_the_form(app):
    author = new_author(app)
    post = new_post(app, author)
    client = signed_in(app, author.email, htmx=True)
    response = client.post_form(
        f"/posts/{post.id}/edit", {**GOOD, "action": "publish"}, csrf_from=f"/posts/{post.id}/edit"
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "This post is already published." in html
    assert 'value="A perfectly good title"' in html


def test_new_posts_are_rate_limited_but_errors_do_not_count(app):
    author = new_author(app)
    client = signed_in(app, author.email)
    app.config["AUTH_POST_LIMIT"] = "2/hour"
    try:
        for _ in range(3):  # refused forms are not counted
            bad = client.post_form("/write", {**GOOD, "title": "x", "action": "save"})
            assert bad.status_code == 422
        for n in range(2):
            ok = client.post_form("/write", {**GOOD, "title": f"Post {n} here", "action": "save"})
            assert ok.status_code == 302
        refused = client.post_form("/write", {**GOOD, "title": "One too many", "action": "save"})
        assert refused.status_code == 429
        assert refused.headers["Retry-After"]
    finally:
        app.config.pop("AUTH_POST_LIMIT")
