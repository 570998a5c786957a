"""Rate limits come from the `configuration` table at runtime, and every limited answer says
where the client stands in the IETF RateLimit-* fields."""

from __future__ import annotations

import logging

import pytest

from blog.auth.limits import LIMIT_DEFAULTS, limit_for
from blog.core.settings import forget_settings, invalidate_settings
from blog.extensions import db
from blog.ops.models import Configuration
from tests.factories import DEFAULT_PASSWORD, make_user


def _configure(app, value) -> None:
    with app.app_context():
        db.session.add(
            Configuration(key="rate_limits", environment=app.config["ENV_NAME"], value=value)
        )
        db.session.commit()
        # As the settings editor does: a row written behind the cache's back is seen only
        # after an invalidation (a background read may have cached "no rows" in Redis).
        invalidate_settings(app.config["ENV_NAME"])


def _wrong_login(client, token, email="ada@example.com"):
    return client.post(
        "/login",
        data={"email": email, "password": "Wrong-Horse-7"},
        headers={"X-CSRFToken": token},
    )


def test_a_limited_answer_carries_ratelimit_fields_and_no_retry_after(app, client):
    token = client.csrf("/login")

    response = _wrong_login(client, token)

    assert response.status_code == 422
    headers = response.headers
    assert headers["RateLimit-Limit"] == "10"  # the tightest default: 10/minute
    assert headers["RateLimit-Remaining"] == "9"
    assert 0 < int(headers["RateLimit-Reset"]) <= 60  # seconds from now, not an epoch
    assert "X-RateLimit-Limit" not in headers
    assert "Retry-After" not in headers  # only a refusal says when to come back


def test_a_limit_set_in_the_configuration_table_takes_effect_without_a_restart(app, client):
    with app.app_context():
        make_user(email="ada@example.com")
    _configure(app, {"login": "2/minute"})
    token = client.csrf("/login")

    answers = [_wrong_login(client, token).status_code for _ in range(3)]

    assert answers == [422, 422, 429]
    refused = client.post(
        "/login",
        data={"email": "ada@example.com", "password": DEFAULT_PASSWORD},
        headers={"X-CSRFToken": token},
    )
    assert refused.status_code == 429
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert 0 < int(refused.headers["Retry-After"]) <= 60


@pytest.mark.parametrize("bad", [{"login": "lots"}, {"login": 5}, ["10/minute"], "10/minute"])
def test_a_malformed_configured_limit_falls_back_to_the_default(app, client, caplog, bad):
    _configure(app, bad)
    token = client.csrf("/login")

    with caplog.at_level(logging.WARNING, logger="blog.auth.limits"):
        response = _wrong_login(client, token)

    assert response.status_code == 422
    assert response.headers["RateLimit-Limit"] == "10"
    if isinstance(bad, dict):
        assert "not a valid limit" in caplog.text


def test_limits_fall_back_to_defaults_when_the_database_is_unreadable(app, make_app):
    from sqlalchemy.engine import make_url

    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(database="blog_no_such_database")
    broken = make_app(DATABASE_URL=url.render_as_string(hide_password=False))
    forget_settings()

    with broken.test_request_context():
        assert limit_for("login") == LIMIT_DEFAULTS["login"]
        db.engine.dispose()
