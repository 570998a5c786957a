"""Database monitoring: the application's slow-statement log, the 5-minute samples, and the
admin pages that chart them (server-rendered SVG)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from blog.core.db import utcnow
from blog.core.redis import get_redis
from blog.extensions import db
from blog.ops import monitoring
from blog.ops.models import DbSample
from blog.ops.services import set_setting
from tests.conftest import new_client
from tests.factories import make_user


@pytest.fixture(autouse=True)
def _fresh_threshold():
    monitoring._threshold["until"] = 0.0
    yield
    monitoring._threshold["until"] = 0.0


def _slow_log(app) -> list[dict]:
    with app.app_context():
        return [json.loads(x) for x in get_redis().lrange(monitoring.SLOW_LOG_KEY, 0, -1)]


def test_statements_are_normalised_to_their_shape():
    assert (
        monitoring.normalise_statement("SELECT *\n  FROM t WHERE a = 'x''y' AND b = 42.5")
        == "SELECT * FROM t WHERE a = ? AND b = ?"
    )


def test_only_statements_over_the_threshold_are_logged(app):
    with app.app_context():
        admin = make_user(role="admin")
        set_setting("monitoring", {"slow_query_ms": 30}, environment="testing", actor=admin)
        db.session.commit()
    monitoring._threshold["until"] = 0.0
    with app.test_request_context():
        from blog.core.settings import invalidate_settings

        invalidate_settings("testing")  # what the editor and config.changed's handler do
        db.session.execute(text("SELECT pg_sleep(0.06)"))
        db.session.execute(text("SELECT 1"))
        db.session.rollback()

    logged = _slow_log(app)
    assert [entry["statement"] for entry in logged] == ["SELECT pg_sleep(?)"]
    assert logged[0]["ms"] >= 60


def test_a_sample_records_the_database_and_drains_the_slow_log(app):
    with app.app_context():
        get_redis().lpush(
            monitoring.SLOW_LOG_KEY,
            json.dumps({"statement": "SELECT a", "ms": 300}),
            json.dumps({"statement": "SELECT a", "ms": 100}),
            json.dumps({"statement": "SELECT b", "ms": 900}),
            "not json",
        )
        old = DbSample(
            taken_at=utcnow() - timedelta(days=31),
            connections=1,
            cache_hit_ratio=1,
            database_bytes=1,
        )
        db.session.add(old)
        db.session.commit()

        sample = monitoring.sample_database()

        assert sample.connections >= 1
        assert 0 <= sample.cache_hit_ratio <= 1
        assert sample.database_bytes > 0
        assert "users" in sample.table_sizes
        # (The sample's own statements may be slow on a busy machine and join the log.)
        planted = [s for s in sample.slow_statements if s["statement"] in ("SELECT a", "SELECT b")]
        assert planted == [
            {"statement": "SELECT b", "calls": 1, "max_ms": 900.0, "mean_ms": 900.0},
            {"statement": "SELECT a", "calls": 2, "max_ms": 300.0, "mean_ms": 200.0},
        ]
        assert get_redis().llen(monitoring.SLOW_LOG_KEY) == 0
        assert db.session.scalar(select(func.count()).select_from(DbSample)) == 1  # old one gone


@pytest.fixture
def admin(app, sign_in):
    with app.app_context():
        make_user(email="admin@example.com", role="admin")
    browser = new_client(app)
    sign_in(browser, "admin@example.com")
    return browser


def test_the_database_page_charts_the_samples(app, admin):
    assert "No sample yet" in admin.get("/admin/database").get_data(as_text=True)
    with app.app_context():
        for n in range(3):
            db.session.add(
                DbSample(
                    taken_at=utcnow() - timedelta(minutes=10 * n),
                    connections=5 + n,
                    cache_hit_ratio=0.99,
                    database_bytes=10_000_000,
                    table_sizes={"posts": 4096, "users": 8192},
                    slow_statements=[
                        {"statement": "SELECT <b>", "calls": 2, "max_ms": 12.5, "mean_ms": 9}
                    ],
                )
            )
        db.session.commit()

    body = admin.get("/admin/database").get_data(as_text=True)

    assert body.count('<svg class="chart-svg"') == 3  # axes and values: tests/admin/test_charts.py
    assert body.count("<polyline") == 3
    assert "Connections: 5" in body  # the newest sample
    assert "<td>users</td>" in body
    assert "SELECT &lt;b&gt;" in body


def test_the_dashboard_charts_activity_per_day(app, admin):
    with app.app_context():
        make_user()
        make_user()

    body = admin.get("/admin/").get_data(as_text=True)

    assert "Sign-ups per day</span>" in body
    assert "3 in 30 days;" in body  # the admin and two more
    assert "0 in 30 days." in body  # chat messages (and posts, comments)
    assert body.count('<svg class="chart-svg"') == 4


def test_moderators_cannot_see_the_database_page(app, client, sign_in):
    with app.app_context():
        make_user(email="mod@example.com", role="moderator")
    sign_in(client, "mod@example.com")
    assert client.get("/admin/database").status_code == 403
