"""The client address (rate limits, the devices page) comes from the peer unless a trusted
proxy is configured: X-Forwarded-For from anyone else is ignored."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from blog.auth.models import UserSession
from blog.extensions import db
from tests.conftest import new_client
from tests.factories import DEFAULT_PASSWORD, make_user


def _login(client, email, password=DEFAULT_PASSWORD, **kw):
    return client.post_form(
        "/login", {"email": email, "password": password}, csrf_from="/login", **kw
    )


def _session_ips(app) -> list[str]:
    with app.app_context():
        return [str(ip) for ip in db.session.scalars(select(UserSession.ip))]


def test_spoofed_forwarded_for_does_not_escape_the_rate_limit(app, client):
    for n in range(10):
        response = _login(
            client,
            f"nobody{n}@example.com",
            "Wrong-Password-1",
            headers={"X-Forwarded-For": f"1.2.3.{n}"},
        )
        assert response.status_code == 422
    response = _login(
        client, "nobody10@example.com", "Wrong-Password-1", headers={"X-Forwarded-For": "5.6.7.8"}
    )
    assert response.status_code == 429


def test_spoofed_forwarded_for_is_not_stored_with_the_session(app, client):
    with app.app_context():
        make_user(email="ada@example.com")
    response = _login(client, "ada@example.com", headers={"X-Forwarded-For": "1.2.3.4"})
    assert response.status_code == 302
    assert _session_ips(app) == ["127.0.0.1"]


@pytest.fixture
def proxied_app(make_app):
    """An app behind one trusted proxy (the shared limiter follows it, on the same Redis)."""
    proxied = make_app(BLOG_PROXY_HOPS="1")
    yield proxied
    with proxied.app_context():
        db.engine.dispose()


def test_one_trusted_proxy_gives_the_forwarded_address(app, proxied_app):
    with app.app_context():
        make_user(email="ada@example.com")
    client = new_client(proxied_app)
    response = _login(
        client, "ada@example.com", headers={"X-Forwarded-For": "9.9.9.9, 203.0.113.7"}
    )
    assert response.status_code == 302
    # One hop trusted: the address our proxy saw, not what the client claimed before it.
    assert _session_ips(app) == ["203.0.113.7"]


def test_behind_a_trusted_proxy_the_limit_is_per_forwarded_client(app, proxied_app):
    client = new_client(proxied_app)
    for n in range(11):
        response = _login(
            client,
            f"nobody{n}@example.com",
            "Wrong-Password-1",
            headers={"X-Forwarded-For": "203.0.113.7"},
        )
    assert response.status_code == 429
    other = _login(
        new_client(proxied_app),
        "someone@example.com",
        "Wrong-Password-1",
        headers={"X-Forwarded-For": "203.0.113.8"},
    )
    assert other.status_code == 422


# --------------------------------------------------------------------------- BLOG_PROXY_ALLOW


@pytest.mark.parametrize(
    ("allow", "recorded"),
    [
        # The test client's peer is 127.0.0.1: not the proxy, so its header is not believed.
        ("10.0.0.30/32", "127.0.0.1"),
        # The peer is an allowed proxy: the address it forwards is the client's.
        ("10.0.0.30/32, 127.0.0.0/8", "203.0.113.7"),
    ],
)
def test_forwarded_headers_only_from_the_allowed_proxies(app, make_app, allow, recorded):
    proxied = make_app(BLOG_PROXY_HOPS="1", BLOG_PROXY_ALLOW=allow)
    try:
        with app.app_context():
            make_user(email="ada@example.com")
        response = _login(
            new_client(proxied), "ada@example.com", headers={"X-Forwarded-For": "203.0.113.7"}
        )
        assert response.status_code == 302
        assert _session_ips(app) == [recorded]
    finally:
        with proxied.app_context():
            db.engine.dispose()
