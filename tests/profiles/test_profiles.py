"""Public profiles: what anyone sees at /u/<user_name>, the generated avatar, and editing one's
own profile without being able to set anything else."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from blog.auth.models import User
from blog.core.db import utcnow
from blog.core.ui import avatar_hue
from blog.extensions import db
from tests.conftest import new_client
from tests.factories import make_user


def _user(app, user_name: str) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.user_name == user_name))
        db.session.expunge(user)
        return user


def test_anyone_sees_a_profile_with_name_bio_and_avatar(app, client):
    with app.app_context():
        user = make_user(
            user_name="ada", display_name="Ada Lovelace", bio="First programmer.\nPoet of science."
        )
        user_id = user.id

    response = client.get("/u/ada")

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<h1 id="profile-name">Ada Lovelace</h1>' in body
    assert "@ada" in body
    assert "First programmer.\nPoet of science." in body
    # No picture uploaded: the initials, on the colour of this person's id (blog.core.ui).
    assert (
        f'<span class="avatar avatar-96 hue-{avatar_hue(user_id)}" aria-hidden="true">AL</span>'
        in body
    )
    assert "No published posts yet." in body


def test_user_names_are_found_whatever_their_case(app, client):
    with app.app_context():
        make_user(user_name="Ada")

    assert client.get("/u/ada").status_code == 200
    assert client.get("/u/ADA").status_code == 200


def test_unknown_and_deleted_users_have_no_profile(app, client):
    with app.app_context():
        user = make_user(user_name="gone")
        now = utcnow()
        user.soft_delete(now=now, purge_after=now + timedelta(days=30))
        db.session.commit()
        gone_id = user.id

    assert client.get("/u/nobody").status_code == 404
    assert client.get("/u/gone").status_code == 404
    assert client.get(f"/avatars/{gone_id}.svg").status_code == 404


def test_profile_text_is_escaped(app, client):
    with app.app_context():
        make_user(
            user_name="mallory",
            display_name="<script>alert(1)</script>",
            bio='<img src=x onerror=alert(1)> <a href="javascript:alert(1)" hx-get="/x">x</a>',
        )

    body = client.get("/u/mallory").get_data(as_text=True)

    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<img src=x" not in body
    assert 'hx-get="/x"' not in body


def test_the_generated_avatar_is_an_inert_cacheable_svg(app, client):
    with app.app_context():
        user = make_user(user_name="ada", display_name='<Ada & "Co">')
        user_id = user.id

    response = client.get(f"/avatars/{user_id}.svg")

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert "<script" not in body
    assert "&lt;" in body  # the initials are escaped as XML
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "public" in response.headers["Cache-Control"]
    again = client.get(
        f"/avatars/{user_id}.svg", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304


def test_editing_needs_a_signed_in_user(client):
    response = client.get("/account/profile")

    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_a_user_edits_their_profile(app, client, sign_in):
    with app.app_context():
        make_user(user_name="ada", email="ada@example.com")
    sign_in(client, "ada@example.com")

    response = client.post_form(
        "/account/profile",
        {"display_name": "  Ada Lovelace ", "bio": "Analyst."},
        csrf_from="/account/profile",
    )

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/u/ada")
    user = _user(app, "ada")
    assert (user.display_name, user.bio) == ("Ada Lovelace", "Analyst.")


def test_fields_the_form_does_not_offer_cannot_be_set(app, client, sign_in):
    with app.app_context():
        make_user(user_name="ada", email="ada@example.com")
    sign_in(client, "ada@example.com")
    before = _user(app, "ada")

    client.post_form(
        "/account/profile",
        {
            "display_name": "Ada",
            "role": "admin",
            "status": "suspended",
            "id": "00000000-0000-0000-0000-000000000000",
            "email_verified_at": "2020-01-01T00:00:00Z",
            "user_name": "root",
            "email": "root@example.com",
            "provider": "google",
        },
        csrf_from="/account/profile",
    )

    after = _user(app, "ada")
    assert after.display_name == "Ada"
    assert (
        after.id,
        after.role,
        after.status,
        after.email_verified_at,
        after.email,
        after.provider,
    ) == (
        before.id,
        "user",
        "active",
        before.email_verified_at,
        "ada@example.com",
        "local",
    )


def test_a_too_long_bio_is_refused_beside_the_field(app, htmx, sign_in):
    with app.app_context():
        make_user(user_name="ada", email="ada@example.com")
    sign_in(htmx, "ada@example.com")

    response = htmx.post_form("/account/profile", {"bio": "x" * 1001}, csrf_from="/account/profile")

    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="profile-form"' in body
    assert "At most 1000 characters." in body
    assert "<html" not in body  # a fragment for the swap
    assert _user(app, "ada").bio is None


def test_clearing_the_display_name_shows_the_user_name(app, client, sign_in):
    with app.app_context():
        make_user(user_name="ada", email="ada@example.com", display_name="Ada L.")
    sign_in(client, "ada@example.com")

    client.post_form(
        "/account/profile", {"display_name": "", "bio": ""}, csrf_from="/account/profile"
    )

    assert _user(app, "ada").display_name is None
    assert '<h1 id="profile-name">ada</h1>' in new_client(app).get("/u/ada").get_data(as_text=True)


def test_the_profile_lists_the_newest_published_posts_only(app, client, count_queries):
    from tests.posts.helpers import make_post, make_posts

    with app.app_context():
        author = make_user(user_name="ada", email_verified_at=utcnow())
        make_posts(author, 12)
        make_post(author, title="A secret draft", status="draft")
        make_post(author, title="An archived one", status="archived")

    client.get("/u/nobody")  # warms the settings cache (one read per process per 5 s)
    with count_queries() as q:
        response = client.get("/u/ada")

    body = response.get_data(as_text=True)
    assert body.count('<li><a href="/posts/') == 10
    assert "A secret draft" not in body
    assert "An archived one" not in body
    assert "All posts by ada" in body
    assert q.count <= 3, q.statements  # the user, the page of posts (+ their tags)
