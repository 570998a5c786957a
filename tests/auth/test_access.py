from __future__ import annotations

from tests.conftest import new_client
from tests.factories import DEFAULT_PASSWORD, make_user


def _as(app, role):
    with app.app_context():
        user = make_user(role=role)
        email = user.email
    c = new_client(app)
    c.post_form("/login", {"email": email, "password": DEFAULT_PASSWORD}, csrf_from="/login")
    return c


def test_admin_page_is_for_admins_only(app, client):
    assert client.get("/admin/").status_code == 302  # anonymous: sign in first
    assert _as(app, "user").get("/admin/").status_code == 403
    assert _as(app, "moderator").get("/admin/").status_code == 403
    response = _as(app, "admin").get("/admin/")
    assert response.status_code == 200
    assert "Accounts" in response.get_data(as_text=True)


def test_moderation_page_is_for_moderators_and_admins(app, client):
    assert client.get("/admin/moderation").status_code == 302
    assert _as(app, "user").get("/admin/moderation").status_code == 403
    assert _as(app, "moderator").get("/admin/moderation").status_code == 200
    assert _as(app, "admin").get("/admin/moderation").status_code == 200


def test_htmx_request_for_a_protected_page_redirects_the_whole_page(htmx):
    response = htmx.get("/account/sessions")
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=")


def test_navigation_shows_admin_link_only_to_admins(app):
    assert "/admin/" not in _as(app, "user").get("/").get_data(as_text=True)
    assert "/admin/" in _as(app, "admin").get("/").get_data(as_text=True)


def test_forbidden_page_is_friendly(app):
    response = _as(app, "user").get("/admin/")
    body = response.get_data(as_text=True)
    assert "You do not have access to this page." in body
    assert "Traceback" not in body
    assert DEFAULT_PASSWORD not in body
