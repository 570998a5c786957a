"""Issue 19 §6: defence in depth behind the CSRF token — Origin/Referer checked on every
state-changing request (as Django does), CSP base-uri 'none', user HTML inside hx-disable."""

from __future__ import annotations

import pytest

from blog.comments.services import add_comment
from blog.extensions import db
from tests.conftest import new_client
from tests.factories import make_user

SIGN_UP = {
    "email": "newcomer@example.com",
    "user_name": "newcomer",
    "password": "Correct-Horse-9",
    "confirm": "Correct-Horse-9",
}


def _accounts(app) -> int:
    from sqlalchemy import func, select

    from blog.auth.models import User

    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(User))
        db.session.remove()
    return int(count or 0)


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://localhost:1"])
@pytest.mark.parametrize("hx", [False, True])
def test_a_valid_token_from_another_origin_is_refused(app, origin, hx):
    browser = new_client(app, htmx=hx)

    response = browser.post_form(
        "/register", SIGN_UP, csrf_from="/register", headers={"Origin": origin}
    )

    assert response.status_code == 403
    body = response.get_data(as_text=True)
    assert "sent from another site" in body
    assert ("<html" in body) is not hx
    assert _accounts(app) == 0


@pytest.mark.parametrize("hx", [False, True])
def test_the_sites_own_origin_is_accepted(app, hx):
    browser = new_client(app, htmx=hx)
    response = browser.post_form(
        "/register", SIGN_UP, csrf_from="/register", headers={"Origin": "http://localhost"}
    )
    assert response.status_code in (302, 204)
    assert _accounts(app) == 1


def test_the_configured_site_origin_is_accepted(app, client):
    response = client.post_form(
        "/register", SIGN_UP, csrf_from="/register", headers={"Origin": app.config["SITE_ORIGIN"]}
    )
    assert response.status_code == 302


def test_plain_http_without_origin_or_referer_is_allowed_as_in_django(app, client):
    assert client.post_form("/register", SIGN_UP, csrf_from="/register").status_code == 302


def _https_post(client, headers):
    token = client.csrf("/register")
    return client.post(
        "/register",
        data={"csrf_token": token, **SIGN_UP},
        headers=headers,
        base_url="https://localhost",
    )


def test_https_without_origin_needs_a_same_origin_referer(app, client):
    refused = _https_post(client, {})
    assert refused.status_code == 403
    assert "did not say which page sent it" in refused.get_data(as_text=True)

    cross = _https_post(client, {"Referer": "https://evil.example/register"})
    assert cross.status_code == 403
    assert "sent from another site" in cross.get_data(as_text=True)

    assert _accounts(app) == 0
    same = _https_post(client, {"Referer": "https://localhost/register"})
    assert same.status_code == 302
    assert _accounts(app) == 1


def test_the_one_click_unsubscribe_is_exempt(app, client):
    # RFC 8058: the mail provider's server POSTs the signed link; its Origin is its own.
    response = client.post("/notifications/unsubscribe/bad-token", headers={"Origin": "null"})
    assert response.status_code != 403


def test_a_mailed_link_page_may_post_with_a_null_origin(app, client):
    # Those pages send Referrer-Policy: no-referrer, so Chromium sends "Origin: null" with
    # their own form (tests/e2e/test_account_mail.py); the secret is in the URL.
    token = client.csrf("/register")
    response = client.post(
        "/verify-email/" + "A" * 43, data={"csrf_token": token}, headers={"Origin": "null"}
    )
    assert response.status_code == 404  # an unknown link, not a 403
    refused = client.post(
        "/verify-email/" + "A" * 43,
        data={"csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert refused.status_code == 403


def test_csp_forbids_base_elements(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "base-uri 'none'" in policy


def test_user_html_is_rendered_inside_hx_disable(app, client):
    from blog.posts.services import create_post, publish_post

    with app.app_context():
        author = make_user(email="ada@example.com", user_name="ada")
        post = create_post(author, title="Hello there", content="Some *text* here.", tag_names=[])
        publish_post(post, actor=author)
        add_comment(post, author, "A comment with **bold**.")
        db.session.commit()
        slug = post.slug

    html = client.get(f"/posts/{slug}").get_data(as_text=True)

    assert '<div class="post-body" hx-disable>' in html
    assert '<div class="comment-body" hx-disable>' in html
