"""Every /admin route, found by walking the app's URL map: signed out → sign-in redirect,
ordinary user → 403, moderator → 403 except on the moderation pages. A new admin route is
covered the day it is added."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import new_client
from tests.factories import make_user

# What a moderator may open (everything else under /admin is for admins).
MODERATOR_ENDPOINTS = {
    "admin.moderation",
    "admin.users",
    "admin.user",
    "admin.suspend",
    "admin.reinstate",
    "flags.queue",
    "flags.decide",
}


def _admin_routes(app) -> list[tuple[str, str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin"):
            continue
        values = {}
        for arg in rule.arguments:
            converter = rule._converters[arg].__class__.__name__
            values[arg] = uuid.uuid4() if converter == "UUIDConverter" else "x"
        path = rule.build(values)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, path))
    return routes


def test_the_route_table_has_admin_routes(app):
    endpoints = {endpoint for endpoint, _, _ in _admin_routes(app)}
    assert {"admin.index", "admin.settings", "admin.jobs", "audit.audit_log"} <= endpoints


def _call(browser, method, path):
    if method == "GET":
        return browser.get(path)
    return browser.post_form(path, {"reason": "x", "role": "admin", "duration": "1d"})


def test_signed_out_visitors_are_sent_to_sign_in_everywhere(app):
    browser = new_client(app)
    for endpoint, method, path in _admin_routes(app):
        response = _call(browser, method, path)
        assert response.status_code == 302, (endpoint, method, response.status_code)
        assert "/login" in response.headers["Location"], endpoint


@pytest.mark.parametrize("role", ["user", "moderator"])
def test_who_may_not_gets_403_everywhere(app, sign_in, role):
    with app.app_context():
        make_user(email="someone@example.com", role=role)
    browser = new_client(app)
    sign_in(browser, "someone@example.com")

    for endpoint, method, path in _admin_routes(app):
        if role == "moderator" and endpoint in MODERATOR_ENDPOINTS:
            continue
        response = _call(browser, method, path)
        assert response.status_code == 403, (endpoint, method, response.status_code)
