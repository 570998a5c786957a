"""Session tokens rotate periodically; sessions end after an idle period."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from blog.auth.models import UserSession
from blog.auth.sessions import ROTATION_GRACE, hash_token
from blog.core.db import utcnow
from blog.extensions import db
from tests.conftest import new_client
from tests.factories import DEFAULT_PASSWORD, make_user


def _signed_in(app):
    with app.app_context():
        make_user(email="ada@example.com")
    c = new_client(app)
    r = c.post_form(
        "/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD}, csrf_from="/login"
    )
    assert r.status_code == 302
    return c


def _age_session(app, **ages: timedelta) -> None:
    with app.app_context():
        values = {column: utcnow() - age for column, age in ages.items()}
        db.session.execute(update(UserSession).values(**values))
        db.session.commit()


def test_a_token_older_than_the_rotation_period_is_replaced(app):
    c = _signed_in(app)
    cookie = app.config["AUTH_COOKIE_NAME"]
    old = c.get_cookie(cookie).value
    fresh = c.get("/").headers.getlist("Set-Cookie")
    assert not any(h.startswith(cookie + "=") for h in fresh)  # fresh: no rotation

    _age_session(app, token_rotated_at=timedelta(hours=app.config["SESSION_ROTATE_HOURS"] + 1))
    response = c.get("/")
    assert response.status_code == 200
    new = c.get_cookie(cookie).value
    assert new != old
    set_auth = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(cookie + "=")]
    assert len(set_auth) == 1
    assert "HttpOnly" in set_auth[0]
    assert "SameSite=Lax" in set_auth[0]
    with app.app_context():
        s = db.session.scalar(select(UserSession))
        assert s.token_hash == hash_token(new)
        assert s.previous_token_hash == hash_token(old)
    # The new cookie works; the session (the device) is the same row.
    assert c.get("/account/sessions").status_code == 200


def test_the_replaced_token_works_only_for_a_short_grace(app):
    c = _signed_in(app)
    cookie = app.config["AUTH_COOKIE_NAME"]
    old = c.get_cookie(cookie).value
    _age_session(app, token_rotated_at=timedelta(days=2))
    c.get("/")  # rotates

    in_flight = new_client(app)
    in_flight.set_cookie(cookie, old)
    assert in_flight.get("/account/sessions").status_code == 200  # within the grace

    _age_session(app, token_rotated_at=ROTATION_GRACE + timedelta(seconds=1))
    late = new_client(app)
    late.set_cookie(cookie, old)
    assert late.get("/account/sessions").status_code == 302  # a copied old cookie is dead
    assert c.get("/account/sessions").status_code == 200


def test_signing_out_after_a_rotation_revokes_the_session(app):
    c = _signed_in(app)
    _age_session(app, token_rotated_at=timedelta(days=2))
    c.get("/")
    c.post_form("/logout")
    with app.app_context():
        assert db.session.scalar(select(UserSession.revoked_at)) is not None


def test_an_idle_session_ends(app):
    c = _signed_in(app)
    idle = timedelta(hours=app.config["SESSION_IDLE_HOURS"])
    _age_session(app, last_seen_at=idle - timedelta(minutes=5))
    assert c.get("/account/sessions").status_code == 200  # not idle long enough; touched now
    _age_session(app, last_seen_at=idle + timedelta(minutes=1))
    assert c.get("/account/sessions").status_code == 302
