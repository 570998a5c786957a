from __future__ import annotations

import pytest
from sqlalchemy import func, select

from blog.auth.models import User
from blog.extensions import db
from tests.factories import make_user

GOOD = {
    "email": "Ada@Example.com",
    "user_name": "ada",
    "password": "Analytical-Engine-1843",
    "confirm": "Analytical-Engine-1843",
}


def _user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def test_sign_up_creates_account_and_signs_in(app, client):
    response = client.post_form("/register", GOOD, csrf_from="/register")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert app.config["AUTH_COOKIE_NAME"] in response.headers.get("Set-Cookie", "")

    page = client.get("/").get_data(as_text=True)
    assert "Account menu of ada" in page
    with app.app_context():
        user = db.session.scalar(select(User))
        assert user.email == "ada@example.com"  # normalised
        assert user.password_hash.startswith("$argon2id$")
        assert user.role == "user"
        assert user.provider == "local"
        assert user.status == "active"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "", "Enter your email address."),
        ("email", "not-an-email", "Enter a valid email address."),
        ("user_name", "ab", "Use 3 to 255 characters."),
        ("user_name", "x" * 256, "Use 3 to 255 characters."),
        ("user_name", "has space", "Use only letters, digits"),
        ("user_name", "<script>", "Use only letters, digits"),
        ("user_name", "Deleted-0123456789ab", "This user name is reserved."),
        ("password", "Short1", "Use at least 8 characters."),
        ("password", "alllowercase1", "Include an upper-case letter."),
        ("password", "ALLUPPERCASE1", "Include a lower-case letter."),
        ("password", "NoDigitsHere", "Include a digit."),
        ("password", "Password123", "too common"),
        ("password", "Qwerty2024!", "too common"),
        ("password", "Ada-is-great-1", "user name or email"),
    ],
)
def test_sign_up_validation(app, client, field, value, message):
    data = {**GOOD, field: value}
    if field == "password":
        data["confirm"] = value
    response = client.post_form("/register", data, csrf_from="/register")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert message in body
    assert f'id="{field}-error"' in body
    assert 'aria-invalid="true"' in body
    assert _user_count(app) == 0


def test_passwords_must_match(app, client):
    response = client.post_form(
        "/register", {**GOOD, "confirm": "Something-Else-9"}, csrf_from="/register"
    )
    assert response.status_code == 422
    assert "The passwords do not match." in response.get_data(as_text=True)
    assert _user_count(app) == 0


def test_taken_email_and_user_name(app, client):
    with app.app_context():
        make_user(email="ada@example.com", user_name="someone")
        make_user(email="other@example.com", user_name="Ada2")

    response = client.post_form("/register", GOOD, csrf_from="/register")
    assert response.status_code == 422
    assert "An account with this email address already exists." in response.get_data(as_text=True)

    response = client.post_form(
        "/register",
        {**GOOD, "email": "new@example.com", "user_name": "ADA2"},
        csrf_from="/register",
    )
    assert response.status_code == 422
    assert "This user name is taken." in response.get_data(as_text=True)
    assert _user_count(app) == 2


def test_htmx_sign_up_errors_swap_the_form_only(htmx):
    response = htmx.post_form(
        "/register", {**GOOD, "password": "x", "confirm": "x"}, csrf_from="/register"
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<form id="register-form"')
    assert "<html" not in body


def test_htmx_sign_up_success_redirects_the_whole_page(htmx):
    response = htmx.post_form("/register", GOOD, csrf_from="/register")
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/"


def test_database_refuses_what_forms_refuse(app_ctx):
    """The constraints hold even for code that skips the forms."""
    from sqlalchemy.exc import IntegrityError

    for bad in (
        {"email": "UPPER@example.com"},
        {"email": "no-at-sign"},
        {"role": "superuser"},
        {"status": "banned"},
        {"user_name": "ab"},
        {"password_hash": None},
    ):
        values = {"email": "x@example.com", "user_name": "xyz", "password_hash": "h", **bad}
        db.session.add(User(**values))
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()
