from __future__ import annotations

import os
from datetime import timedelta

from sqlalchemy import func, select

from blog.auth.jobs import purge_expired_sessions
from blog.auth.models import UserSession
from blog.core.db import utcnow
from blog.extensions import db
from tests.conftest import new_client
from tests.factories import DEFAULT_PASSWORD, make_user


def _signed_in(app, email="ada@example.com"):
    c = new_client(app)
    r = c.post_form(
        "/login",
        {"email": email, "password": DEFAULT_PASSWORD},
        csrf_from="/login",
        headers={"User-Agent": f"Browser {id(c)}"},
    )
    assert r.status_code == 302
    return c


def _session_ids(app):
    with app.app_context():
        return {
            s.id: s
            for s in db.session.scalars(select(UserSession).where(UserSession.revoked_at.is_(None)))
        }


def test_devices_page_lists_sessions_and_marks_this_one(app):
    with app.app_context():
        make_user(email="ada@example.com")
    laptop = _signed_in(app)
    _signed_in(app)
    page = laptop.get("/account/sessions").get_data(as_text=True)
    assert page.count('<tr id="session-') == 2
    assert page.count("This device") == 1


def test_revoke_another_device(app):
    with app.app_context():
        make_user(email="ada@example.com")
    laptop = _signed_in(app)
    phone = _signed_in(app)
    cookie = app.config["AUTH_COOKIE_NAME"]
    phone_token = phone.get_cookie(cookie).value
    from blog.auth.sessions import hash_token

    with app.app_context():
        phone_id = db.session.scalar(
            select(UserSession.id).where(UserSession.token_hash == hash_token(phone_token))
        )
    response = laptop.post_form(
        f"/account/sessions/{phone_id}/revoke", csrf_from="/account/sessions"
    )
    assert response.status_code == 302
    assert phone.get("/account/sessions").status_code == 302  # signed out at the server
    assert laptop.get("/account/sessions").status_code == 200


def test_revoke_with_htmx_returns_the_updated_list(app, htmx):
    with app.app_context():
        make_user(email="ada@example.com")
    htmx.post_form(
        "/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD}, csrf_from="/login"
    )
    other = _signed_in(app)
    other_id = next(
        sid for sid, s in _session_ids(app).items() if s.user_agent == f"Browser {id(other)}"
    )
    response = htmx.post_form(f"/account/sessions/{other_id}/revoke", csrf_from="/account/sessions")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="session-list"')
    assert str(other_id) not in body
    assert 'hx-swap-oob="true"' in body
    assert "That device has been signed out." in body


def test_cannot_revoke_someone_elses_session(app):
    with app.app_context():
        make_user(email="ada@example.com")
        make_user(email="eve@example.com")
    ada = _signed_in(app, "ada@example.com")
    eve = _signed_in(app, "eve@example.com")
    ada_token = ada.get_cookie(app.config["AUTH_COOKIE_NAME"]).value
    from blog.auth.sessions import hash_token

    with app.app_context():
        ada_id = db.session.scalar(
            select(UserSession.id).where(UserSession.token_hash == hash_token(ada_token))
        )
    response = eve.post_form(f"/account/sessions/{ada_id}/revoke", csrf_from="/account/sessions")
    assert response.status_code == 404
    assert ada.get("/account/sessions").status_code == 200


def test_revoke_all_others_keeps_this_one(app):
    with app.app_context():
        make_user(email="ada@example.com")
    laptop = _signed_in(app)
    others = [_signed_in(app) for _ in range(3)]
    response = laptop.post_form("/account/sessions/revoke-others", csrf_from="/account/sessions")
    assert response.status_code == 302
    assert laptop.get("/account/sessions").status_code == 200
    assert all(o.get("/account/sessions").status_code == 302 for o in others)


def test_last_seen_is_written_at_most_once_a_minute(app, client, count_queries):
    with app.app_context():
        make_user(email="ada@example.com")
    c = _signed_in(app)
    with count_queries() as q:
        c.get("/")
        c.get("/")
    assert not any(s.lstrip().upper().startswith("UPDATE") for s in q.statements)
    with app.app_context():
        s = db.session.scalar(select(UserSession))
        s.last_seen_at = utcnow() - timedelta(minutes=5)
        db.session.commit()
    with count_queries() as q:
        c.get("/")
    assert sum(s.lstrip().upper().startswith("UPDATE SESSIONS") for s in q.statements) == 1
    with app.app_context():
        assert utcnow() - db.session.scalar(select(UserSession.last_seen_at)) < timedelta(minutes=1)


def test_purge_expired_sessions_job(app, app_ctx):
    user = make_user()
    now = utcnow()
    for created, expires, revoked in (
        (now - timedelta(days=40), now - timedelta(days=10), None),  # long expired: purged
        (now - timedelta(days=3), now - timedelta(days=2), None),  # recently expired: kept
        (now - timedelta(days=20), now + timedelta(days=10), now - timedelta(days=8)),  # purged
        (now, now + timedelta(hours=12), None),  # live: kept
    ):
        db.session.add(
            UserSession(
                user_id=user.id,
                token_hash=os.urandom(32),
                created_at=created,
                last_seen_at=created,
                expires_at=expires,
                revoked_at=revoked,
            )
        )
        db.session.flush()
    db.session.commit()
    assert purge_expired_sessions() == 2
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 2
    assert purge_expired_sessions() == 0  # idempotent
