"""The account page, change password (other sessions end) and change email (confirm the new
address first; tell the old one)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from blog.auth.models import User, VerificationToken
from blog.core.db import utcnow
from blog.extensions import db
from tests.auth.helpers import (
    events,
    is_signed_in,
    link_in,
    mail_to,
    relative,
    sign_in,
    text_of,
)
from tests.conftest import new_client
from tests.factories import DEFAULT_PASSWORD, make_user

NEW_PASSWORD = "Babbage-Difference-1822"
CONFIRM_SUBJECT = "Confirm your new email address for Blog"
CHANGED_SUBJECT = "Your Blog email address was changed"


def _ada(app, **attrs) -> None:
    with app.app_context():
        make_user(email="ada@example.com", user_name="ada", **attrs)


def _user(app) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.user_name == "ada"))
        db.session.expunge_all()
        return user


def _change_password(client, current=DEFAULT_PASSWORD, new=NEW_PASSWORD, confirm=None):
    return client.post_form(
        "/account/password",
        {"current_password": current, "password": new, "confirm": confirm or new},
        csrf_from="/account/password",
    )


def _change_email(client, email="ada@new.example", password=DEFAULT_PASSWORD):
    return client.post_form(
        "/account/email", {"email": email, "password": password}, csrf_from="/account/email"
    )


def _confirm_link(app, smtp_server, run_jobs, email="ada@new.example") -> str:
    run_jobs()
    messages = [m for m in mail_to(smtp_server, email) if m["Subject"] == CONFIRM_SUBJECT]
    assert messages, [m["Subject"] for m in smtp_server.messages]
    return relative(app, link_in(app, messages[-1], "/confirm-email/"))


# --------------------------------------------------------------------------- the account page


def test_account_page_needs_sign_in_and_links_everything(app, client):
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/account"
    _ada(app)
    ada = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    page = ada.get("/account").get_data(as_text=True)
    assert "ada@example.com" in page
    assert "Not confirmed yet" in page
    assert 'action="/account/verify/resend"' in page
    for href in ("/account/password", "/account/email", "/account/sessions"):
        assert f'href="{href}"' in page
    assert '<a href="/account">Account</a>' in ada.get("/").get_data(as_text=True)


def test_account_page_of_a_confirmed_address(app):
    _ada(app, email_verified_at=utcnow())
    page = sign_in(app, "ada@example.com", DEFAULT_PASSWORD).get("/account").get_data(as_text=True)
    assert "Confirmed" in page
    assert "/account/verify/resend" not in page


# --------------------------------------------------------------------------- change password


def test_change_password_ends_other_sessions_and_keeps_this_one(app, smtp_server, run_jobs):
    _ada(app)
    laptop = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    phone = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    tablet = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    old_hash = _user(app).password_hash

    response = _change_password(laptop)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    page = laptop.get("/account").get_data(as_text=True)
    assert "Your password has been changed. 2 other devices signed out." in page

    assert is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert not is_signed_in(tablet)
    user = _user(app)
    assert user.password_hash != old_hash
    assert user.password_changed_at is not None
    assert is_signed_in(sign_in(app, "ada@example.com", NEW_PASSWORD))
    wrong = new_client(app).post_form(
        "/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD}, csrf_from="/login"
    )
    assert wrong.status_code == 422

    [event] = events(app, "user.password_changed")
    assert event.event_data == {"via": "change"}
    run_jobs()
    [notice] = [m for m in smtp_server.messages if m["Subject"] == "Your Blog password was changed"]
    assert notice["To"] == "ada@example.com"
    assert f"{app.config['SITE_URL']}/reset-password" in text_of(notice)


def test_change_password_needs_the_current_password(app):
    _ada(app)
    laptop = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    phone = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    old_hash = _user(app).password_hash

    response = _change_password(laptop, current="Not-The-Password-1")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "The current password is not right." in body
    assert 'id="current_password-error"' in body
    assert _user(app).password_hash == old_hash
    assert is_signed_in(phone)
    assert events(app, "user.password_changed") == []


def test_change_password_applies_the_sign_up_policy(app):
    _ada(app)
    laptop = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    for new, message in (
        ("short1A", "Use at least 8 characters."),
        ("Password123", "too common"),
        ("Ada-Lovelace-1815", "user name or email"),
        ("x" * 300 + "A1", "at most"),
    ):
        response = _change_password(laptop, new=new)
        assert response.status_code == 422, new
        assert message in response.get_data(as_text=True), new
    response = _change_password(laptop, confirm=NEW_PASSWORD + "x")
    assert "The passwords do not match." in response.get_data(as_text=True)
    assert events(app, "user.password_changed") == []


def test_change_password_with_htmx_swaps_the_form(app):
    _ada(app)
    htmx = new_client(app, htmx=True)
    htmx.post_form(
        "/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD}, csrf_from="/login"
    )
    response = htmx.post_form(
        "/account/password",
        {"current_password": "wrong-Password-1", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        csrf_from="/account/password",
    )
    assert response.status_code == 422
    assert response.get_data(as_text=True).lstrip().startswith('<form id="change-password-form"')
    ok = htmx.post_form(
        "/account/password",
        {"current_password": DEFAULT_PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        csrf_from="/account/password",
    )
    assert ok.status_code == 204
    assert ok.headers["HX-Redirect"] == "/account"


def test_change_password_is_rate_limited_before_hashing(app):
    _ada(app)
    laptop = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    for _ in range(5):
        assert _change_password(laptop, current="Guess-Number-1").status_code == 422
    response = _change_password(laptop)  # even the right password: the limit comes first
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert events(app, "user.password_changed") == []


def test_change_pages_need_sign_in(client):
    for path in ("/account/password", "/account/email"):
        assert client.get(path).headers["Location"] == f"/login?next={path}"
        response = client.post_form(path, {"email": "x@example.com", "password": "x"})
        assert response.status_code == 302


# --------------------------------------------------------------------------- change email


def test_change_email_takes_effect_only_after_the_new_address_confirms(app, smtp_server, run_jobs):
    _ada(app)
    run_jobs()  # ada's sign-up mail
    smtp_server.messages.clear()
    ada = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)

    response = _change_email(ada, "Ada@New.example")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    page = ada.get("/account").get_data(as_text=True)
    assert "We sent a link to ada@new.example" in page
    assert _user(app).email == "ada@example.com"  # nothing changed yet

    run_jobs()
    [message] = smtp_server.messages  # to the NEW address only
    assert message["To"] == "ada@new.example"
    assert message["Subject"] == CONFIRM_SUBJECT
    link = link_in(app, message, "/confirm-email/")
    with app.app_context():
        row = db.session.scalar(
            select(VerificationToken).where(VerificationToken.purpose == "change_email")
        )
        assert row.new_email == "ada@new.example"
        assert row.expires_at - row.created_at == timedelta(hours=24)

    # Still the old address until the link is used.
    assert is_signed_in(sign_in(app, "ada@example.com", DEFAULT_PASSWORD))
    path = relative(app, link)
    page = ada.get(path)
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "ada@new.example" in page.get_data(as_text=True)
    assert _user(app).email == "ada@example.com"

    response = ada.post_form(path, csrf_from=path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    assert "Your email address is now ada@new.example." in ada.get("/account").get_data(
        as_text=True
    )
    user = _user(app)
    assert user.email == "ada@new.example"
    assert user.email_verified_at is not None  # the link proved the new address
    [event] = events(app, "user.email_changed")
    assert event.event_data == {"old_email": "ada@example.com", "new_email": "ada@new.example"}

    # The old address is told, after the change.
    run_jobs()
    [notice] = mail_to(smtp_server, "ada@example.com")
    assert notice["Subject"] == CHANGED_SUBJECT
    assert "ada@new.example" in text_of(notice)

    # Sign-in now uses the new address only.
    assert is_signed_in(sign_in(app, "ada@new.example", DEFAULT_PASSWORD))
    old = new_client(app).post_form(
        "/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD}, csrf_from="/login"
    )
    assert old.status_code == 422
    assert is_signed_in(ada)  # changing the address does not sign anyone out

    # The link is spent.
    assert ada.get(path).status_code == 410


def test_change_email_refusals(app, smtp_server, run_jobs, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_REAUTH_LIMIT", "100/minute")
    _ada(app)
    with app.app_context():
        make_user(email="taken@example.com")
    ada = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    for email, password, field, message in (
        ("ada@new.example", "Wrong-Password-1", "password", "The password is not right."),
        ("ADA@example.com", DEFAULT_PASSWORD, "email", "This is already your email address."),
        ("taken@example.com", DEFAULT_PASSWORD, "email", "already exists"),
        ("not-an-email", DEFAULT_PASSWORD, "email", "Enter a valid email address."),
        ("", DEFAULT_PASSWORD, "email", "Enter the new email address."),
        ("ada@new.example", "", "password", "Enter your current password."),
    ):
        response = _change_email(ada, email, password)
        assert response.status_code == 422, email
        body = response.get_data(as_text=True)
        assert message in body, email
        assert f'id="{field}-error"' in body
    assert events(app, "user.email_change_requested") == []
    run_jobs()
    assert [m for m in smtp_server.messages if m["Subject"] == CONFIRM_SUBJECT] == []


def test_change_email_link_is_single_use_and_expires(app, smtp_server, run_jobs):
    _ada(app)
    ada = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    _change_email(ada)
    path = _confirm_link(app, smtp_server, run_jobs)
    with app.app_context():
        row = db.session.scalar(
            select(VerificationToken).where(VerificationToken.purpose == "change_email")
        )
        row.created_at = utcnow() - timedelta(hours=25)
        row.expires_at = row.created_at + timedelta(hours=24)
        db.session.commit()
    for response in (ada.get(path), ada.post_form(path, csrf_from="/")):
        assert response.status_code == 410
        body = response.get_data(as_text=True)
        assert "This link has expired." in body
        assert 'href="/account/email"' in body
    assert _user(app).email == "ada@example.com"
    assert ada.get("/confirm-email/" + "B" * 43).status_code == 404
    assert ada.get("/confirm-email/bogus").status_code == 404


def test_change_email_link_works_from_another_browser(app, smtp_server, run_jobs):
    _ada(app)
    _change_email(sign_in(app, "ada@example.com", DEFAULT_PASSWORD))
    path = _confirm_link(app, smtp_server, run_jobs)
    phone = new_client(app)
    response = phone.post_form(path, csrf_from=path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert _user(app).email == "ada@new.example"


def test_change_email_link_dies_when_the_password_changes(app, smtp_server, run_jobs):
    _ada(app)
    ada = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    _change_email(ada)
    path = _confirm_link(app, smtp_server, run_jobs)
    assert _change_password(ada).status_code == 302
    response = ada.post_form(path, csrf_from=path)
    assert response.status_code == 410
    assert _user(app).email == "ada@example.com"


def test_an_address_taken_meanwhile_is_refused_at_confirmation(app, smtp_server, run_jobs):
    _ada(app)
    ada = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    _change_email(ada)
    path = _confirm_link(app, smtp_server, run_jobs)
    with app.app_context():
        make_user(email="ada@new.example", user_name="impostor")
    response = ada.post_form(path, csrf_from=path)
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "Another account now uses this email address." in body
    assert "Traceback" not in body
    assert _user(app).email == "ada@example.com"
    assert events(app, "user.email_changed") == []


def test_changing_the_address_kills_links_mailed_to_the_old_one(app, smtp_server, run_jobs):
    _ada(app)
    anonymous = new_client(app)
    anonymous.post_form(
        "/reset-password", {"email": "ada@example.com"}, csrf_from="/reset-password"
    )
    run_jobs()
    [reset] = [m for m in smtp_server.messages if m["Subject"] == "Reset your Blog password"]
    reset_path = relative(app, link_in(app, reset, "/reset-password/"))

    ada = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    _change_email(ada)
    path = _confirm_link(app, smtp_server, run_jobs)
    assert ada.post_form(path, csrf_from=path).status_code == 302
    assert anonymous.get(reset_path).status_code == 410


def test_change_email_is_rate_limited_per_user(app, smtp_server):
    _ada(app)
    ada = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    for n in range(5):
        response = ada.post_form(
            "/account/email",
            {"email": f"ada{n}@new.example", "password": DEFAULT_PASSWORD},
            csrf_from="/account/email",
            environ_overrides={"REMOTE_ADDR": f"192.0.2.{n}"},
        )
        assert response.status_code == 302
    response = ada.post_form(
        "/account/email",
        {"email": "ada9@new.example", "password": DEFAULT_PASSWORD},
        csrf_from="/account/email",
        environ_overrides={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert response.status_code == 429
    assert len(events(app, "user.email_change_requested")) == 5
