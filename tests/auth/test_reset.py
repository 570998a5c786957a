"""Password reset: no account enumeration, single-use one-hour links that die with a password
change, and a reset that ends every session."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from blog.auth.models import User, UserSession, VerificationToken
from blog.core.db import utcnow
from blog.extensions import db
from blog.outbox.models import OutboxEvent
from tests.auth.helpers import (
    events,
    is_signed_in,
    link_in,
    mail_to,
    relative,
    sign_in,
    text_of,
)
from tests.conftest import csrf_token_from, new_client
from tests.factories import DEFAULT_PASSWORD, make_user

NEW_PASSWORD = "Babbage-Difference-1822"
RESET_SUBJECT = "Reset your Blog password"
SENT = "If an account uses that address, we have sent it a link to choose a new password."


@pytest.fixture
def ada(app):
    with app.app_context():
        return make_user(email="ada@example.com", user_name="ada").id


def _request_reset(client, email, **kw):
    return client.post_form("/reset-password", {"email": email}, csrf_from="/reset-password", **kw)


def _reset_link(app, client, smtp_server, run_jobs, email="ada@example.com") -> str:
    def resets() -> list:
        return [m for m in mail_to(smtp_server, email) if m["Subject"] == RESET_SUBJECT]

    before = len(resets())
    assert _request_reset(client, email).status_code == 302
    run_jobs()
    assert len(resets()) == before + 1
    return relative(app, link_in(app, resets()[-1], "/reset-password/"))


def _set_password(client, path, password=NEW_PASSWORD, **kw):
    return client.post_form(path, {"password": password, "confirm": password}, csrf_from=path, **kw)


def _password_hash(app) -> str:
    with app.app_context():
        return db.session.scalar(select(User.password_hash).where(User.user_name == "ada"))


# --------------------------------------------------------------------------- no enumeration


def test_known_and_unknown_addresses_get_the_same_answer(app, client, ada, smtp_server, run_jobs):
    with app.app_context():
        make_user(email="gone@example.com", deleted_at=utcnow())
    run_jobs()  # the sign-up mail of the factories' users
    smtp_server.messages.clear()

    answers = {}
    for email in ("ada@example.com", "nobody@example.com", "gone@example.com"):
        response = _request_reset(new_client(app), email)
        answers[email] = (response.status_code, response.headers["Location"])
    assert set(answers.values()) == {(302, "/reset-password/sent")}

    htmx_answers = set()
    for email in ("ada@example.com", "nobody@example.com"):
        response = new_client(app, htmx=True).post_form(
            "/reset-password", {"email": email}, csrf_from="/reset-password"
        )
        htmx_answers.add((response.status_code, response.headers["HX-Redirect"], response.data))
    assert htmx_answers == {(204, "/reset-password/sent", b"")}

    page = client.get("/reset-password/sent")
    assert page.status_code == 200
    assert SENT in page.get_data(as_text=True)

    # Only the real, live account got an event and a mail.
    with app.app_context():
        ada_id = str(ada)
    assert [e.aggregate_id for e in events(app, "user.password_reset_requested")] == [ada_id] * 2
    run_jobs()
    assert {m["To"] for m in smtp_server.messages} == {"ada@example.com"}
    assert len(smtp_server.messages) == 2


def test_known_and_unknown_addresses_do_the_same_database_work(app, ada, count_queries):
    """The unknown-address path does the known path's outbox write (then undoes it), so the
    two cost the same. Timing itself is not asserted here: that belongs to benchmarks."""
    client = new_client(app)
    token = client.csrf("/reset-password")

    def writes(email: str) -> list[str]:
        with count_queries() as q:
            response = client.post("/reset-password", data={"csrf_token": token, "email": email})
        assert response.status_code == 302
        return [s for s in q.statements if s.lstrip().upper().startswith("INSERT")]

    known, unknown = writes("ada@example.com"), writes("nobody@example.com")
    assert [s.split("(")[0] for s in known] == [s.split("(")[0] for s in unknown]
    assert any("domain_event_outbox" in s for s in unknown)
    assert [e.aggregate_id for e in events(app, "user.password_reset_requested")] == [str(ada)]


def test_the_request_form_checks_the_address(app, client):
    for value, message in (("", "Enter your email address."), ("not-an-email", "valid email")):
        response = _request_reset(client, value)
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
    assert events(app, "user.password_reset_requested") == []


def test_sign_in_page_links_to_the_reset(client):
    assert 'href="/reset-password"' in client.get("/login").get_data(as_text=True)


# --------------------------------------------------------------------------- the link


def test_a_reset_sets_the_password_and_ends_every_session(app, client, ada, smtp_server, run_jobs):
    laptop = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    phone = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    cookie_name = app.config["AUTH_COOKIE_NAME"]
    laptop_cookie = laptop.get_cookie(cookie_name).value
    old_hash = _password_hash(app)

    path = _reset_link(app, client, smtp_server, run_jobs)
    [message] = [m for m in smtp_server.messages if m["Subject"] == RESET_SUBJECT]
    assert "for 1 hour." in text_of(message)
    with app.app_context():
        row = db.session.scalar(
            select(VerificationToken).where(VerificationToken.purpose == "reset_password")
        )
        assert row.expires_at - row.created_at == timedelta(hours=1)

    form = client.get(path)
    assert form.status_code == 200
    assert form.headers["Referrer-Policy"] == "no-referrer"
    assert "Choose a new password" in form.get_data(as_text=True)

    # The sign-up policy applies.
    weak = _set_password(client, path, "password1")
    assert weak.status_code == 422
    assert "Include an upper-case letter." in weak.get_data(as_text=True)
    mismatch = client.post_form(
        path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"}, csrf_from=path
    )
    assert mismatch.status_code == 422
    assert _password_hash(app) == old_hash

    response = _set_password(client, path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "Your password has been changed" in client.get("/login").get_data(as_text=True)
    assert _password_hash(app) != old_hash
    assert _password_hash(app).startswith("$argon2id$")

    # Every session ended at the server: the old cookies, even copied, no longer work.
    assert not is_signed_in(laptop)
    assert not is_signed_in(phone)
    thief = new_client(app)
    thief.set_cookie(cookie_name, laptop_cookie)
    assert not is_signed_in(thief)
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(UserSession)
                .where(UserSession.revoked_at.is_(None))
            )
            == 0
        )

    # The new password signs in; the old one does not.
    assert is_signed_in(sign_in(app, "ada@example.com", NEW_PASSWORD))
    old = new_client(app).post_form(
        "/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD}, csrf_from="/login"
    )
    assert old.status_code == 422

    [event] = events(app, "user.password_changed")
    assert event.event_data == {"via": "reset"}
    run_jobs()
    notices = [m for m in smtp_server.messages if m["Subject"] == "Your Blog password was changed"]
    assert [m["To"] for m in notices] == ["ada@example.com"]


def test_a_reset_link_works_once(app, client, ada, smtp_server, run_jobs):
    path = _reset_link(app, client, smtp_server, run_jobs)
    assert _set_password(client, path).status_code == 302
    for response in (client.get(path), _set_password(client, path, "Another-Password-9")):
        assert response.status_code == 410
        body = response.get_data(as_text=True)
        assert "This link has already been used" in body
        assert 'href="/reset-password"' in body  # the way to a new one
    assert is_signed_in(sign_in(app, "ada@example.com", NEW_PASSWORD))


def test_a_reset_link_expires_after_an_hour(app, client, ada, smtp_server, run_jobs):
    path = _reset_link(app, client, smtp_server, run_jobs)
    old_hash = _password_hash(app)

    def age(minutes: int) -> None:
        with app.app_context():
            row = db.session.scalar(
                select(VerificationToken).where(VerificationToken.purpose == "reset_password")
            )
            row.created_at = utcnow() - timedelta(minutes=minutes)
            row.expires_at = row.created_at + timedelta(hours=1)
            db.session.commit()

    age(59)
    assert client.get(path).status_code == 200
    age(61)
    for response in (client.get(path), _set_password(client, path)):
        assert response.status_code == 410
        assert "This link has expired." in response.get_data(as_text=True)
    assert _password_hash(app) == old_hash


def test_a_reset_link_dies_when_the_password_changes(app, client, ada, smtp_server, run_jobs):
    path = _reset_link(app, client, smtp_server, run_jobs)
    ada_client = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    response = ada_client.post_form(
        "/account/password",
        {"current_password": DEFAULT_PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        csrf_from="/account/password",
    )
    assert response.status_code == 302
    changed_hash = _password_hash(app)

    for response in (client.get(path), _set_password(client, path, "Attacker-Chosen-77")):
        assert response.status_code == 410
        assert "no longer works" in response.get_data(as_text=True)
    assert _password_hash(app) == changed_hash


def test_using_one_reset_link_kills_the_others(app, client, ada, smtp_server, run_jobs):
    first = _reset_link(app, client, smtp_server, run_jobs)
    second = _reset_link(app, client, smtp_server, run_jobs)
    assert first != second
    assert _set_password(client, second).status_code == 302
    assert client.get(first).status_code == 410


def test_unknown_and_malformed_reset_links_get_a_friendly_404(app, client):
    for token in ("A" * 43, "nope", "x" * 3000, "%E2%98%83"):
        for response in (
            client.get(f"/reset-password/{token}"),
            _set_password(client, f"/reset-password/{token}"),
        ):
            assert response.status_code == 404
            body = response.get_data(as_text=True)
            assert "This link does not work" in body
            assert "Traceback" not in body
    # NUL never reaches the lookup: refused at the request boundary (issue 19).
    assert client.get("/reset-password/%00").status_code == 400


def test_reset_links_use_site_url_whatever_the_request_host(
    app, ada, smtp_server, run_jobs, monkeypatch
):
    monkeypatch.setitem(app.config, "TRUSTED_HOSTS", ["evil.example", "localhost", "127.0.0.1"])
    hostile = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    client = new_client(app)
    token = csrf_token_from(client.get("/reset-password", headers=hostile).get_data(as_text=True))
    response = client.post(
        "/reset-password",
        data={"csrf_token": token, "email": "ada@example.com"},
        headers=hostile,
    )
    assert response.status_code == 302
    run_jobs()
    [message] = [m for m in smtp_server.messages if m["Subject"] == RESET_SUBJECT]
    assert link_in(app, message, "/reset-password/").startswith(app.config["SITE_URL"] + "/")
    assert "evil.example" not in message.as_string()


# --------------------------------------------------------------------------- rate limits


def test_reset_requests_are_limited_per_address(app, ada):
    for n in range(5):
        response = _request_reset(
            new_client(app), "ada@example.com", environ_overrides={"REMOTE_ADDR": f"192.0.2.{n}"}
        )
        assert response.status_code == 302
    # From yet another IP, the address itself is limited: nobody can flood one mailbox.
    response = _request_reset(
        new_client(app), "ADA@example.com ", environ_overrides={"REMOTE_ADDR": "192.0.2.200"}
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    # The limit is the same for an unknown address: it tells nothing either.
    for _ in range(5):
        _request_reset(
            new_client(app), "nobody@example.com", environ_overrides={"REMOTE_ADDR": "198.51.100.1"}
        )
    assert _request_reset(new_client(app), "nobody@example.com").status_code == 429
    assert len(events(app, "user.password_reset_requested")) == 5


def test_reset_requests_are_limited_per_ip(app, client):
    for n in range(5):
        assert _request_reset(client, f"someone{n}@example.com").status_code == 302
    response = _request_reset(client, "someone-else@example.com")
    assert response.status_code == 429
    assert "You are doing that too often" in response.get_data(as_text=True)


def test_a_rolled_back_unknown_request_leaves_no_event(app, client):
    assert _request_reset(client, "nobody@example.com").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxEvent)) == 0


def test_reset_confirms_the_address_too(app, client, smtp_server, run_jobs):
    """The link came through the mailbox: that proves the address."""
    with app.app_context():
        make_user(email="ada@example.com", user_name="ada")
    path = _reset_link(app, client, smtp_server, run_jobs)
    _set_password(client, path)
    with app.app_context():
        assert db.session.scalar(select(User.email_verified_at)) is not None
    assert len(events(app, "user.email_verified")) == 1


def test_the_new_password_must_not_contain_the_user_name(app, client, ada, smtp_server, run_jobs):
    path = _reset_link(app, client, smtp_server, run_jobs)
    response = _set_password(client, path, "Ada-Lovelace-1815")
    assert response.status_code == 422
    assert "user name or email" in response.get_data(as_text=True)


def test_two_uses_at_once_spend_the_link_once(app, client, ada, smtp_server, run_jobs):
    """The second request waits on the token's row lock, then sees it spent."""
    path = _reset_link(app, client, smtp_server, run_jobs)
    token_hash = hashlib.sha256(path.rsplit("/", 1)[1].encode()).digest()
    old_hash = _password_hash(app)
    csrf = client.csrf(path)
    with app.app_context():
        engine = db.engine
    holder = engine.connect()
    transaction = holder.begin()
    holder.execute(
        text("UPDATE verification_tokens SET used_at = now() WHERE token_hash = :h"),
        {"h": token_hash},
    )  # a first use, not yet committed: it holds the row lock
    result = {}

    def second_use() -> None:
        result["response"] = client.post(
            path, data={"csrf_token": csrf, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
        )

    thread = threading.Thread(target=second_use)
    thread.start()
    try:
        # Wait until the second request is blocked on that lock (it read the token as unused).
        with engine.connect() as watcher:
            for _ in range(100):
                waiting = watcher.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                )
                watcher.rollback()  # pg_stat_activity is a snapshot per transaction
                if waiting:
                    break
                time.sleep(0.05)
            assert waiting == 1
    finally:
        transaction.commit()
        holder.close()
    thread.join(10)
    assert result["response"].status_code == 410
    assert "already been used" in result["response"].get_data(as_text=True)
    assert _password_hash(app) == old_hash
    assert events(app, "user.password_changed") == []
