"""Email verification: the link mailed at sign-up, resend, the banner and require_verified."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from blog.auth.access import require_verified
from blog.auth.models import User, VerificationToken
from blog.core.db import utcnow
from blog.extensions import db
from blog.outbox.models import OutboxEvent
from blog.outbox.registry import run_handler
from tests.auth.helpers import (
    PASSWORD,
    events,
    link_in,
    mail_to,
    relative,
    sign_in,
    sign_up,
    text_of,
)
from tests.conftest import csrf_token_from, new_client
from tests.factories import make_user

SUBJECT = "Confirm your email address for Blog"


def _user(app, email="ada@example.com") -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        db.session.expunge_all()
        return user


def _verification_link(app, smtp_server, run_jobs, email="ada@example.com") -> str:
    run_jobs()
    [message] = mail_to(smtp_server, email)
    assert message["Subject"] == SUBJECT
    return relative(app, link_in(app, message, "/verify-email/"))


def test_sign_up_mails_a_link_that_confirms_the_address(app, smtp_server, run_jobs):
    ada = sign_up(app)
    assert _user(app).email_verified_at is None
    run_jobs()  # the relay, then the mail handler

    [message] = smtp_server.messages
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == SUBJECT
    assert "Hello ada," in text_of(message)
    assert "24 hours" in text_of(message)
    link = link_in(app, message, "/verify-email/")
    assert link.startswith(f"{app.config['SITE_URL']}/verify-email/")
    token = link.rsplit("/", 1)[1]

    # Only the token's SHA-256 is stored, with a 24-hour life.
    with app.app_context():
        row = db.session.scalar(select(VerificationToken))
        assert row.purpose == "verify_email"
        assert row.token_hash == hashlib.sha256(token.encode()).digest()
        assert row.expires_at - row.created_at == timedelta(hours=24)
        assert row.used_at is None

    # Opening the link only shows a button: a mail scanner's GET spends nothing.
    page = ada.get(relative(app, link))
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "Confirm my email address" in page.get_data(as_text=True)
    assert _user(app).email_verified_at is None

    response = ada.post_form(relative(app, link), csrf_from=relative(app, link))
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert _user(app).email_verified_at is not None
    home = ada.get("/").get_data(as_text=True)
    assert "Thank you: your email address is confirmed." in home
    assert 'id="verify-banner"' not in home
    [event] = events(app, "user.email_verified")
    assert event.aggregate_id == str(_user(app).id)


def test_the_link_works_in_a_browser_that_is_not_signed_in(app, smtp_server, run_jobs):
    sign_up(app)
    path = _verification_link(app, smtp_server, run_jobs)
    phone = new_client(app)
    assert phone.get(path).status_code == 200
    response = phone.post_form(path, csrf_from=path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert _user(app).email_verified_at is not None


def test_a_link_works_once(app, smtp_server, run_jobs):
    ada = sign_up(app)
    path = _verification_link(app, smtp_server, run_jobs)
    assert ada.post_form(path, csrf_from=path).status_code == 302
    verified_at = _user(app).email_verified_at

    for response in (ada.get(path), ada.post_form(path, csrf_from="/")):
        assert response.status_code == 410
        body = response.get_data(as_text=True)
        assert "This link has already been used" in body
        assert "Traceback" not in body
    assert _user(app).email_verified_at == verified_at
    assert len(events(app, "user.email_verified")) == 1


def test_an_expired_link_is_refused(app, smtp_server, run_jobs):
    ada = sign_up(app)
    path = _verification_link(app, smtp_server, run_jobs)
    with app.app_context():
        row = db.session.scalar(select(VerificationToken))
        row.created_at = utcnow() - timedelta(hours=25)
        row.expires_at = row.created_at + timedelta(hours=24)
        db.session.commit()

    for response in (ada.get(path), ada.post_form(path, csrf_from="/")):
        assert response.status_code == 410
        body = response.get_data(as_text=True)
        assert "This link has expired." in body
        assert "Ask for a new confirmation link" in body
    assert _user(app).email_verified_at is None
    assert events(app, "user.email_verified") == []


def test_a_link_just_inside_its_24_hours_still_works(app, smtp_server, run_jobs):
    ada = sign_up(app)
    path = _verification_link(app, smtp_server, run_jobs)
    with app.app_context():
        row = db.session.scalar(select(VerificationToken))
        row.created_at = utcnow() - timedelta(hours=23, minutes=59)
        row.expires_at = row.created_at + timedelta(hours=24)
        db.session.commit()
    assert ada.post_form(path, csrf_from=path).status_code == 302
    assert _user(app).email_verified_at is not None


BAD_LINK = "This link does not work"


@pytest.mark.parametrize(
    ("token", "page"),
    [
        ("A" * 43, BAD_LINK),  # the right shape, but never issued
        ("short", BAD_LINK),
        ("x" * 5000, BAD_LINK),
        ("%01%01", BAD_LINK),
        ("%E2%98%83" * 15, BAD_LINK),
        ("'%20OR%201=1--", BAD_LINK),
        ("..%2F..%2Fetc%2Fpasswd", "There is nothing here"),  # no such route at all
    ],
)
def test_unknown_and_malformed_links_get_a_friendly_404(app, client, token, page):
    for response in (
        client.get(f"/verify-email/{token}"),
        client.post_form(f"/verify-email/{token}"),
    ):
        assert response.status_code == 404, token
        body = response.get_data(as_text=True)
        assert page in body
        assert "Traceback" not in body


def test_mailed_links_use_site_url_whatever_the_request_host(
    app, smtp_server, run_jobs, monkeypatch
):
    # Even if a deployment trusted a hostile Host (or a proxy forwarded one), the link is built
    # from SITE_URL: the request's Host never reaches the mail.
    monkeypatch.setitem(app.config, "TRUSTED_HOSTS", ["evil.example", "localhost", "127.0.0.1"])
    hostile = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    ada = new_client(app)

    def post(path, data):
        # The browser is on evil.example throughout: its cookies belong to that host.
        token = csrf_token_from(ada.get(path, headers=hostile).get_data(as_text=True))
        return ada.post(path, data={"csrf_token": token, **data}, headers=hostile)

    form = {"email": "ada@example.com", "user_name": "ada", "password": PASSWORD}
    assert post("/register", {**form, "confirm": PASSWORD}).status_code == 302
    assert post("/account/verify/resend", {}).status_code == 302
    run_jobs()

    messages = mail_to(smtp_server, "ada@example.com")
    assert len(messages) == 2
    for message in messages:
        link = link_in(app, message, "/verify-email/")
        assert link.startswith(app.config["SITE_URL"] + "/")
        assert "evil.example" not in message.as_string()


def test_an_untrusted_host_is_refused_before_any_mail(app, client, smtp_server, run_jobs):
    response = client.post_form(
        "/register",
        {"email": "ada@example.com", "user_name": "ada", "password": "Analytical-Engine-1843"},
        headers={"Host": "evil.example"},
    )
    assert response.status_code == 400
    assert "this host name is not served here" in response.get_data(as_text=True)
    run_jobs()
    assert smtp_server.messages == []


def test_resend_mails_a_new_working_link(app, smtp_server, run_jobs):
    ada = sign_up(app)
    run_jobs()
    response = ada.post_form("/account/verify/resend", {"next": "/account/sessions"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/sessions"
    assert "We sent a new confirmation link to ada@example.com" in ada.get("/").get_data(
        as_text=True
    )
    run_jobs()
    first, second = mail_to(smtp_server, "ada@example.com")
    assert first["Subject"] == second["Subject"] == SUBJECT
    assert "Welcome to Blog!" in text_of(first)
    assert "Welcome to Blog!" not in text_of(second)
    path = relative(app, link_in(app, second, "/verify-email/"))
    assert path != relative(app, link_in(app, first, "/verify-email/"))
    assert ada.post_form(path, csrf_from=path).status_code == 302
    assert _user(app).email_verified_at is not None


def test_resend_goes_back_only_to_this_site(app, smtp_server):
    ada = sign_up(app)
    for bad in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = ada.post_form("/account/verify/resend", {"next": bad})
        assert response.headers["Location"] == "/account", bad


def test_resend_for_a_confirmed_address_sends_nothing(app, smtp_server, run_jobs):
    with app.app_context():
        make_user(email="ada@example.com", email_verified_at=utcnow())
    run_jobs()  # the sign-up event of the factory: a verified user gets no link
    assert smtp_server.messages == []
    ada = sign_in(app, "ada@example.com", "Correct-Horse-7")
    ada.post_form("/account/verify/resend")
    assert "already confirmed" in ada.get("/account").get_data(as_text=True)
    run_jobs()
    assert smtp_server.messages == []
    assert events(app, "user.email_verification_requested") == []


def test_resend_needs_sign_in_and_csrf(app, client):
    response = client.post_form("/account/verify/resend")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    ada = sign_up(app)
    assert ada.post("/account/verify/resend").status_code == 400  # no CSRF token
    assert events(app, "user.email_verification_requested") == []


def test_resend_is_rate_limited_per_user(app, smtp_server):
    ada = sign_up(app)
    for n in range(3):
        response = ada.post_form(
            "/account/verify/resend", environ_overrides={"REMOTE_ADDR": f"192.0.2.{n + 1}"}
        )
        assert response.status_code == 302
    # A fourth, even from yet another address: the same account is limited.
    response = ada.post_form(
        "/account/verify/resend", environ_overrides={"REMOTE_ADDR": "192.0.2.99"}
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "You are doing that too often" in response.get_data(as_text=True)
    assert len(events(app, "user.email_verification_requested")) == 3


def test_resend_is_rate_limited_per_ip(app, smtp_server):
    for n in range(3):
        c = sign_up(app, email=f"user{n}@example.com", user_name=f"user{n}")
        assert c.post_form("/account/verify/resend").status_code == 302
    other = sign_up(app, email="other@example.com", user_name="other")
    assert other.post_form("/account/verify/resend").status_code == 429


def test_the_mail_handler_issues_one_token_per_event(app, smtp_server):
    with app.app_context():
        make_user(email="ada@example.com")
        event = db.session.scalar(select(OutboxEvent))
        message = event.as_message()
        name = "blog.auth.handlers.send_verification_email"
        assert run_handler(name, message) == "done"
        assert run_handler(name, message) == "skipped"  # a redelivery
        assert db.session.scalar(select(func.count()).select_from(VerificationToken)) == 1
    assert len(smtp_server.messages) == 1


def test_a_deleted_account_gets_no_mail(app, smtp_server, run_jobs):
    with app.app_context():
        make_user(email="ada@example.com", deleted_at=utcnow())
    run_jobs()
    assert smtp_server.messages == []


# --------------------------------------------------------------------------- banner and gate


def test_banner_asks_unverified_users_to_confirm(app, client, smtp_server, run_jobs):
    assert 'id="verify-banner"' not in client.get("/").get_data(as_text=True)
    ada = sign_up(app)
    page = ada.get("/account/sessions").get_data(as_text=True)
    assert 'id="verify-banner"' in page
    assert "Please confirm your email address" in page
    assert 'action="/account/verify/resend"' in page
    assert 'name="next" value="/account/sessions"' in page

    path = _verification_link(app, smtp_server, run_jobs)
    ada.post_form(path, csrf_from=path)
    assert 'id="verify-banner"' not in ada.get("/account/sessions").get_data(as_text=True)


@pytest.fixture
def gated_app(make_app):
    """An app with one route behind require_verified (posting, comments and chat will be)."""
    gated = make_app()

    @gated.route("/test-gated", methods=["GET", "POST"])
    @require_verified
    def gated_view():
        return "the gated action ran"

    yield gated
    with gated.app_context():
        db.engine.dispose()


def test_require_verified(app, gated_app, smtp_server, run_jobs):
    anonymous = gated_app.test_client()
    response = anonymous.get("/test-gated")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")

    ada = sign_up(gated_app)
    response = ada.get("/test-gated?x=1")
    assert response.status_code == 403
    body = response.get_data(as_text=True)
    assert "Confirm your email address first" in body
    assert "the gated action ran" not in body
    assert 'action="/account/verify/resend"' in body
    assert 'name="next" value="/test-gated?x=1"' in body
    assert 'id="verify-banner"' not in body  # the notice says it once

    # An htmx action gets the notice alone, to swap in where the action was.
    fragment = ada.post(
        "/test-gated",
        headers={
            "HX-Request": "true",
            "X-CSRFToken": ada.csrf("/"),
            "Referer": "http://localhost/some/page",
        },
    )
    assert fragment.status_code == 403
    text = fragment.get_data(as_text=True)
    assert text.lstrip().startswith('<article id="verify-notice"')
    assert 'name="next" value="/some/page"' in text
    assert "<html" not in text

    path = _verification_link(app, smtp_server, run_jobs)
    ada.post_form(path, csrf_from=path)
    response = ada.get("/test-gated")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "the gated action ran"


def test_database_refuses_malformed_tokens(app_ctx):
    """The constraints hold even for code that skips the services."""
    from sqlalchemy.exc import IntegrityError

    user = make_user()
    now = utcnow()
    good = {
        "user_id": user.id,
        "purpose": "verify_email",
        "token_hash": b"x" * 32,
        "created_at": now,
        "expires_at": now + timedelta(hours=1),
    }
    for bad in (
        {"purpose": "anything"},
        {"token_hash": b"x" * 31},
        {"expires_at": now},
        {"purpose": "change_email"},  # without the new address
        {"new_email": "new@example.com"},  # an address on a verify_email token
        {"purpose": "change_email", "new_email": "New@Example.com"},
        {"purpose": "change_email", "new_email": "not an address"},
    ):
        db.session.add(VerificationToken(**{**good, **bad}))
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()
    db.session.add(VerificationToken(**good))
    db.session.commit()
    db.session.add(VerificationToken(**{**good, "purpose": "reset_password"}))
    with pytest.raises(IntegrityError):  # the same hash twice
        db.session.flush()
    db.session.rollback()

    # Tokens go with their user.
    db.session.delete(db.session.get(User, user.id))
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(VerificationToken)) == 0


def test_purge_expired_tokens_job(app_ctx):
    from blog.auth.jobs import purge_expired_tokens

    user = make_user()
    now = utcnow()
    for n, (created, lifetime) in enumerate(
        (
            (now - timedelta(days=10), timedelta(hours=24)),  # expired 9 days ago: purged
            (now - timedelta(days=3), timedelta(hours=24)),  # expired 2 days ago: kept
            (now, timedelta(hours=1)),  # live: kept
        )
    ):
        db.session.add(
            VerificationToken(
                user_id=user.id,
                purpose="reset_password",
                token_hash=bytes([n]) * 32,
                created_at=created,
                expires_at=created + lifetime,
            )
        )
    db.session.commit()
    assert purge_expired_tokens() == 1
    assert db.session.scalar(select(func.count()).select_from(VerificationToken)) == 2
    assert purge_expired_tokens() == 0
