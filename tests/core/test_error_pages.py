"""The 500 and 503 pages: friendly, no traceback, with fragment versions for htmx."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError


@pytest.fixture(scope="module")
def failing_app(make_app):
    app = make_app()

    @app.get("/_test/boom")
    def boom():
        raise RuntimeError("secret internals")

    @app.get("/_test/failed-statement")
    def failed_statement():
        from sqlalchemy import text

        from blog.extensions import db

        db.session.execute(text("SELECT 1 / 0"))  # aborts the transaction, then raises
        return "unreachable"

    @app.get("/_test/db-down")
    def db_down():
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    return app


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/_test/boom", 500, "We hit an unexpected error."),
        ("/_test/db-down", 503, "The database is unavailable."),
    ],
)
def test_failures_get_friendly_pages(failing_app, path, status, message):
    client = failing_app.test_client()
    page = client.get(path)
    assert page.status_code == status
    body = page.get_data(as_text=True)
    assert message in body
    assert "<html" in body
    assert "Traceback" not in body
    assert "secret internals" not in body
    assert "connection refused" not in body
    assert page.headers["X-Request-ID"]

    fragment = client.get(path, headers={"HX-Request": "true"})
    assert fragment.status_code == status
    assert message in fragment.get_data(as_text=True)
    assert "<html" not in fragment.get_data(as_text=True)


def test_a_failed_statement_still_gets_the_error_page_for_a_signed_in_user(failing_app, sign_in):
    """The page's nav reads the user and the unread badge: after an aborted transaction
    the session is rolled back first, or the error page itself would fail."""
    from tests.conftest import new_client
    from tests.factories import make_user

    with failing_app.app_context():
        make_user(email="ada@example.com")
    client = new_client(failing_app)
    sign_in(client, "ada@example.com")

    page = client.get("/_test/failed-statement")

    assert page.status_code == 500
    body = page.get_data(as_text=True)
    assert "We hit an unexpected error." in body
    assert "Sign out" in body  # the full page, with the signed-in navigation
