"""Runtime settings: edited from /admin/settings, validated against each key's schema, audited,
and live in every process without a restart (Redis copy dropped by config.changed's handler)."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from sqlalchemy import select

from blog.audit.models import AuditLog
from blog.auth.models import User
from blog.core import settings as runtime
from blog.extensions import db
from blog.ops.models import Configuration
from blog.outbox.models import OutboxEvent
from tests.conftest import new_client
from tests.factories import make_user


@pytest.fixture
def admin(app, sign_in):
    with app.app_context():
        make_user(email="admin@example.com", user_name="admin", role="admin")
    browser = new_client(app)
    sign_in(browser, "admin@example.com")
    return browser


def _save(browser, key, value):
    return browser.post_form(
        f"/admin/settings/{key}",
        {f"{key}-value": value if isinstance(value, str) else json.dumps(value)},
        csrf_from="/admin/settings",
    )


def _maintenance(browser, enabled, message=""):
    data = {"message": message}
    if enabled:
        data["enabled"] = "y"
    return browser.post_form("/admin/maintenance", data, csrf_from="/admin/settings")


def _stored(app, key):
    with app.app_context():
        return db.session.scalar(select(Configuration.value).where(Configuration.key == key))


# --------------------------------------------------------------------------- the editor


def test_only_admins_reach_the_settings(app, client, sign_in):
    with app.app_context():
        make_user(email="mod@example.com", role="moderator")
    assert client.get("/admin/settings").status_code == 302
    sign_in(client, "mod@example.com")
    assert client.get("/admin/settings").status_code == 403
    assert _save(client, "rate_limits", {"login": "1/hour"}).status_code == 403
    assert _stored(app, "rate_limits") is None


def test_the_page_lists_every_key_with_its_description_and_value(admin):
    body = admin.get("/admin/settings").get_data(as_text=True)

    for key in ("maintenance", "rate_limits", "feature_flags", "uploads", "retention"):
        assert f'id="setting-{key}"' in body
    assert "registration_open" in body
    assert "&#34;account_days&#34;: 30" in body or "&quot;account_days&quot;: 30" in body


def test_a_valid_change_is_stored_audited_and_announced(app, admin):
    response = _save(admin, "rate_limits", {"login": "3/minute"})

    assert response.status_code == 302
    assert _stored(app, "rate_limits") == {"login": "3/minute"}
    with app.app_context():
        (entry,) = db.session.scalars(
            select(AuditLog).where(AuditLog.action == "config.change")
        ).all()
        assert entry.entity_id == "testing:rate_limits"
        assert (entry.old_values, entry.new_values) == (
            {"value": None},
            {"value": {"login": "3/minute"}},
        )
        events = db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == "config.changed")
        ).all()
        assert [e.event_data["key"] for e in events] == ["rate_limits"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("rate_limits", "{not json", "Not valid JSON"),
        ("rate_limits", {"login": "lots"}, "is not a limit"),
        ("rate_limits", {"launch_missiles": "1/hour"}, "launch_missiles"),
        ("maintenance", {"enabled": "yes"}, "is not of type"),
        ("uploads", {"max_bytes": 5}, "less than the minimum"),
        ("retention", {"account_days": 30, "extra": 1}, "Additional properties"),
        ("feature_flags", [], "is not of type"),
    ],
)
def test_a_value_its_schema_refuses_is_a_422_beside_the_field(app, admin, key, value, message):
    response = _save(admin, key, value)

    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in body.replace("&#39;", "'")
    assert _stored(app, key) is None


def test_an_unknown_key_is_404(admin):
    assert _save(admin, "no_such_key", {}).status_code == 404


# --------------------------------------------------------------------------- live everywhere


def test_a_change_reaches_another_process_through_the_event_handler(app, make_app, run_jobs):
    """A second app stands for another process, its copies warm before the change. The change
    is made by the service alone, as if the editor's own best-effort invalidation was lost:
    the config.changed handler is what makes it reach everyone."""
    from blog.ops.services import set_setting

    other = make_app()
    with other.test_request_context():
        assert runtime.get_setting("retention")["account_days"] == 30  # warms Redis and memory
    with app.app_context():
        actor = make_user(role="admin")
        set_setting("retention", {"account_days": 7}, environment="testing", actor=actor)
        db.session.commit()
    runtime.forget_settings()  # the other process's memory copy expires (5 s)…
    with other.test_request_context():
        # …but until the handler runs, Redis still holds the old rows for everyone.
        assert runtime.get_setting("retention")["account_days"] == 30

    run_jobs()
    runtime.forget_settings()

    with other.test_request_context():
        assert runtime.get_setting("retention")["account_days"] == 7


def test_the_process_that_changes_a_setting_sees_it_at_once(app, admin):
    with app.test_request_context():
        assert runtime.get_setting("feature_flags")["registration_open"] is True

    _save(admin, "feature_flags", {"registration_open": False})

    with app.test_request_context():
        assert runtime.get_setting("feature_flags")["registration_open"] is False


def test_a_stale_reader_does_not_put_old_rows_back_after_an_invalidation(app):
    environment = app.config["ENV_NAME"]
    with app.test_request_context():
        redis = runtime.get_redis()
        version = redis.get(runtime._version_key(environment))
        runtime.invalidate_settings(environment)  # a change lands while the reader reads

        runtime._fill_redis(environment, {"retention": {"account_days": 1}}, version)

        assert not redis.exists(runtime._hash_key(environment))


def test_settings_fall_back_to_defaults_when_redis_and_the_database_are_down(make_app):
    from redis import Redis

    # Only the database URL is broken through the environment: a second app with another
    # REDIS_URL would rebind the (global) rate limiter for the rest of the run. Its Redis
    # client is then pointed at a closed port.
    broken = make_app(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    broken.extensions["blog_redis"] = Redis.from_url(
        "redis://127.0.0.1:1/0", socket_connect_timeout=0.2
    )
    runtime.forget_settings()
    with broken.test_request_context():
        assert runtime.get_setting("maintenance") == {"enabled": False, "message": ""}


# --------------------------------------------------------------------------- what they do


def test_maintenance_mode_shows_the_message_to_everyone_but_admins(app, admin, sign_in):
    with app.app_context():
        make_user(email="ada@example.com")
    ada = new_client(app)
    sign_in(ada, "ada@example.com")

    assert _maintenance(admin, True, "Back at 10:00 UTC.").status_code == 302

    for browser in (new_client(app), ada):
        response = browser.get("/")
        assert response.status_code == 503
        assert "Back at 10:00 UTC." in response.get_data(as_text=True)
        assert response.headers["Retry-After"] == "300"
    fragment = new_client(app, htmx=True).get("/")
    assert fragment.status_code == 503
    assert "<html" not in fragment.get_data(as_text=True)
    assert new_client(app).get("/healthz").status_code == 200
    assert new_client(app).get("/login").status_code == 200
    assert admin.get("/").status_code == 200
    assert "Maintenance mode is on" in admin.get("/").get_data(as_text=True)

    assert _maintenance(admin, False).status_code == 302
    assert ada.get("/").status_code == 200


def _links_of_the_error(html: str) -> list[tuple[str, str]]:
    """(href, text) of every link in the error article: what the page offers."""
    article = html[html.index('<article id="error"') :]
    article = article[: article.index("</article>")]
    return [
        (unescape(href), re.sub(r"<[^>]+>", "", text).strip())
        for href, text in re.findall(r'<a href="([^"]*)"[^>]*>(.*?)</a>', article, re.S)
    ]


def test_the_maintenance_page_offers_only_what_works_and_when_to_come_back(app, admin, sign_in):
    with app.app_context():
        make_user(email="ada@example.com")
    ada = new_client(app)
    sign_in(ada, "ada@example.com")
    assert _maintenance(admin, True, "Upgrading the engine.").status_code == 302

    visitor = new_client(app)
    response = visitor.get("/posts/some-post")
    body = response.get_data(as_text=True)
    assert response.status_code == 503
    # When to come back, in words as in Retry-After.
    assert re.search(r"try again in 5 minutes or later \(after \d\d:\d\d UTC\)", body)
    assert response.headers["Retry-After"] == "300"
    links = _links_of_the_error(body)
    assert links == [("/login?next=/posts/some-post", "Administrators: sign in")]
    for href, _ in links:  # no link that leads back to the same 503
        assert visitor.get(href).status_code == 200

    # A signed-in reader who is not an administrator: sign-in would send them straight back.
    body = ada.get("/").get_data(as_text=True)
    assert "try again in 5 minutes or later" in body
    assert _links_of_the_error(body) == []

    # Other errors still offer the front page.
    assert _maintenance(admin, False).status_code == 302
    missing = visitor.get("/no/such/page")
    assert missing.status_code == 404
    assert _links_of_the_error(missing.get_data(as_text=True)) == [("/", "Go to the front page")]


def test_closed_registration_refuses_sign_ups_but_not_sign_ins(app, admin, sign_in):
    _save(admin, "feature_flags", {"registration_open": False})
    visitor = new_client(app)

    page = visitor.get("/register")
    attempt = visitor.post_form(
        "/register",
        {
            "email": "new@example.com",
            "user_name": "newbie",
            "password": "Aa-123456789",
            "confirm": "Aa-123456789",
        },
        csrf_from="/login",
    )

    assert "Sign-ups are closed" in page.get_data(as_text=True)
    assert attempt.status_code == 403
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "new@example.com")) is None
    with app.app_context():
        make_user(email="old@example.com")
    sign_in(new_client(app), "old@example.com")


def test_closed_registration_refuses_a_new_google_account(app, admin, oidc_provider):
    from tests.auth.test_oidc import google_sign_in

    _save(admin, "feature_flags", {"registration_open": False})

    response = google_sign_in(new_client(app))

    assert response.status_code == 409
    assert "Sign-ups are closed" in response.get_data(as_text=True)


def test_the_retention_setting_decides_the_purge_date(app, admin, sign_in):
    from datetime import timedelta

    from blog.core.db import utcnow

    _save(admin, "retention", {"account_days": 3})
    with app.app_context():
        make_user(email="ada@example.com", user_name="ada")
    ada = new_client(app)
    sign_in(ada, "ada@example.com")

    ada.post_form("/account/delete", {"password": "Correct-Horse-7"}, csrf_from="/account/delete")

    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "ada@example.com"))
        assert abs(user.purge_after - (utcnow() + timedelta(days=3))) < timedelta(minutes=1)
