"""Google sign-in (OpenID Connect) end to end against the loopback test provider: sign-up,
sign-in, linking by verified email only, link and unlink, and every forged answer refused."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from blog.auth.models import Account, User
from blog.auth.services import suspend_user
from blog.config import ConfigError, load_settings
from blog.core.db import utcnow
from blog.extensions import db
from tests.auth.helpers import events
from tests.conftest import Client, _free_port, new_client
from tests.factories import make_user
from tests.oidc_provider import Identity


def start(client: Client, path: str = "/login/google", csrf_from: str = "/login", **data: str):
    response = client.post_form(path, data, csrf_from=csrf_from)
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    return response.headers["Location"]


def consent(authorize_url: str, decision: str = "allow") -> str:
    """What the person does at the provider: see the page, press Continue (or Cancel)."""
    page = requests.get(authorize_url, timeout=5)
    assert page.status_code == 200, page.text
    params = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    answer = requests.post(
        authorize_url.split("?", maxsplit=1)[0],
        data={**params, "decision": decision},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def callback(client: Client, location: str) -> Any:
    parts = urlsplit(location)
    return client.get(f"{parts.path}?{parts.query}")


def google_sign_in(client: Client, **start_data: str) -> Any:
    return callback(client, consent(start(client, **start_data)))


def signed_in_email(client: Client) -> str | None:
    response = client.get("/account")
    if response.status_code != 200:
        return None
    body = response.get_data(as_text=True)
    start_at = body.index("<strong>", body.index('id="account-email"')) + len("<strong>")
    return body[start_at : body.index("</strong>", start_at)]


def user_by_email(app, email: str) -> User | None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        if user is not None:
            db.session.expunge(user)
        return user


def accounts(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(Account.provider, Account.subject, User.email).join(User)
        ).all()
        return [tuple(r) for r in rows]


# --------------------------------------------------------------------------- the happy paths


def test_the_authorization_request_uses_state_nonce_pkce_and_the_site_url(
    app, client, oidc_provider
):
    location = start(client, next="/account")

    query = parse_qs(urlsplit(location).query)
    assert location.startswith(f"{oidc_provider.url}/authorize?")
    assert query["redirect_uri"] == [f"{app.config['SITE_URL']}/login/google/callback"]
    assert query["client_id"] == ["blog-test-client"]
    assert "openid" in query["scope"][0].split()
    assert len(query["state"][0]) >= 20
    assert len(query["nonce"][0]) >= 20
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"][0]


def test_a_new_person_signs_up_with_google(app, client, oidc_provider):
    oidc_provider.next_identity = Identity("g-1", "Grace@Example.com", True, "Grace Hopper")

    response = google_sign_in(client)

    assert response.status_code == 302
    assert signed_in_email(client) == "grace@example.com"
    user = user_by_email(app, "grace@example.com")
    assert user is not None
    assert user.provider == "google"
    assert user.password_hash is None
    assert user.email_verified_at is not None  # Google vouched for the address
    assert user.user_name == "grace"
    assert accounts(app) == [("google", "g-1", "grace@example.com")]
    assert len(events(app, "user.registered")) == 1


def test_the_same_identity_signs_in_again_without_a_second_account(app, oidc_provider):
    google_sign_in(new_client(app))
    second = new_client(app)

    response = google_sign_in(second)

    assert response.status_code == 302
    assert signed_in_email(second) == "grace@example.com"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_a_taken_user_name_gets_a_number(app, client, oidc_provider):
    with app.app_context():
        make_user(email="other@example.com", user_name="grace")

    google_sign_in(client)

    assert user_by_email(app, "grace@example.com").user_name == "grace2"


def test_sign_in_keeps_a_safe_next_and_refuses_an_open_redirect(app, oidc_provider):
    ok = google_sign_in(new_client(app), next="/account/sessions")
    evil = google_sign_in(new_client(app), next="//evil.example/steal")

    assert urlsplit(ok.headers["Location"]).path == "/account/sessions"
    assert "evil.example" not in evil.headers["Location"]


def test_an_unverified_provider_address_makes_an_unconfirmed_account(app, client, oidc_provider):
    oidc_provider.next_identity = Identity("g-2", "new@example.com", False, "New Person")

    google_sign_in(client)

    user = user_by_email(app, "new@example.com")
    assert user is not None
    assert user.email_verified_at is None  # our own confirmation mail will ask


def test_the_address_can_come_from_userinfo(app, client, oidc_provider):
    oidc_provider.email_only_in_userinfo = True

    google_sign_in(client)

    assert signed_in_email(client) == "grace@example.com"
    assert "GET /userinfo" in oidc_provider.requests


# --------------------------------------------------------------------------- linking by email


def test_a_verified_address_links_to_the_existing_account(app, client, oidc_provider):
    with app.app_context():
        make_user(email="grace@example.com", user_name="grace")

    google_sign_in(client)

    assert signed_in_email(client) == "grace@example.com"
    assert accounts(app) == [("google", "g-100", "grace@example.com")]
    user = user_by_email(app, "grace@example.com")
    assert user.provider == "local"
    assert user.password_hash is not None


def test_an_unverified_address_never_takes_over_an_existing_account(app, client, oidc_provider):
    with app.app_context():
        make_user(email="grace@example.com", user_name="grace")
    oidc_provider.next_identity = Identity("attacker", "grace@example.com", False, "Mallory")

    response = google_sign_in(client)

    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "has not confirmed" in body
    assert signed_in_email(client) is None
    assert accounts(app) == []


# --------------------------------------------------------------------------- refusals


def test_a_suspended_account_is_refused_with_the_reason(app, client, oidc_provider):
    google_sign_in(new_client(app))
    with app.app_context():
        admin = make_user(role="admin")
        user = db.session.scalar(select(User).where(User.email == "grace@example.com"))
        suspend_user(user, actor=admin, reason="spam links", until=None)
        db.session.commit()

    response = google_sign_in(client)

    assert response.status_code == 403
    assert "spam links" in response.get_data(as_text=True)
    assert signed_in_email(client) is None


def test_a_deleted_account_cannot_sign_in_with_google(app, client, oidc_provider):
    google_sign_in(new_client(app))
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "grace@example.com"))
        now = utcnow()
        user.soft_delete(now=now, purge_after=now + timedelta(days=30))
        db.session.commit()

    response = google_sign_in(client)

    assert response.status_code == 409
    assert signed_in_email(client) is None


def test_cancelling_at_the_provider_changes_nothing(app, client, oidc_provider):
    response = callback(client, consent(start(client), decision="deny"))

    assert response.status_code == 400
    assert "cancelled" in response.get_data(as_text=True)
    assert user_by_email(app, "grace@example.com") is None


def test_starting_needs_a_csrf_token(client, oidc_provider):
    response = client.post("/login/google")

    assert response.status_code == 400
    assert oidc_provider.requests == []


def test_a_callback_in_another_browser_is_refused(app, client, oidc_provider):
    """Login CSRF: an attacker's own code, fed to the victim's browser, signs nobody in."""
    attacker_location = consent(start(new_client(app)))

    response = callback(client, attacker_location)

    assert response.status_code == 400
    assert signed_in_email(client) is None


def test_a_tampered_state_is_refused(app, client, oidc_provider):
    location = consent(start(client))
    parts = urlsplit(location)
    query = parse_qs(parts.query)
    forged = f"{parts.path}?code={query['code'][0]}&state=forged-state"

    response = client.get(forged)

    assert response.status_code == 400
    assert signed_in_email(client) is None


def test_a_callback_replayed_is_refused(app, client, oidc_provider):
    location = consent(start(client))
    assert callback(client, location).status_code == 302
    client.post_form("/logout", csrf_from="/account")

    replay = callback(client, location)

    assert replay.status_code == 400
    assert signed_in_email(client) is None


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"aud": "someone-else"}, id="audience"),
        pytest.param({"iss": "https://evil.example"}, id="issuer"),
        pytest.param(
            {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, id="expired"
        ),
        pytest.param({"nonce": "not-the-nonce"}, id="nonce"),
        pytest.param({"nonce": None}, id="no-nonce"),
        pytest.param({"sub": None}, id="no-subject"),
    ],
)
def test_a_forged_or_stale_id_token_is_refused(app, client, oidc_provider, change):
    oidc_provider.id_token_changes = change

    response = google_sign_in(client)

    assert response.status_code == 400, response.get_data(as_text=True)[:400]
    assert signed_in_email(client) is None
    assert accounts(app) == []


def test_an_id_token_signed_with_another_key_is_refused(app, client, oidc_provider):
    oidc_provider.sign_with_foreign_key = True

    response = google_sign_in(client)

    assert response.status_code == 400
    assert signed_in_email(client) is None


def test_an_unreachable_provider_is_a_clear_503(make_app):
    dead = f"http://127.0.0.1:{_free_port()}/.well-known/openid-configuration"
    offline = make_app(BLOG_GOOGLE_DISCOVERY_URL=dead)
    browser = new_client(offline)

    response = browser.post_form("/login/google", {}, csrf_from="/login")

    assert response.status_code == 503
    assert "unavailable right now" in response.get_data(as_text=True)


def test_without_credentials_there_is_no_google_button_and_no_route(make_app):
    plain = make_app(BLOG_GOOGLE_CLIENT_ID="", BLOG_GOOGLE_CLIENT_SECRET="")
    browser = new_client(plain)

    assert "Sign in with Google" not in browser.get("/login").get_data(as_text=True)
    assert browser.post_form("/login/google", {}, csrf_from="/login").status_code == 404


def test_the_login_page_offers_google_and_allows_the_form_to_reach_it(client, oidc_provider):
    response = client.get("/login")

    assert "Sign in with Google" in response.get_data(as_text=True)
    # form-action governs the redirect to the provider after the form's POST.
    assert f"form-action 'self' {oidc_provider.url}" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BLOG_GOOGLE_CLIENT_ID": "x"}, "BLOG_GOOGLE_CLIENT_SECRET is not set"),
        ({"BLOG_GOOGLE_CLIENT_SECRET": "x"}, "BLOG_GOOGLE_CLIENT_ID is not set"),
        (
            {
                "BLOG_GOOGLE_CLIENT_ID": "x",
                "BLOG_GOOGLE_CLIENT_SECRET": "y",
                "BLOG_GOOGLE_DISCOVERY_URL": "http://idp.example/.well-known/openid-configuration",
            },
            "must be an https:// URL",
        ),
    ],
)
def test_bad_google_settings_stop_start_up_with_a_clear_message(env, message):
    base = {
        "BLOG_ENV": "testing",
        "DATABASE_URL": "postgresql://u@localhost/blog",
        "REDIS_URL": "redis://localhost:6379/0",
    }
    with pytest.raises(ConfigError, match=message):
        load_settings({**base, **env})


# --------------------------------------------------------------------------- link and unlink


def _signed_in_local(app, sign_in, email="ada@example.com") -> Client:
    with app.app_context():
        make_user(email=email, user_name="ada")
    browser = new_client(app)
    sign_in(browser, email)
    return browser


def test_a_signed_in_user_links_google_from_the_account_page(app, sign_in, oidc_provider):
    browser = _signed_in_local(app, sign_in)
    oidc_provider.next_identity = Identity("g-ada", "ada.personal@gmail.example", True, "Ada")

    location = start(browser, "/account/identities/google/link", csrf_from="/account")
    response = callback(browser, consent(location))

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/account"
    assert accounts(app) == [("google", "g-ada", "ada@example.com")]
    page = browser.get("/account").get_data(as_text=True)
    assert "linked as <strong>ada.personal@gmail.example</strong>" in page
    # And now the Google identity alone signs in as Ada.
    other = new_client(app)
    google_sign_in(other)
    assert signed_in_email(other) == "ada@example.com"


def test_an_identity_linked_to_someone_else_cannot_be_linked_again(app, sign_in, oidc_provider):
    google_sign_in(new_client(app))  # grace's Google identity makes grace's account
    browser = _signed_in_local(app, sign_in)

    response = callback(
        browser, consent(start(browser, "/account/identities/google/link", csrf_from="/account"))
    )

    assert response.status_code == 409
    assert "already linked to another user" in response.get_data(as_text=True)
    assert len(accounts(app)) == 1


def test_a_user_with_a_password_can_unlink_google(app, sign_in, oidc_provider):
    browser = _signed_in_local(app, sign_in)
    callback(
        browser, consent(start(browser, "/account/identities/google/link", csrf_from="/account"))
    )

    response = browser.post_form("/account/identities/google/unlink", csrf_from="/account")

    assert response.status_code == 302
    assert accounts(app) == []
    assert "no longer linked" in browser.get("/account").get_data(as_text=True)


def test_the_last_way_to_sign_in_cannot_be_removed(app, client, oidc_provider):
    google_sign_in(client)

    response = client.post_form("/account/identities/google/unlink", csrf_from="/account")

    assert response.status_code == 302
    assert len(accounts(app)) == 1
    assert "your only way to sign in" in client.get("/account").get_data(as_text=True)


def test_a_google_only_account_sees_how_to_add_a_password(client, oidc_provider):
    google_sign_in(client)

    page = client.get("/account").get_data(as_text=True)

    assert "Your account has no password" in page
    assert "Change your password" not in page


def test_a_google_only_account_is_deleted_by_typing_its_user_name(app, client, oidc_provider):
    google_sign_in(client)
    page = client.get("/account/delete").get_data(as_text=True)
    assert "Type your user name (grace) to confirm" in page

    wrong = client.post_form("/account/delete", {"password": "nope"}, csrf_from="/account/delete")
    right = client.post_form("/account/delete", {"password": "grace"}, csrf_from="/account/delete")

    assert wrong.status_code == 422
    assert right.status_code == 302
    assert user_by_email(app, "grace@example.com").deleted_at is not None


def test_a_password_reset_gives_a_google_account_a_password(app, client, oidc_provider):
    """The documented way to add a password: the reset mail proves the mailbox."""
    from blog.auth.services import reset_password
    from blog.auth.tokens import issue_token

    google_sign_in(client)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "grace@example.com"))
        token = issue_token(user, "reset_password")
        db.session.commit()
        reset_password(token, "Brand-New-Password-9")
        db.session.commit()

    assert user_by_email(app, "grace@example.com").has_password
    browser = new_client(app)
    response = browser.post_form(
        "/login",
        {"email": "grace@example.com", "password": "Brand-New-Password-9"},
        csrf_from="/login",
    )
    assert response.status_code == 302


def test_a_google_only_account_changes_its_address_by_typing_its_user_name(
    app, client, oidc_provider, smtp_server, run_jobs
):
    google_sign_in(client)
    page = client.get("/account/email").get_data(as_text=True)
    assert "Type your user name (grace) to confirm" in page

    wrong = client.post_form(
        "/account/email",
        {"email": "new@example.com", "password": "nope"},
        csrf_from="/account/email",
    )
    right = client.post_form(
        "/account/email",
        {"email": "new@example.com", "password": "grace"},
        csrf_from="/account/email",
    )

    assert wrong.status_code == 422
    assert right.status_code == 302
    run_jobs()
    assert [m["To"] for m in smtp_server.messages] == ["new@example.com"]


def test_a_google_only_account_is_sent_to_the_reset_mail_for_a_password(client, oidc_provider):
    google_sign_in(client)

    response = client.get("/account/password")

    assert response.status_code == 302
    assert "no password yet" in client.get("/account").get_data(as_text=True)
