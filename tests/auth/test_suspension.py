"""Suspension: a reason and an optional end, shown at sign-in, lifted when the end passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from blog.audit.models import AuditLog
from blog.auth.jobs import lift_expired_suspensions
from blog.auth.models import User
from blog.auth.services import reinstate_user, suspend_user
from blog.core.db import utcnow
from blog.extensions import db
from tests.auth.helpers import events
from tests.conftest import new_client
from tests.factories import DEFAULT_PASSWORD, make_user


def _login(client, email, password=DEFAULT_PASSWORD):
    return client.post_form("/login", {"email": email, "password": password}, csrf_from="/login")


def _suspend(app, email="ada@example.com", *, reason="spam", until=None):
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.role == "admin"))
        if admin is None:
            admin = make_user(role="admin")
        user = db.session.scalar(select(User).where(User.email == email))
        suspend_user(user, actor=admin, reason=reason, until=until, ip="10.0.0.9")
        db.session.commit()


def _user(app, email="ada@example.com"):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        db.session.expunge(user)
        return user


def _audit_actions(app):
    with app.app_context():
        return list(db.session.scalars(select(AuditLog.action).order_by(AuditLog.created_at)))


def test_suspension_with_an_end_shows_reason_and_end_at_sign_in(app, client):
    with app.app_context():
        make_user(email="ada@example.com")
    until = datetime(2099, 12, 1, 10, 0, tzinfo=UTC)
    _suspend(app, reason="Repeated spam in the forum", until=until)

    response = _login(client, "ada@example.com")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "This account is suspended until 2099-12-01 10:00 UTC." in page
    assert "Repeated spam in the forum" in page
    assert client.get("/account").status_code == 302


def test_open_ended_suspension_says_until_further_notice(app, client):
    with app.app_context():
        make_user(email="ada@example.com")
    _suspend(app, reason="Abuse")
    page = _login(client, "ada@example.com").get_data(as_text=True)
    assert "until further notice" in page
    assert "Abuse" in page


def test_wrong_password_on_a_suspended_account_reveals_nothing(app, client):
    with app.app_context():
        make_user(email="ada@example.com")
    _suspend(app, reason="Secret moderator note")
    response = _login(client, "ada@example.com", "Wrong-Password-1")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "The email address or password is not right." in page
    assert "Secret moderator note" not in page


def test_the_reason_is_escaped(app, client):
    with app.app_context():
        make_user(email="ada@example.com")
    _suspend(app, reason="<script>alert(1)</script>")
    page = _login(client, "ada@example.com").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_suspend_records_details_audit_and_event_and_ends_sessions(app, client):
    with app.app_context():
        make_user(email="ada@example.com")
    assert _login(client, "ada@example.com").status_code == 302
    until = utcnow() + timedelta(days=3)
    _suspend(app, reason="spam", until=until)

    assert client.get("/account").status_code == 302  # the live session ended at once
    user = _user(app)
    assert (user.status, user.suspended_reason, user.suspended_until) == (
        "suspended",
        "spam",
        until,
    )
    with app.app_context():
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "user.suspend"))
        assert entry.new_values["reason"] == "spam"
        assert entry.new_values["until"] == until.isoformat()
        assert entry.new_values["sessions_ended"] == 1
        assert str(entry.ip) == "10.0.0.9"
    [event] = events(app, "user.suspended")
    assert event.aggregate_id == str(user.id)
    assert event.event_data["reason"] == "spam"
    assert event.event_data["until"] == until.isoformat()


def test_a_failed_suspension_leaves_no_event(app_ctx):
    admin = make_user(role="admin")
    ada = make_user(email="ada@example.com", deleted_at=utcnow())
    with pytest.raises(ValueError, match="deleted"):
        suspend_user(ada, actor=admin, reason="spam")
    db.session.rollback()
    assert db.session.scalar(select(User.status).where(User.id == ada.id)) == "active"


def test_reinstate_clears_details_audits_and_emits(app, client):
    with app.app_context():
        make_user(email="ada@example.com")
    _suspend(app, reason="spam", until=utcnow() + timedelta(days=3))
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.role == "admin"))
        ada = db.session.scalar(select(User).where(User.email == "ada@example.com"))
        reinstate_user(ada, actor=admin, ip="10.0.0.9")
        db.session.commit()

    user = _user(app)
    assert (user.status, user.suspended_reason, user.suspended_until) == ("active", None, None)
    assert _audit_actions(app)[-1] == "user.reinstate"
    [event] = events(app, "user.reinstated")
    assert event.event_data["expired"] is False
    assert _login(client, "ada@example.com").status_code == 302


def test_the_database_refuses_details_on_an_active_account(app_ctx):
    ada = make_user(email="ada@example.com")
    ada.suspended_reason = "left behind"
    with pytest.raises(IntegrityError, match="suspension_only_when_suspended"):
        db.session.commit()
    db.session.rollback()


def test_the_job_lifts_only_ended_suspensions(app):
    with app.app_context():
        make_user(email="ada@example.com")
        make_user(email="bob@example.com")
        make_user(email="cy@example.com")
    _suspend(app, "ada@example.com", until=utcnow() + timedelta(seconds=1))
    _suspend(app, "bob@example.com", until=utcnow() + timedelta(days=1))
    _suspend(app, "cy@example.com")
    with app.app_context():
        # Let Ada's end pass without sleeping.
        ada = db.session.scalar(select(User).where(User.email == "ada@example.com"))
        ada.suspended_until = utcnow() - timedelta(minutes=1)
        db.session.commit()

        assert lift_expired_suspensions() == 1
        assert lift_expired_suspensions() == 0  # idempotent
        db.session.remove()

    assert _user(app, "ada@example.com").status == "active"
    assert _user(app, "ada@example.com").suspended_reason is None
    assert _user(app, "bob@example.com").status == "suspended"
    assert _user(app, "cy@example.com").status == "suspended"
    with app.app_context():
        entry = db.session.scalar(
            select(AuditLog).where(AuditLog.action == "user.suspension_expired")
        )
        assert entry.actor_id is None
        assert entry.old_values["status"] == "suspended"
    [event] = events(app, "user.reinstated")
    assert event.event_data["expired"] is True
    assert _login(new_client(app), "ada@example.com").status_code == 302


def test_an_ended_suspension_lets_the_user_sign_in_before_the_job_runs(app, client):
    with app.app_context():
        make_user(email="ada@example.com")
    _suspend(app, until=utcnow() + timedelta(days=1))
    with app.app_context():
        ada = db.session.scalar(select(User).where(User.email == "ada@example.com"))
        ada.suspended_until = utcnow() - timedelta(seconds=1)
        db.session.commit()

    response = _login(client, "ada@example.com")
    assert response.status_code == 302
    assert client.get("/account").status_code == 200
    assert _user(app).status == "active"
    assert "user.suspension_expired" in _audit_actions(app)
    assert len(events(app, "user.reinstated")) == 1


def test_a_wrong_password_does_not_lift_an_ended_suspension(app, client):
    with app.app_context():
        make_user(email="ada@example.com")
    _suspend(app, until=utcnow() + timedelta(days=1))
    with app.app_context():
        ada = db.session.scalar(select(User).where(User.email == "ada@example.com"))
        ada.suspended_until = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert _login(client, "ada@example.com", "Wrong-Password-1").status_code == 422
    assert _user(app).status == "suspended"
