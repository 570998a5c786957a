from __future__ import annotations

from redis import Redis
from sqlalchemy import select

from blog.core.embedded import EmbeddedRedis
from blog.extensions import db
from blog.ops.models import HealthCheck


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_checks_database_redis_and_migrations(app, client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "redis": True,
        "migrations": True,
    }
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]
    with app.app_context():
        row = db.session.scalar(select(HealthCheck))
        assert row is not None
        assert row.component.startswith("web:")
        first_check = row.checked_at
    client.get("/readyz")
    with app.app_context():
        rows = db.session.scalars(select(HealthCheck)).all()
        assert len(rows) == 1  # one row per process, updated in place
        assert rows[0].checked_at > first_check


def test_readyz_is_503_while_redis_is_stopped(app, client, tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", persist=False)
    server.start()
    original = app.extensions["blog_redis"]
    app.extensions["blog_redis"] = Redis.from_url(
        server.url(), socket_connect_timeout=1, socket_timeout=1
    )
    try:
        assert client.get("/readyz").status_code == 200
        server.stop()
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json["status"] == "unavailable"
        assert response.json["checks"]["redis"]["ok"] is False
        assert response.json["checks"]["database"]["ok"] is True
        # The site itself keeps answering pages that do not need Redis.
        assert client.get("/").status_code == 200
    finally:
        app.extensions["blog_redis"] = original
        server.stop()


def test_readyz_is_503_when_migrations_are_behind(app, client):
    key = "blog_migration_heads"
    app.extensions[key] = {"9999_not_applied"}
    try:
        response = client.get("/readyz")
    finally:
        app.extensions.pop(key)
    assert response.status_code == 503
    assert response.json["checks"]["migrations"]["ok"] is False


def test_every_response_has_a_request_id(client):
    response = client.get("/healthz")
    assert len(response.headers["X-Request-ID"]) >= 8
