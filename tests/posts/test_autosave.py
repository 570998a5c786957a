"""Autosave and versions: the editor's background saves keep drafts on the server, a save
from a stale version (a second tab) is refused with 409 rather than overwriting, a published
post is never saved in the background, and the ordinary Save checks the version too."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from blog.extensions import db
from blog.posts import services
from blog.posts.models import Post, PostRevision
from tests.conftest import new_client
from tests.posts.helpers import load_post, new_author, new_post, signed_in

GOOD = {"title": "A draft in progress", "content": "The first words of it.", "tags": ""}


def _revisions(app, post_id: uuid.UUID) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(PostRevision).where(PostRevision.post_id == post_id)
        )


def test_the_first_autosave_creates_the_draft_and_later_ones_update_it(app):
    author = new_author(app)
    client = signed_in(app, author.email)
    first = client.post_form("/write/autosave", GOOD, csrf_from="/write")
    assert first.status_code == 201, first.get_data(as_text=True)
    assert "Saved <time" in first.get_data(as_text=True)
    edit_url = first.headers["Blog-Edit-Url"]
    post_id = uuid.UUID(edit_url.split("/")[-2])
    assert first.headers["Blog-Autosave-Url"] == f"/posts/{post_id}/autosave"
    assert first.headers["Blog-Post-Version"] == "1"
    draft = load_post(app, post_id)
    assert (draft.status, draft.content, draft.version) == ("draft", GOOD["content"], 1)

    second = client.post_form(
        f"/posts/{post_id}/autosave",
        {**GOOD, "content": "The first words of it, and more.", "version": "1"},
        csrf_from=edit_url,
    )
    assert second.status_code == 200
    assert second.headers["Blog-Post-Version"] == "2"
    assert load_post(app, post_id).content == "The first words of it, and more."
    # Opening the editor again shows the saved text and the version to start from.
    page = client.get(edit_url).get_data(as_text=True)
    assert "The first words of it, and more.</textarea>" in page
    assert 'name="version" type="hidden" value="2"' in page
    assert _revisions(app, post_id) == 0  # drafts keep no history


def test_a_save_from_a_stale_version_is_refused_with_409(app):
    author = new_author(app)
    post = new_post(app, author, status="draft")
    tab_a = signed_in(app, author.email)
    tab_b = signed_in(app, author.email)
    edit = f"/posts/{post.id}/edit"
    saved = tab_a.post_form(
        f"/posts/{post.id}/autosave",
        {**GOOD, "content": "Written in tab A.", "version": "1"},
        csrf_from=edit,
    )
    assert saved.status_code == 200
    stale = tab_b.post_form(
        f"/posts/{post.id}/autosave",
        {**GOOD, "content": "Written in tab B.", "version": "1"},
        csrf_from=edit,
    )
    assert stale.status_code == 409
    html = stale.get_data(as_text=True)
    assert "This post was changed in another tab or window at" in html
    assert f'href="{edit}">Load the newer text</a>' in html
    assert 'data-autosave-keep="2"' in html
    assert stale.headers["Blog-Post-Version"] == "2"
    assert load_post(app, post.id).content == "Written in tab A."

    # Tab B's full "Save draft" from the old version is refused the same way; its text stays
    # in the form, and the version moves on so that saving again is a deliberate choice.
    form = tab_b.post_form(
        edit, {**GOOD, "content": "Written in tab B.", "version": "1", "action": "save"}
    )
    assert form.status_code == 409
    page = form.get_data(as_text=True)
    assert "This post was changed in another tab or window" in page
    assert "Written in tab B.</textarea>" in page
    assert 'name="version" type="hidden" value="2"' in page
    assert load_post(app, post.id).content == "Written in tab A."
    again = tab_b.post_form(
        edit, {**GOOD, "content": "Written in tab B.", "version": "2", "action": "save"}
    )
    assert again.status_code == 302
    assert load_post(app, post.id).content == "Written in tab B."


def test_a_published_post_is_never_autosaved(app):
    author = new_author(app)
    post = new_post(app, author)
    client = signed_in(app, author.email)
    response = client.post_form(
        f"/posts/{post.id}/autosave",
        {**GOOD, "version": "1"},
        csrf_from=f"/posts/{post.id}/edit",
    )
    assert response.status_code == 422
    assert "saved when you press “Update post”" in response.get_data(as_text=True)
    assert load_post(app, post.id).title == post.title
    page = client.get(f"/posts/{post.id}/edit").get_data(as_text=True)
    assert "data-autosave-public" in page
    assert "data-autosave-url" not in page


def test_autosave_refuses_another_persons_post_and_a_missing_token(app):
    alice, bob = new_author(app), new_author(app)
    draft = new_post(app, alice, status="draft")
    published = new_post(app, alice)
    as_bob = signed_in(app, bob.email)
    for post, code in ((draft, 404), (published, 403)):
        response = as_bob.post_form(f"/posts/{post.id}/autosave", {**GOOD, "version": "1"})
        assert response.status_code == code
    as_alice = signed_in(app, alice.email)
    no_token = as_alice.post(f"/posts/{draft.id}/autosave", data={**GOOD, "version": "1"})
    assert no_token.status_code == 400
    no_token = as_alice.post("/write/autosave", data=GOOD)
    assert no_token.status_code == 400
    assert load_post(app, draft.id).version == 1
    anonymous = new_client(app)
    assert anonymous.post_form(f"/posts/{draft.id}/autosave", GOOD).status_code in (302, 401)


def test_an_incomplete_draft_is_not_saved_and_says_why(app):
    author = new_author(app)
    client = signed_in(app, author.email)
    response = client.post_form("/write/autosave", {**GOOD, "title": "Hey"}, csrf_from="/write")
    assert response.status_code == 422
    assert "Not saved: A title has 5 to 500 characters." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Post)) == 0


def test_autosave_is_rate_limited(app, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_AUTOSAVE_LIMIT", "2/minute")
    author = new_author(app)
    post = new_post(app, author, status="draft")
    client = signed_in(app, author.email)
    codes = [
        client.post_form(
            f"/posts/{post.id}/autosave",
            {**GOOD, "content": f"Version number {n} of it.", "version": str(n + 1)},
            csrf_from=f"/posts/{post.id}/edit",
        ).status_code
        for n in range(3)
    ]
    assert codes == [200, 200, 429]


def test_new_drafts_made_by_autosave_count_against_the_post_limit(app, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_POST_LIMIT", "1/hour")
    author = new_author(app)
    client = signed_in(app, author.email)
    codes = [
        client.post_form("/write/autosave", GOOD, csrf_from="/write").status_code for _ in range(2)
    ]
    assert codes == [201, 429]


# --------------------------------------------------------------------------- services


def test_update_post_checks_the_version_and_bumps_it(app):
    author = new_author(app)
    ref = new_post(app, author, status="draft")
    with app.app_context():
        post = db.session.get(Post, ref.id)
        services.update_post(
            post, title=post.title, content="Changed once, here.", tag_names=[], expected_version=1
        )
        assert post.version == 2
        with pytest.raises(services.VersionConflict):
            services.update_post(
                post,
                title=post.title,
                content="From a stale tab.",
                tag_names=[],
                expected_version=1,
            )
        # Nothing changed: the version stays.
        services.update_post(post, title=post.title, content=post.content, tag_names=[])
        assert post.version == 2
        services.autosave_draft(
            post, title=post.title, content="Autosaved text.", tag_names=[], expected_version=2
        )
        assert post.version == 3
        assert post.edited_at is None  # a draft's changes are no public edit
        assert db.session.scalar(select(func.count()).select_from(PostRevision)) == 0
        db.session.rollback()
