from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from blog.auth.models import User, UserSession
from blog.auth.services import suspend_user
from blog.core.db import utcnow
from blog.extensions import db
from tests.conftest import new_client
from tests.factories import DEFAULT_PASSWORD, make_user


def _login(client, email, password=DEFAULT_PASSWORD, **extra):
    return client.post_form(
        "/login", {"email": email, "password": password, **extra}, csrf_from="/login"
    )


def test_sign_in_and_out(app, client):
    with app.app_context():
        make_user(email="ada@example.com", user_name="ada")
    response = _login(client, "ADA@example.com ")
    assert response.status_code == 302
    assert "Account menu of ada" in client.get("/").get_data(as_text=True)

    response = client.post_form("/logout")
    assert response.status_code == 302
    assert "Sign in" in client.get("/").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(UserSession.revoked_at)) is not None


def test_unknown_email_and_wrong_password_look_the_same(app, client):
    with app.app_context():
        make_user(email="ada@example.com")
    wrong_password = _login(client, "ada@example.com", "Wrong-Password-1")
    unknown_email = _login(client, "nobody@example.com", "Wrong-Password-1")
    assert wrong_password.status_code == unknown_email.status_code == 422
    for response in (wrong_password, unknown_email):
        assert "The email address or password is not right." in response.get_data(as_text=True)


def test_logout_is_post_only(client):
    assert client.get("/logout").status_code == 405


def test_replayed_cookie_after_sign_out_is_refused(app, client):
    with app.app_context():
        make_user(email="ada@example.com")
    _login(client, "ada@example.com")
    cookie_name = app.config["AUTH_COOKIE_NAME"]
    stolen = client.get_cookie(cookie_name).value
    client.post_form("/logout")

    thief = app.test_client()
    thief.set_cookie(cookie_name, stolen)
    response = thief.get("/account/sessions")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_expired_session_is_refused(app, client):
    with app.app_context():
        make_user(email="ada@example.com")
    _login(client, "ada@example.com")
    assert client.get("/account/sessions").status_code == 200
    with app.app_context():
        s = db.session.scalar(select(UserSession))
        s.created_at = utcnow() - timedelta(days=2)
        s.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert client.get("/account/sessions").status_code == 302


def test_remember_me_lengthens_the_session(app, client):
    with app.app_context():
        make_user(email="ada@example.com")
    plain = _login(client, "ada@example.com")
    assert "Max-Age" not in plain.headers["Set-Cookie"]  # dies with the browser
    remembered_client = new_client(app)
    remembered = remembered_client.post_form(
        "/login",
        {"email": "ada@example.com", "password": DEFAULT_PASSWORD, "remember": "y"},
        csrf_from="/login",
    )
    assert "Max-Age=2592000" in remembered.headers["Set-Cookie"]
    with app.app_context():
        lifetimes = sorted(
            (s.expires_at - s.created_at) for s in db.session.scalars(select(UserSession))
        )
    assert lifetimes[0] <= timedelta(hours=12)
    assert lifetimes[1] >= timedelta(days=30)


def test_suspended_user_loses_sessions_and_cannot_sign_in(app, client):
    with app.app_context():
        admin_id = make_user(role="admin").id
        make_user(email="ada@example.com")
    _login(client, "ada@example.com")
    assert client.get("/account/sessions").status_code == 200

    with app.app_context():
        ada = db.session.scalar(select(User).where(User.email == "ada@example.com"))
        suspend_user(ada, actor=db.session.get(User, admin_id), reason="spam")
        db.session.commit()

    assert client.get("/account/sessions").status_code == 302  # the live session ended
    response = _login(new_client(app), "ada@example.com")
    assert response.status_code == 422
    assert "This account is suspended until further notice. Reason: spam" in (
        response.get_data(as_text=True)
    )


def test_deleted_user_gets_the_wrong_password_message(app, client):
    with app.app_context():
        make_user(email="ada@example.com", deleted_at=utcnow())
    response = _login(client, "ada@example.com")
    assert response.status_code == 422
    assert "The email address or password is not right." in response.get_data(as_text=True)


def test_password_is_rehashed_when_parameters_change(app, client):
    with app.app_context():
        make_user(email="ada@example.com")
        old_hash = db.session.scalar(select(User.password_hash))
    previous = app.config["ARGON2_TIME_COST"]
    app.config["ARGON2_TIME_COST"] = previous + 1
    try:
        _login(client, "ada@example.com")
    finally:
        app.config["ARGON2_TIME_COST"] = previous
    with app.app_context():
        new_hash = db.session.scalar(select(User.password_hash))
    assert new_hash != old_hash
    assert f"t={previous + 1}" in new_hash


def test_sign_in_issues_a_new_token_each_time(app, client):
    with app.app_context():
        make_user(email="ada@example.com")
    cookie_name = app.config["AUTH_COOKIE_NAME"]
    _login(client, "ada@example.com")
    first = client.get_cookie(cookie_name).value
    client.post_form("/logout")
    _login(client, "ada@example.com")
    assert client.get_cookie(cookie_name).value != first


def test_next_parameter_is_kept_but_never_leaves_the_site(app, client):
    with app.app_context():
        make_user(email="ada@example.com")
    response = client.get("/account/sessions")
    assert response.headers["Location"] == "/login?next=/account/sessions"
    ok = client.post_form(
        "/login?next=/account/sessions",
        {"email": "ada@example.com", "password": DEFAULT_PASSWORD},
        csrf_from="/login",
    )
    assert ok.headers["Location"] == "/account/sessions"
    client.post_form("/logout")
    evil = client.post_form(
        "/login?next=//evil.example/x",
        {"email": "ada@example.com", "password": DEFAULT_PASSWORD},
        csrf_from="/login",
    )
    assert evil.headers["Location"] == "/"


def test_login_is_rate_limited(app, client):
    for _ in range(10):
        _login(client, "nobody@example.com", "Wrong-Password-1")
    response = _login(client, "nobody@example.com", "Wrong-Password-1")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "You are doing that too often" in response.get_data(as_text=True)


def test_page_requests_use_one_query_for_the_session(app, client, count_queries):
    with app.app_context():
        make_user(email="ada@example.com")
    _login(client, "ada@example.com")
    # A page that reads nothing but the signed-in user (the home page now lists posts).
    with count_queries() as q:
        assert client.get("/account/profile").status_code == 200
    # The session lookup, a prepared statement (blog.core.prepared) that reads the nav's two
    # badges (capped COUNTs) as well.
    assert q.count == 1, q.statements
    assert q.statements[0].startswith("EXECUTE session_lookup(")
