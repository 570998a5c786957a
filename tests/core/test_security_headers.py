"""Security headers on every kind of response, safe cookies, and friendly error pages (with
fragment versions for htmx) for 404, 405, 413 and 429."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.factories import DEFAULT_PASSWORD, make_user

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

PAGES = {
    "home": ("/", 200),
    "sign-in": ("/login", 200),
    "not found": ("/no-such-page", 404),
    "health probe": ("/healthz", 200),
    "static file": ("/static/css/app.css", 200),
}


def csp_directives(response: Any) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, "no Content-Security-Policy"
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name.lower()] = values
    return directives


def assert_security_headers(response: Any) -> None:
    csp = csp_directives(response)
    assert "script-src" in csp  # not left to default-src, so the rule below is the rule
    assert "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-eval'" not in csp["script-src"]
    assert "'unsafe-inline'" not in csp.get("default-src", [])
    assert csp.get("frame-ancestors") == ["'none'"]
    assert csp.get("object-src") == ["'none'"]
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("X-Frame-Options") == "DENY"
    assert response.headers.get("Referrer-Policy") in (
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    )
    assert REQUEST_ID.match(response.headers.get("X-Request-ID", ""))


def assert_error_page(response: Any, status: int, title: str) -> str:
    body = response.get_data(as_text=True)
    assert response.status_code == status, body[:500]
    assert response.mimetype == "text/html"
    assert "<html" in body
    assert f"<h1>{title} <small>({status})</small></h1>" in body
    assert re.search(r'<article id="error"[^>]*>.*?<p>\s*\w', body, re.DOTALL)
    assert "Traceback" not in body
    assert_security_headers(response)
    return body


def assert_error_fragment(response: Any, status: int, title: str) -> str:
    body = response.get_data(as_text=True)
    assert response.status_code == status, body[:500]
    assert "<html" not in body
    # A short message the page shows beside the form that sent the request (static/js/app.js),
    # never swapped into the form's target by htmx itself.
    assert body.lstrip().startswith(f'<p class="form-error request-error" data-status="{status}">')
    assert f"<strong>{title}.</strong>" in body
    assert response.headers.get("HX-Reswap") == "none"
    assert "<h1" not in body
    assert "Traceback" not in body
    assert_security_headers(response)
    return body


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize(("path", "status"), PAGES.values(), ids=PAGES.keys())
def test_every_kind_of_response_carries_the_security_headers(client, path, status):
    response = client.get(path)

    assert response.status_code == status
    assert_security_headers(response)


@pytest.mark.parametrize(("path", "status"), PAGES.values(), ids=PAGES.keys())
def test_htmx_responses_carry_them_too(htmx, path, status):
    response = htmx.get(path)

    assert response.status_code == status
    assert_security_headers(response)


def test_pages_are_not_kept_by_shared_caches(client):
    response = client.get("/login")

    assert response.headers.get("Cache-Control") == "no-store"
    assert "HX-Request" in response.headers.get("Vary", "")


@pytest.mark.parametrize("path", ["/", "/login", "/no-such-page", "/healthz"])
def test_a_valid_incoming_request_id_is_echoed(client, path):
    response = client.get(path, headers={"X-Request-ID": "edge-1234.abcd_EF"})

    assert response.headers["X-Request-ID"] == "edge-1234.abcd_EF"


@pytest.mark.parametrize(
    "incoming",
    ["bad id!", "short", "x" * 65, "id with\ttab1", "é" * 10, "a/b/c/d/e/f", "<script>x"],
)
def test_an_invalid_incoming_request_id_is_replaced(client, incoming):
    response = client.get("/", headers={"X-Request-ID": incoming})

    assert response.headers["X-Request-ID"] != incoming
    assert REQUEST_ID.match(response.headers["X-Request-ID"])


def test_each_request_gets_its_own_id(client):
    ids = {client.get("/").headers["X-Request-ID"] for _ in range(5)}

    assert len(ids) == 5


# --------------------------------------------------------------------------- cookies


def cookie_attributes(response: Any, name: str) -> dict[str, str]:
    """The attributes of the Set-Cookie for `name`, lower-cased keys ('httponly': '')."""
    for header in response.headers.getlist("Set-Cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        if first.split("=", 1)[0] == name:
            parsed = {"value": first.split("=", 1)[1]}
            for attribute in attributes:
                key, _, value = attribute.partition("=")
                parsed[key.lower()] = value
            return parsed
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.getlist('Set-Cookie')}")


@pytest.fixture
def member(app: Flask) -> str:
    with app.app_context():
        return make_user(email="ada@example.com").email


@pytest.mark.parametrize("remember", [False, True], ids=["session", "remember me"])
def test_sign_in_cookies_are_http_only_and_same_site_lax(app, client, member, sign_in, remember):
    response = sign_in(client, member, remember=remember)

    for name in (app.config["AUTH_COOKIE_NAME"], app.config["SESSION_COOKIE_NAME"]):
        attributes = cookie_attributes(response, name)
        assert attributes["value"]
        assert "httponly" in attributes, name
        assert attributes.get("samesite", "").lower() == "lax", name
        assert attributes.get("path") == "/", name
        assert "domain" not in attributes, name
    auth = cookie_attributes(response, app.config["AUTH_COOKIE_NAME"])
    assert ("max-age" in auth) is remember  # without "remember me" it dies with the browser


def test_sign_out_clears_the_cookie_with_the_same_attributes(app, client, member, sign_in):
    sign_in(client, member)

    response = client.post_form("/logout", {})

    attributes = cookie_attributes(response, app.config["AUTH_COOKIE_NAME"])
    assert attributes["value"] in ("", '""')
    assert attributes.get("max-age") == "0"
    assert "httponly" in attributes
    assert attributes.get("samesite", "").lower() == "lax"


@pytest.fixture
def https_app(make_app: Any) -> Iterator[Flask]:
    from blog.extensions import db

    https = make_app(BLOG_SITE_URL="https://localhost")
    yield https
    with https.app_context():
        db.engine.dispose()


def test_over_https_cookies_are_secure_and_hsts_is_sent(https_app, app):
    from tests.conftest import new_client

    with https_app.app_context():
        email = make_user(email="grace@example.com").email
    browser = new_client(https_app)
    browser.environ_base["wsgi.url_scheme"] = "https"
    referer = {"Referer": "https://localhost/login"}  # strict CSRF checks it over https

    token = browser.csrf("/login")
    response = browser.post(
        "/login",
        data={"csrf_token": token, "email": email, "password": DEFAULT_PASSWORD},
        headers=referer,
    )

    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert https_app.config["AUTH_COOKIE_NAME"].startswith("__Host-")
    for name in (https_app.config["AUTH_COOKIE_NAME"], https_app.config["SESSION_COOKIE_NAME"]):
        attributes = cookie_attributes(response, name)
        assert "secure" in attributes, name
        assert "httponly" in attributes, name
        assert attributes.get("samesite", "").lower() == "lax", name
    assert "max-age=" in response.headers.get("Strict-Transport-Security", "")


# --------------------------------------------------------------------------- error pages


def test_not_found_is_a_friendly_page(client):
    assert_error_page(client.get("/no-such-page"), 404, "Page not found")


def test_not_found_for_htmx_is_a_fragment(htmx):
    assert_error_fragment(htmx.get("/no-such-page"), 404, "Page not found")


def test_get_on_sign_out_is_a_friendly_405(client):
    response = client.get("/logout")

    assert_error_page(response, 405, "Method not allowed")
    assert "POST" in response.headers.get("Allow", "")


def test_get_on_sign_out_for_htmx_is_a_405_fragment(htmx):
    response = htmx.get("/logout")

    assert_error_fragment(response, 405, "Method not allowed")
    assert "POST" in response.headers.get("Allow", "")


def test_a_body_over_the_limit_is_a_friendly_413(app, client):
    limit = app.config["MAX_CONTENT_LENGTH"]
    token = client.csrf("/login")

    response = client.post(
        "/login",
        data=b"email=" + b"a" * limit,
        content_type="application/x-www-form-urlencoded",
        headers={"X-CSRFToken": token},
    )

    assert_error_page(response, 413, "Too large")


@pytest.fixture
def small_body_limit(app: Flask) -> Iterator[int]:
    previous = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 4096
    try:
        yield 4096
    finally:
        app.config["MAX_CONTENT_LENGTH"] = previous


@pytest.mark.parametrize("path", ["/login", "/register", "/logout"])
def test_a_body_over_the_limit_for_htmx_is_a_413_fragment(htmx, small_body_limit, path):
    token = htmx.csrf(path if path != "/logout" else "/")

    response = htmx.post(
        path,
        data={"email": "a" * (small_body_limit + 1)},
        headers={"X-CSRFToken": token},
    )

    assert_error_fragment(response, 413, "Too large")


def test_a_multipart_body_over_the_limit_is_a_413(client, small_body_limit):
    token = client.csrf("/register")

    response = client.post(
        "/register",
        data={"csrf_token": token, "email": "a" * (small_body_limit + 1)},
        content_type="multipart/form-data",
    )

    assert_error_page(response, 413, "Too large")


def _login_limit(app: Flask) -> int:
    spec = str(app.config.get("AUTH_LOGIN_LIMIT", "10/minute;100/hour"))
    return min(int(part.split("/")[0].split()[0]) for part in spec.split(";"))


def _exhaust_login_limit(app: Flask, requester: Any, email: str) -> None:
    token = requester.csrf("/login")
    for attempt in range(_login_limit(app)):
        response = requester.post(
            "/login",
            data={"email": email, "password": "Wrong-Horse-7"},
            headers={"X-CSRFToken": token},
        )
        assert response.status_code == 422, f"attempt {attempt + 1}: {response.status_code}"


def _retry_after(response: Any) -> int:
    value = response.headers.get("Retry-After", "")
    assert value.isdigit(), f"Retry-After: {value!r}"
    return int(value)


def test_too_many_sign_ins_is_a_friendly_429_with_retry_after(app, client, member):
    _exhaust_login_limit(app, client, member)
    token = client.csrf("/login")

    # Even the right password is refused now: the limit is what stops guessing.
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": member, "password": DEFAULT_PASSWORD},
    )

    body = assert_error_page(response, 429, "Too many requests")
    assert "10 per 1 minute" not in body  # the limiter's own words are for developers
    assert 0 < _retry_after(response) <= 60
    assert app.config["AUTH_COOKIE_NAME"] not in response.headers.get("Set-Cookie", "")


def test_too_many_sign_ins_for_htmx_is_a_429_fragment(app, htmx, member):
    _exhaust_login_limit(app, htmx, member)

    response = htmx.post_form(
        "/login", {"email": member, "password": DEFAULT_PASSWORD}, csrf_from="/login"
    )

    assert_error_fragment(response, 429, "Too many requests")
    assert 0 < _retry_after(response) <= 60
    assert "HX-Redirect" not in response.headers


def test_the_per_account_limit_holds_across_addresses(app, member):
    """Guessing one account's password from many IPs meets the per-email limit."""
    from tests.conftest import new_client

    limit = _login_limit(app)
    for attempt in range(limit):
        browser = new_client(app)
        browser.environ_base["REMOTE_ADDR"] = f"192.0.2.{attempt + 1}"
        response = browser.post_form(
            "/login", {"email": member, "password": "Wrong-Horse-7"}, csrf_from="/login"
        )
        assert response.status_code == 422, f"attempt {attempt + 1}: {response.status_code}"
    browser = new_client(app)
    browser.environ_base["REMOTE_ADDR"] = "198.51.100.7"

    response = browser.post_form(
        "/login", {"email": member.upper(), "password": DEFAULT_PASSWORD}, csrf_from="/login"
    )

    assert_error_page(response, 429, "Too many requests")
    assert _retry_after(response) > 0
