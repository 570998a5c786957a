"""CSRF: a state change without this browser's token is refused with a friendly 400, and nothing
is written; htmx sends the token in the X-CSRFToken header and gets an error fragment."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from blog.auth.models import User, UserSession
from blog.extensions import db
from tests.conftest import new_client
from tests.factories import DEFAULT_PASSWORD, make_user

EXPIRED = "Your form expired or was sent from elsewhere. Reload the page and try again."

SIGN_UP = {
    "email": "newcomer@example.com",
    "user_name": "newcomer",
    "password": DEFAULT_PASSWORD,
    "confirm": DEFAULT_PASSWORD,
}


def user_count(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(User))
        db.session.remove()
    return int(count or 0)


def live_sessions(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(UserSession).where(UserSession.revoked_at.is_(None))
        )
        db.session.remove()
    return int(count or 0)


def signed_in(requester: Any) -> bool:
    return requester.get("/account/sessions").status_code == 200


def assert_csrf_page(response: Any) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == 400, body[:500]
    assert "<html" in body
    assert EXPIRED in body
    assert "Traceback" not in body


def assert_csrf_fragment(response: Any) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == 400, body[:500]
    assert "<html" not in body
    assert body.lstrip().startswith('<p class="form-error request-error" data-status="400">')
    assert response.headers.get("HX-Reswap") == "none"  # shown beside the form, not swapped
    assert EXPIRED in body
    assert "Traceback" not in body


@pytest.fixture
def member(app: Flask) -> str:
    with app.app_context():
        return make_user(email="ada@example.com", user_name="ada").email


def token_of_another_browser(app: Flask) -> str:
    return new_client(app).csrf("/register")


# --------------------------------------------------------------------------- plain forms


def test_sign_up_without_a_token_is_refused_and_creates_no_account(app, client):
    client.get("/register")  # a real browser has been to the page: the CSRF secret exists

    response = client.post("/register", data=SIGN_UP)

    assert_csrf_page(response)
    assert user_count(app) == 0


def test_a_nul_token_is_refused_at_the_request_boundary(app, client):
    # blog/core/inputs.py refuses NUL in any field before the CSRF check reads it (issue 19).
    client.get("/register")

    response = client.post("/register", data={"csrf_token": "\x00", **SIGN_UP})

    assert response.status_code == 400
    assert "characters we cannot accept" in response.get_data(as_text=True)
    assert user_count(app) == 0
    assert not signed_in(client)


@pytest.mark.parametrize(
    "token",
    ["", "not-a-token", "x" * 5000, "another browser's"],
    ids=["empty", "garbage", "long", "another browser's"],
)
def test_sign_up_with_a_wrong_token_is_refused(app, client, token):
    client.get("/register")
    if token == "another browser's":
        token = token_of_another_browser(app)

    response = client.post("/register", data={"csrf_token": token, **SIGN_UP})

    assert_csrf_page(response)
    assert user_count(app) == 0


def test_sign_up_with_the_right_token_works(app, client):
    # The control for the refusals above: the same request with this browser's token succeeds.
    response = client.post_form("/register", SIGN_UP, csrf_from="/register")

    assert response.status_code == 302
    assert user_count(app) == 1


def test_sign_out_without_a_token_is_refused_and_keeps_the_session(app, client, member, sign_in):
    sign_in(client, member)

    response = client.post("/logout")

    assert_csrf_page(response)
    assert signed_in(client)
    assert live_sessions(app) == 1


@pytest.mark.parametrize("token", ["not-a-token", "another browser's", "before sign-in"])
def test_sign_out_with_a_wrong_token_is_refused(app, client, member, sign_in, token):
    if token == "before sign-in":
        # Signing in starts a fresh CSRF secret, so a token from the signed-out page is dead.
        token = client.csrf("/login")
    elif token == "another browser's":
        token = token_of_another_browser(app)
    sign_in(client, member)

    response = client.post("/logout", data={"csrf_token": token})

    assert_csrf_page(response)
    assert signed_in(client)
    assert live_sessions(app) == 1


def test_sign_out_with_the_right_token_ends_the_session(app, client, member, sign_in):
    sign_in(client, member)

    response = client.post_form("/logout", {})

    assert response.status_code == 302
    assert not signed_in(client)
    assert live_sessions(app) == 0


def test_a_token_in_the_query_string_does_not_count(app, client):
    token = client.csrf("/register")

    response = client.post("/register", query_string={"csrf_token": token}, data=SIGN_UP)

    assert_csrf_page(response)
    assert user_count(app) == 0


# --------------------------------------------------------------------------- htmx


def test_htmx_sign_up_without_the_header_gets_an_error_fragment(app, htmx):
    htmx.get("/register")

    response = htmx.post("/register", data=SIGN_UP)

    assert_csrf_fragment(response)
    assert "HX-Redirect" not in response.headers
    assert user_count(app) == 0


@pytest.mark.parametrize("token", ["not-a-token", "", "another browser's"])
def test_htmx_sign_up_with_a_wrong_header_is_refused(app, htmx, token):
    htmx.get("/register")
    if token == "another browser's":
        token = token_of_another_browser(app)

    response = htmx.post("/register", data=SIGN_UP, headers={"X-CSRFToken": token})

    assert_csrf_fragment(response)
    assert user_count(app) == 0


def test_htmx_sign_out_without_the_header_keeps_the_session(app, htmx, member, sign_in):
    sign_in(htmx, member)

    response = htmx.post("/logout")

    assert_csrf_fragment(response)
    assert signed_in(htmx)
    assert live_sessions(app) == 1


def test_htmx_sign_up_with_the_token_in_the_header_works(app, htmx):
    response = htmx.post_form("/register", SIGN_UP, csrf_from="/register")

    assert response.status_code == 204, response.get_data(as_text=True)[:500]
    assert response.headers["HX-Redirect"] == "/"
    assert user_count(app) == 1
    assert signed_in(htmx)


def test_htmx_sign_out_with_the_token_in_the_header_works(app, htmx, member, sign_in):
    sign_in(htmx, member)

    response = htmx.post_form("/logout", {})

    assert response.status_code == 204, response.get_data(as_text=True)[:500]
    assert response.headers["HX-Redirect"] == "/"
    assert not signed_in(htmx)
    assert live_sessions(app) == 0


def test_htmx_revoke_others_needs_the_header_too(app, htmx, member, sign_in):
    other_device = new_client(app)
    sign_in(other_device, member)
    sign_in(htmx, member)

    refused = htmx.post("/account/sessions/revoke-others")
    assert_csrf_fragment(refused)
    assert signed_in(other_device)

    accepted = htmx.post_form("/account/sessions/revoke-others", {}, csrf_from="/account/sessions")
    assert accepted.status_code == 200
    assert not signed_in(other_device)
    assert signed_in(htmx)
