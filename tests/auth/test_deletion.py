"""Deleting your own account (soft delete, sessions ended), the purge after the retention period,
and an admin's restore before it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from blog.audit.models import AuditLog
from blog.auth.jobs import purge_deleted_accounts
from blog.auth.models import PURGED_PASSWORD, User, UserSession, VerificationToken
from blog.auth.passwords import verify_password
from blog.auth.services import NotRestorable, restore_user
from blog.core.db import utcnow
from blog.extensions import db
from tests.auth.helpers import events, is_signed_in, sign_in
from tests.conftest import new_client
from tests.factories import DEFAULT_PASSWORD, make_user

INVALID = "The email address or password is not right."


def _ada(app, **attrs) -> None:
    with app.app_context():
        make_user(email="ada@example.com", user_name="ada", **attrs)


def _user(app, user_name="ada") -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.user_name == user_name))
        db.session.expunge_all()
        return user


def _delete(client, password=DEFAULT_PASSWORD):
    return client.post_form("/account/delete", {"password": password}, csrf_from="/account/delete")


def _login(client, email="ada@example.com", password=DEFAULT_PASSWORD):
    return client.post_form("/login", {"email": email, "password": password}, csrf_from="/login")


def _audit(app, action):
    with app.app_context():
        rows = db.session.scalars(select(AuditLog).where(AuditLog.action == action)).all()
        db.session.expunge_all()
        return list(rows)


def _pass_retention(app, user_name="ada") -> None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.user_name == user_name))
        user.purge_after = utcnow() - timedelta(minutes=1)
        db.session.commit()


def _deleted_ada(app):
    _ada(app)
    ada = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    assert _delete(ada).status_code == 302
    return _user(app)


# --------------------------------------------------------------------------- delete


def test_account_page_links_the_deletion_with_a_warning(app):
    _ada(app)
    ada = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    page = ada.get("/account").get_data(as_text=True)
    assert 'href="/account/delete"' in page
    assert "Warning" in page
    form = ada.get("/account/delete").get_data(as_text=True)
    assert 'id="delete-account-form"' in form
    assert "30 days" in form


def test_delete_needs_sign_in(client):
    assert client.get("/account/delete").headers["Location"] == "/login?next=/account/delete"
    assert client.post_form("/account/delete", {"password": "x"}).status_code == 302


def test_delete_soft_deletes_ends_every_session_and_signs_out(app):
    _ada(app)
    laptop = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    phone = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)

    response = _delete(laptop)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    user = _user(app)
    assert user.deleted_at is not None
    assert user.purge_after - user.deleted_at == timedelta(days=30)
    when = user.purge_after.strftime("%Y-%m-%d %H:%M UTC")
    page = laptop.get("/").get_data(as_text=True)
    assert "Your account has been deleted and you are signed out." in page
    assert f"purged on {when}" in page
    assert not is_signed_in(laptop)
    assert not is_signed_in(phone)  # the other device's cookie stops working at once
    with app.app_context():
        live = db.session.scalars(select(UserSession).where(UserSession.revoked_at.is_(None))).all()
        assert live == []

    [event] = events(app, "user.deleted")
    assert event.aggregate_id == str(user.id)
    assert event.event_data == {
        "purge_after": user.purge_after.isoformat(),
        "actor_id": str(user.id),
    }
    [entry] = _audit(app, "user.delete")
    assert entry.actor_id == user.id
    assert entry.new_values["sessions_ended"] == 2
    assert entry.new_values["purge_after"] == user.purge_after.isoformat()


def test_retention_comes_from_the_config(app, monkeypatch):
    monkeypatch.setitem(app.config, "ACCOUNT_RETENTION_DAYS", 7)
    user = _deleted_ada(app)
    assert user.purge_after - user.deleted_at == timedelta(days=7)


def test_delete_needs_the_current_password(app):
    _ada(app)
    ada = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    for password, message in (
        ("Wrong-Password-1", "The password is not right."),
        ("", "Enter your current password."),
    ):
        response = _delete(ada, password)
        assert response.status_code == 422
        body = response.get_data(as_text=True)
        assert message in body
        assert 'id="password-error"' in body
    assert _user(app).deleted_at is None
    assert is_signed_in(ada)
    assert events(app, "user.deleted") == []
    assert _audit(app, "user.delete") == []


def test_delete_with_htmx_swaps_the_form_then_redirects(app):
    _ada(app)
    htmx = new_client(app, htmx=True)
    _login(htmx)
    response = htmx.post_form(
        "/account/delete", {"password": "Wrong-Password-1"}, csrf_from="/account/delete"
    )
    assert response.status_code == 422
    assert response.get_data(as_text=True).lstrip().startswith('<form id="delete-account-form"')
    ok = htmx.post_form(
        "/account/delete", {"password": DEFAULT_PASSWORD}, csrf_from="/account/delete"
    )
    assert ok.status_code == 204
    assert ok.headers["HX-Redirect"] == "/"


def test_delete_is_rate_limited_before_hashing(app):
    _ada(app)
    ada = sign_in(app, "ada@example.com", DEFAULT_PASSWORD)
    for _ in range(5):
        assert _delete(ada, "Guess-Number-1").status_code == 422
    response = _delete(ada)  # even the right password: the limit comes first
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert _user(app).deleted_at is None


def test_a_deleted_user_cannot_sign_in_and_hears_a_wrong_password(app, client):
    _deleted_ada(app)
    right = _login(client)
    wrong = _login(new_client(app), password="Wrong-Password-1")
    assert right.status_code == wrong.status_code == 422
    assert INVALID in right.get_data(as_text=True)
    assert INVALID in wrong.get_data(as_text=True)
    assert not is_signed_in(client)


def test_the_email_is_taken_until_the_purge(app):
    _deleted_ada(app)
    form = {
        "email": "ada@example.com",
        "user_name": "ada2",
        "password": "Analytical-Engine-1843",
        "confirm": "Analytical-Engine-1843",
    }
    taken = new_client(app).post_form("/register", form, csrf_from="/register")
    assert taken.status_code == 422
    assert "An account with this email address already exists." in taken.get_data(as_text=True)

    _pass_retention(app)
    with app.app_context():
        assert purge_deleted_accounts() == 1
    again = new_client(app)
    response = again.post_form("/register", {**form, "user_name": "ada"}, csrf_from="/register")
    assert response.status_code == 302
    assert is_signed_in(again)


# --------------------------------------------------------------------------- purge


def test_the_job_anonymises_only_accounts_past_their_retention(app, run_jobs):
    _ada(app)
    with app.app_context():
        make_user(email="bob@example.com", user_name="bob")
        make_user(email="cyd@example.com", user_name="cyd")
    for email in ("ada@example.com", "bob@example.com"):
        assert _delete(sign_in(app, email, DEFAULT_PASSWORD)).status_code == 302
    # Ada asked for a reset before deleting: her mail token must go too.
    with app.app_context():
        ada = db.session.scalar(select(User).where(User.user_name == "ada"))
        db.session.add(
            VerificationToken(
                user_id=ada.id,
                purpose="reset_password",
                token_hash=b"x" * 32,
                expires_at=utcnow() + timedelta(hours=1),
            )
        )
        db.session.commit()
    ada_id = _user(app).id
    _pass_retention(app, "ada")

    with app.app_context():
        assert purge_deleted_accounts() == 1
        assert purge_deleted_accounts() == 0  # idempotent: purge_after is cleared
        purged = db.session.get(User, ada_id)
        assert purged.email == f"deleted-{ada_id.hex}@invalid.example"
        assert purged.user_name == f"deleted-{ada_id.hex[:12]}"
        assert purged.password_hash == PURGED_PASSWORD
        assert not verify_password(purged.password_hash, DEFAULT_PASSWORD)
        assert purged.purge_after is None
        assert purged.deleted_at is not None  # the row stays, still deleted
        assert purged.last_login_at is None
        for model in (UserSession, VerificationToken):
            assert db.session.scalars(select(model).where(model.user_id == ada_id)).all() == []
        db.session.remove()

    assert _user(app, "bob").email == "bob@example.com"  # retention not over yet
    assert _user(app, "bob").purge_after is not None
    assert _user(app, "cyd").deleted_at is None
    [entry] = _audit(app, "user.purge")
    assert entry.actor_id is None
    assert entry.entity_id == str(ada_id)
    # No personal data kept in the entry.
    assert entry.old_values is None
    assert entry.new_values is None
    # The earlier audit entry still points at the (anonymised) row.
    assert {e.entity_id for e in _audit(app, "user.delete")} >= {str(ada_id)}
    assert _login(new_client(app)).status_code == 422


def test_the_job_runs_in_batches(app, monkeypatch):
    monkeypatch.setattr("blog.auth.jobs.PURGE_BATCH", 2)
    with app.app_context():
        for n in range(5):
            make_user(
                email=f"u{n}@example.com",
                user_name=f"gone{n}",
                deleted_at=utcnow() - timedelta(days=31),
                purge_after=utcnow() - timedelta(days=1),
            )
        assert purge_deleted_accounts() == 5
        names = db.session.scalars(select(User.user_name)).all()
        assert all(name.startswith("deleted-") for name in names)


def test_the_job_runs_in_the_worker(app, run_jobs):
    ada_id = _deleted_ada(app).id
    _pass_retention(app)
    with app.app_context():
        from blog.jobs.queues import get_queue

        get_queue("default").enqueue("blog.auth.jobs.purge_deleted_accounts")
    run_jobs()
    with app.app_context():
        assert db.session.get(User, ada_id).email == f"deleted-{ada_id.hex}@invalid.example"


# --------------------------------------------------------------------------- restore


def _admin_restores(app, user_name="ada"):
    with app.app_context():
        admin = make_user(role="admin")
        user = db.session.scalar(select(User).where(User.user_name == user_name))
        restore_user(user, actor=admin, ip="10.0.0.9")
        db.session.commit()
        return admin.id


def test_an_admin_restores_before_the_purge(app):
    deleted = _deleted_ada(app)
    admin_id = _admin_restores(app)
    user = _user(app)
    assert user.deleted_at is None
    assert user.purge_after is None
    assert is_signed_in(sign_in(app, "ada@example.com", DEFAULT_PASSWORD))
    [entry] = _audit(app, "user.restore")
    assert entry.actor_id == admin_id
    assert entry.ip == "10.0.0.9"
    assert entry.old_values["purge_after"] == deleted.purge_after.isoformat()
    assert entry.new_values == {"deleted_at": None, "purge_after": None}
    [event] = events(app, "user.restored")
    assert event.event_data == {"actor_id": str(admin_id)}
    with app.app_context():
        assert purge_deleted_accounts() == 0


@pytest.mark.parametrize("state", ["active", "due", "purged"])
def test_restore_is_refused_unless_deleted_and_not_yet_purged(app, state):
    if state == "active":
        _ada(app)
    else:
        _deleted_ada(app)
        _pass_retention(app)
    if state == "purged":
        with app.app_context():
            purge_deleted_accounts()
    with app.app_context():
        admin = make_user(role="admin")
        user = db.session.scalar(select(User).where(User.role == "user"))
        with pytest.raises(NotRestorable):
            restore_user(user, actor=admin)
        db.session.rollback()
    assert _audit(app, "user.restore") == []
    assert events(app, "user.restored") == []
