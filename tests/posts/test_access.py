"""Who may see and change a post: every refusal of access_post, by form and by htmx request.

Drafts (and their preview fragments) do not exist for anyone but their author: 404. A public
post that someone may not change answers 403.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from blog.audit.models import AuditLog
from blog.core.db import utcnow
from blog.extensions import db
from tests.conftest import new_client
from tests.posts.helpers import load_post, new_author, new_post, signed_in

EDIT_FORM = {"title": "Taken over by someone", "content": "Replaced text, long enough.", "tags": ""}


@pytest.fixture
def people(app):
    return {
        "author": new_author(app),
        "other": new_author(app),
        "moderator": new_author(app, role="moderator"),
        "admin": new_author(app, role="admin"),
    }


def _as(app, people, who, htmx=False):
    if who == "anonymous":
        return new_client(app, htmx=htmx)
    return signed_in(app, people[who].email, htmx=htmx)


# --------------------------------------------------------------------------- drafts


@pytest.mark.parametrize("who", ["anonymous", "other", "moderator", "admin"])
@pytest.mark.parametrize("htmx", [False, True])
def test_a_draft_is_404_to_everyone_but_its_author(app, people, who, htmx):
    draft = new_post(app, people["author"], status="draft", title="Secret draft title")
    client = _as(app, people, who, htmx=htmx)
    page = client.get(f"/posts/{draft.slug}")
    assert page.status_code == 404
    assert "Secret draft title" not in page.get_data(as_text=True)
    if who == "anonymous":
        return
    # The editor, its preview fragment and every button: 404 too, revealing nothing.
    assert client.get(f"/posts/{draft.id}/edit").status_code == 404
    for path, data in [
        (f"/posts/{draft.id}/edit", {**EDIT_FORM, "action": "save"}),
        (f"/posts/{draft.id}/preview", {"content": "anything"}),
        (f"/posts/{draft.id}/publish", {}),
        (f"/posts/{draft.id}/archive", {}),
        (f"/posts/{draft.id}/unschedule", {}),
    ]:
        response = client.post_form(path, data)
        assert response.status_code == 404, path
    assert load_post(app, draft.id).title == "Secret draft title"
    assert load_post(app, draft.id).status == "draft"


def test_the_author_sees_the_draft_and_its_preview(app, people):
    draft = new_post(app, people["author"], status="draft", title="My own draft")
    client = signed_in(app, people["author"].email)
    page = client.get(f"/posts/{draft.slug}").get_data(as_text=True)
    assert "My own draft" in page
    assert "only you can see this page" in page
    preview = client.post_form(f"/posts/{draft.id}/preview", {"content": "**bold**"})
    assert preview.status_code == 200
    assert "<strong>bold</strong>" in preview.get_data(as_text=True)


def test_a_scheduled_draft_is_a_draft_for_access(app, people):
    from datetime import timedelta

    from blog.posts.services import schedule_post

    draft = new_post(app, people["author"], status="draft")
    with app.app_context():
        from blog.posts.models import Post

        schedule_post(db.session.get(Post, draft.id), utcnow() + timedelta(hours=1))
        db.session.commit()
    assert new_client(app).get(f"/posts/{draft.slug}").status_code == 404
    assert _as(app, people, "moderator").get(f"/posts/{draft.slug}").status_code == 404


def test_an_unknown_post_is_404(app, people):
    client = signed_in(app, people["author"].email)
    assert client.get("/posts/no-such-post").status_code == 404
    assert client.get("/posts/00000000-0000-0000-0000-000000000000/edit").status_code == 404
    assert (
        client.post_form("/posts/00000000-0000-0000-0000-000000000000/archive").status_code == 404
    )
    assert client.get("/posts/not-a-uuid/edit").status_code == 404


# --------------------------------------------------------------------------- editing


@pytest.mark.parametrize("status", ["published", "archived"])
@pytest.mark.parametrize("who", ["other", "moderator", "admin"])
@pytest.mark.parametrize("htmx", [False, True])
def test_only_the_author_edits(app, people, status, who, htmx):
    post = new_post(app, people["author"], status=status, title="The original title")
    client = _as(app, people, who, htmx=htmx)
    assert client.get(f"/posts/{post.id}/edit").status_code == 403
    response = client.post_form(f"/posts/{post.id}/edit", {**EDIT_FORM, "action": "save"})
    assert response.status_code == 403
    assert "Only the author can change this post." in response.get_data(as_text=True)
    assert client.post_form(f"/posts/{post.id}/preview", {"content": "x"}).status_code == 403
    assert load_post(app, post.id).title == "The original title"


def test_anonymous_writers_are_sent_to_sign_in(app, people):
    post = new_post(app, people["author"])
    client = new_client(app)
    for path in ("/write", f"/posts/{post.id}/edit", "/me/posts"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/login?next=" in response.location
    response = client.post_form(f"/posts/{post.id}/archive")
    assert response.status_code == 302
    assert load_post(app, post.id).status == "published"
    htmx = new_client(app, htmx=True)
    response = htmx.post_form(f"/posts/{post.id}/archive")
    assert response.status_code == 401
    assert "/login" in response.headers["HX-Redirect"]


def test_an_unverified_user_cannot_write(app):
    from tests.factories import make_user

    with app.app_context():
        user = make_user()
        email = user.email
    client = signed_in(app, email)
    page = client.get("/write")
    assert page.status_code == 403
    assert "Confirm your email address first" in page.get_data(as_text=True)
    response = client.post_form("/write", {**EDIT_FORM, "action": "publish"}, csrf_from="/account")
    assert response.status_code == 403
    htmx = signed_in(app, email, htmx=True)
    assert htmx.post_form("/write/preview", {"content": "hello"}).status_code == 403


# --------------------------------------------------------------------------- archiving


@pytest.mark.parametrize("htmx", [False, True])
def test_another_user_cannot_archive(app, people, htmx):
    post = new_post(app, people["author"])
    client = _as(app, people, "other", htmx=htmx)
    response = client.post_form(f"/posts/{post.id}/archive")
    assert response.status_code == 403
    assert "Only the author or a moderator can archive this post." in response.get_data(
        as_text=True
    )
    assert load_post(app, post.id).status == "published"


@pytest.mark.parametrize("who", ["moderator", "admin"])
def test_moderators_archive_any_post_and_it_is_audited(app, people, who):
    post = new_post(app, people["author"], title="Something off-topic")
    client = _as(app, people, who, htmx=True)
    response = client.post_form(f"/posts/{post.id}/archive", csrf_from=f"/posts/{post.slug}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Archived" in html
    archived = load_post(app, post.id)
    assert archived.status == "archived"
    assert archived.archived_by_id == people[who].id
    with app.app_context():
        entry = db.session.scalars(select(AuditLog).where(AuditLog.entity_id == str(post.id))).one()
        assert entry.action == "post.archive"
        assert entry.actor_id == people[who].id
        assert entry.old_values == {"status": "published"}
        assert entry.new_values == {"status": "archived"}


def test_a_moderators_archive_is_undone_by_a_moderator_only(app, people):
    post = new_post(app, people["author"])
    moderator = _as(app, people, "moderator")
    moderator.post_form(f"/posts/{post.id}/archive")
    author = _as(app, people, "author")
    response = author.post_form(f"/posts/{post.id}/publish")
    assert response.status_code == 403
    assert "only a moderator can publish it again" in response.get_data(as_text=True)
    # Not through the editor's "Save and publish again" either.
    response = author.post_form(
        f"/posts/{post.id}/edit",
        {"title": "Sneaking it back", "content": "The same text again.", "action": "publish"},
    )
    assert response.status_code == 403
    assert load_post(app, post.id).status == "archived"
    assert load_post(app, post.id).title != "Sneaking it back"
    response = moderator.post_form(f"/posts/{post.id}/publish")
    assert response.status_code == 302
    assert load_post(app, post.id).status == "published"


def test_an_author_archive_is_undone_by_the_author_not_a_moderator(app, people):
    post = new_post(app, people["author"], status="archived")
    other = _as(app, people, "other")
    assert other.post_form(f"/posts/{post.id}/publish").status_code == 403
    moderator = _as(app, people, "moderator")
    assert moderator.post_form(f"/posts/{post.id}/publish").status_code == 403
    author = _as(app, people, "author")
    assert author.post_form(f"/posts/{post.id}/publish").status_code == 302
    assert load_post(app, post.id).status == "published"


def test_the_buttons_shown_match_the_rights(app, people):
    post = new_post(app, people["author"])
    path = f"/posts/{post.slug}"
    anonymous = new_client(app).get(path).get_data(as_text=True)
    assert f"/posts/{post.id}/archive" not in anonymous
    assert f"/posts/{post.id}/edit" not in anonymous
    other = _as(app, people, "other").get(path).get_data(as_text=True)
    assert f"/posts/{post.id}/archive" not in other
    moderator = _as(app, people, "moderator").get(path).get_data(as_text=True)
    assert f"/posts/{post.id}/archive" in moderator
    assert f"/posts/{post.id}/edit" not in moderator
    author = _as(app, people, "author").get(path).get_data(as_text=True)
    assert f"/posts/{post.id}/archive" in author
    assert f"/posts/{post.id}/edit" in author


def test_an_archived_post_stays_readable_at_its_address(app, people):
    post = new_post(app, people["author"], status="archived", title="Old news here")
    page = new_client(app).get(f"/posts/{post.slug}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Old news here" in html
    assert "no longer listed" in html


def test_a_deleted_accounts_posts_are_gone(app, people):
    from datetime import timedelta

    from blog.auth.models import User

    post = new_post(app, people["author"], title="Written before leaving")
    with app.app_context():
        user = db.session.get(User, people["author"].id)
        user.soft_delete(now=utcnow(), purge_after=utcnow() + timedelta(days=30))
        db.session.commit()
    client = new_client(app)
    assert client.get(f"/posts/{post.slug}").status_code == 404
    assert "Written before leaving" not in client.get("/").get_data(as_text=True)
    assert client.get(f"/u/{people['author'].user_name}/posts").status_code == 404


def test_after_a_moderators_archive_the_author_sees_why_and_no_publish_button(app, people):
    post = new_post(app, people["author"])
    _as(app, people, "moderator").post_form(f"/posts/{post.id}/archive")
    author = _as(app, people, "author")
    page = author.get(f"/posts/{post.slug}").get_data(as_text=True)
    assert "Archived</mark> by a moderator" in page
    assert f"/posts/{post.id}/publish" not in page
    editor = author.get(f"/posts/{post.id}/edit").get_data(as_text=True)
    assert "Save and publish again" not in editor
    moderator_page = _as(app, people, "moderator").get(f"/posts/{post.slug}").get_data(as_text=True)
    assert f"/posts/{post.id}/publish" in moderator_page


# --------------------------------------------------------------------------- deleting


@pytest.mark.parametrize("htmx", [False, True])
def test_the_author_deletes_a_draft(app, people, htmx):
    draft = new_post(app, people["author"], status="draft", tags=["kept"])
    client = _as(app, people, "author", htmx=htmx)
    response = client.post_form(f"/posts/{draft.id}/delete")
    if htmx:
        assert response.status_code == 204
        assert response.headers["HX-Redirect"] == "/me/posts"
    else:
        assert response.status_code == 302
        assert response.location.endswith("/me/posts")
    assert "The draft is deleted." in client.get("/me/posts").get_data(as_text=True)
    assert client.get(f"/posts/{draft.slug}").status_code == 404


@pytest.mark.parametrize("who", ["other", "moderator", "admin"])
def test_nobody_else_deletes_a_post(app, people, who):
    draft = new_post(app, people["author"], status="draft")
    published = new_post(app, people["author"])
    client = _as(app, people, who)
    assert client.post_form(f"/posts/{draft.id}/delete").status_code == 404
    assert client.post_form(f"/posts/{published.id}/delete").status_code == 403
    assert load_post(app, draft.id).status == "draft"
    assert load_post(app, published.id).status == "published"


def test_a_published_post_is_archived_not_deleted(app, people):
    post = new_post(app, people["author"])
    client = _as(app, people, "author", htmx=True)
    response = client.post_form(f"/posts/{post.id}/delete")
    assert response.status_code == 200
    assert "cannot be deleted: archive it" in response.get_data(as_text=True)
    assert load_post(app, post.id).status == "published"
