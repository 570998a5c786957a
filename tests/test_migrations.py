"""The schema is the migrations': round trips with data in the tables, and no drift."""

from __future__ import annotations

import os
import uuid

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from blog.extensions import db
from tests.conftest import _drop_database, _recreate_database


@pytest.fixture
def scratch_app(postgres_server, make_app):
    url = postgres_server.replace("{db}", f"blog_migrations_{os.getpid()}")
    _recreate_database(url)
    app = make_app(DATABASE_URL=url)
    yield app
    with app.app_context():
        db.engine.dispose()
    _drop_database(url)


def _revisions(app) -> list[str]:
    config = Config()
    config.set_main_option("script_location", app.extensions["migrate"].directory)
    script = ScriptDirectory.from_config(config)
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _insert_rows() -> None:
    uid = uuid.uuid4()
    db.session.execute(
        text(
            "INSERT INTO users (id, email, user_name, password_hash) "
            "VALUES (:id, 'row@example.com', 'row_user', 'x')"
        ),
        {"id": uid},
    )
    db.session.execute(
        text(
            "INSERT INTO sessions (user_id, token_hash, expires_at) "
            "VALUES (:id, decode(repeat('ab', 32), 'hex'), now() + interval '1 day')"
        ),
        {"id": uid},
    )
    db.session.execute(
        text(
            "INSERT INTO verification_tokens (user_id, purpose, token_hash, new_email, expires_at) "
            "VALUES (:id, 'change_email', decode(repeat('cd', 32), 'hex'), 'new@example.com', "
            "now() + interval '1 day')"
        ),
        {"id": uid},
    )
    db.session.execute(
        text(
            "INSERT INTO configuration (key, environment, value) "
            "VALUES ('maintenance', 'production', '{\"on\": false}')"
        )
    )
    db.session.execute(
        text("INSERT INTO audit_log (action, entity_type) VALUES ('test.row', 'user')")
    )
    _insert_post_rows(uid)
    db.session.commit()


def _insert_post_rows(author_id: uuid.UUID) -> None:
    post_id = db.session.scalar(
        text(
            "INSERT INTO posts (author_id, title, slug, content, content_html, content_text, "
            "status, published_at) VALUES (:author, 'A row title', 'a-row-title', "
            "'Some content here.', '<p>Some content here.</p>', 'Some content here.', "
            "'published', now()) RETURNING id"
        ),
        {"author": author_id},
    )
    tag_id = db.session.scalar(
        text("INSERT INTO tags (name, slug) VALUES ('row', 'row') RETURNING id")
    )
    db.session.execute(
        text("INSERT INTO post_tags (post_id, tag_id) VALUES (:post, :tag)"),
        {"post": post_id, "tag": tag_id},
    )
    db.session.execute(
        text("INSERT INTO post_slug_redirects (slug, post_id) VALUES ('old-row-title', :post)"),
        {"post": post_id},
    )


def test_upgrade_downgrade_upgrade_with_rows(scratch_app):
    app = scratch_app
    with app.app_context():
        flask_migrate.upgrade()
        _insert_rows()
        flask_migrate.downgrade(revision="base")
        tables = set(
            db.session.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        )
        assert tables <= {"alembic_version"}
        db.session.remove()
        flask_migrate.upgrade()
        _insert_rows()


def test_every_step_downgrades_and_upgrades_again(scratch_app):
    app = scratch_app
    revisions = _revisions(app)
    with app.app_context():
        for revision in revisions:
            flask_migrate.upgrade(revision=revision)
        _insert_rows()
        for _ in revisions:
            flask_migrate.downgrade(revision="-1")
            db.session.remove()
        for revision in revisions:
            flask_migrate.upgrade(revision=revision)


def test_models_match_the_migrations(app):
    """A model change without a migration fails here, not in production."""
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_audit_log_is_append_only(app_ctx):
    db.session.execute(text("INSERT INTO audit_log (action, entity_type) VALUES ('a', 'b')"))
    db.session.commit()
    for statement in ("UPDATE audit_log SET action = 'changed'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
