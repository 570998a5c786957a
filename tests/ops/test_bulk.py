"""`flask seed-bulk`: small sizes here (the million is benchmarks/scale.py's job)."""

from __future__ import annotations

import hashlib

import pytest
from flask import Flask
from sqlalchemy import text

from blog.core.markdown import render_markdown
from blog.extensions import db
from blog.ops.bulk import COMMON_WORD, PASSWORD, seed_bulk_command
from tests.conftest import new_client

SMALL = ["--users", "30", "--posts", "400", "--seed", "7"]
# What each table holds, in a stable order, hashed: equal digests, equal data.
DIGESTS = {
    "users": "id, email, user_name, role, status, display_name, avatar_file_id",
    "posts": "id, author_id, title, slug, content, content_html, status, published_at",
    "post_tags": "post_id, tag_id",
    "comments": "id, post_id, author_id, content, created_at",
    "follows": "follower_id, followed_id",
    "messages": "id, conversation_id, sender_id, body, created_at",
    "notifications": "id, user_id, link, read_at",
    "audit_log": "id, actor_id, action, created_at",
    "tags": "id, name, post_count",
}


def _seed(app: Flask, *args: str):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(seed_bulk_command, list(args))


def _digest(app: Flask) -> dict[str, str]:
    out = {}
    with app.app_context():
        for table, columns in DIGESTS.items():
            rows = db.session.execute(
                text(f"SELECT {columns} FROM {table} ORDER BY {columns}")  # noqa: S608
            ).all()
            out[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
        db.session.remove()
    return out


def _empty(app: Flask) -> None:
    with app.app_context():
        tables = [t.name for t in db.metadata.sorted_tables]
        db.session.remove()
        with db.engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


def _schema(app: Flask) -> tuple[list[str], list[str]]:
    """Every index and constraint definition of the public schema."""
    with app.app_context():
        indexes = db.session.scalars(
            text("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
        ).all()
        constraints = db.session.scalars(
            text(
                "SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) "
                "FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1"
            )
        ).all()
        db.session.remove()
    return list(indexes), list(constraints)


def test_same_seed_same_data_and_a_different_seed_differs(app):
    first = _seed(app, *SMALL)
    assert first.exit_code == 0, first.output
    once = _digest(app)
    _empty(app)
    assert _seed(app, *SMALL).exit_code == 0
    assert _digest(app) == once
    _empty(app)
    assert _seed(app, "--users", "30", "--posts", "400", "--seed", "8").exit_code == 0
    other = _digest(app)
    assert other["posts"] != once["posts"]
    assert other["users"] != once["users"]


def test_refuses_a_database_with_data_unless_append(app):
    assert _seed(app, *SMALL).exit_code == 0
    again = _seed(app, *SMALL)
    assert again.exit_code != 0
    assert "not empty" in again.output
    assert "--append" in again.output
    with app.app_context():
        before = db.session.scalar(text("SELECT count(*) FROM posts"))
        db.session.remove()
    appended = _seed(app, *SMALL, "--append")
    assert appended.exit_code == 0, appended.output
    with app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM posts")) == before * 2
        # Names, emails, slugs and ids stay unique across runs with the same seed.
        assert db.session.scalar(text("SELECT count(DISTINCT slug) FROM posts")) == before * 2
        db.session.remove()


def test_rows_honour_the_schema_and_the_product_reads_them(app):
    schema_before = _schema(app)
    result = _seed(app, "--users", "40", "--posts", "600", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "rows/s" in result.output
    # The indexes and foreign keys dropped for the load are all back, exactly as they were.
    assert _schema(app) == schema_before
    with app.app_context():
        q = db.session.execute
        counts = dict(
            q(
                text(
                    "SELECT 'posts', count(*) FROM posts UNION ALL "
                    "SELECT 'comments', count(*) FROM comments UNION ALL "
                    "SELECT 'messages', count(*) FROM messages UNION ALL "
                    "SELECT 'notifications', count(*) FROM notifications UNION ALL "
                    "SELECT 'audit', count(*) FROM audit_log UNION ALL "
                    "SELECT 'avatars', count(*) FROM users WHERE avatar_file_id IS NOT NULL "
                    "UNION ALL SELECT 'flags', count(*) FROM flags"
                )
            ).all()
        )
        assert counts["posts"] == 600
        assert counts["comments"] == 1200
        assert counts["messages"] == 120
        assert counts["audit"] == 600
        assert counts["avatars"] > 0
        assert counts["flags"] > 0
        # Every post's HTML and text are what the editor's pipeline makes of its Markdown.
        for content, html, plain in q(
            text("SELECT content, content_html, content_text FROM posts ORDER BY id LIMIT 40")
        ):
            rendered = render_markdown(content)
            assert (html, plain) == (rendered.html, rendered.text)
        # The generated search column is there and finds the common word in most posts.
        share = q(
            text(
                "SELECT avg((search_vector @@ to_tsquery('english', :w))::int) FROM posts",
            ),
            {"w": COMMON_WORD},
        ).scalar()
        assert 0.5 < share < 0.9
        tags_per_post = q(
            text(
                "SELECT max(n), min(n) FROM (SELECT p.id, count(pt.tag_id) AS n FROM posts p "
                "LEFT JOIN post_tags pt ON pt.post_id = p.id GROUP BY p.id) s"
            )
        ).one()
        assert tags_per_post == (5, 0)
        # The stored tag counts are the true ones.
        wrong = q(
            text(
                "SELECT count(*) FROM tags t WHERE post_count <> (SELECT count(*) FROM "
                "post_tags pt JOIN posts p ON p.id = pt.post_id AND p.status = 'published' "
                "AND p.hidden_at IS NULL JOIN users u ON u.id = p.author_id "
                "AND u.deleted_at IS NULL WHERE pt.tag_id = t.id)"
            )
        ).scalar()
        assert wrong == 0
        hot = q(
            text(
                "SELECT u.email, count(*) FROM notifications n JOIN users u ON u.id = n.user_id "
                "GROUP BY u.email ORDER BY 2 DESC LIMIT 1"
            )
        ).one()
        db.session.remove()
    assert hot[1] >= 60  # half of them (and a share of the rest) for one person
    client = new_client(app)
    assert client.get("/").status_code == 200
    assert client.get(f"/search?q={COMMON_WORD}").status_code == 200
    # Everyone it made can sign in with the printed password.
    page = client.get("/login").get_data(as_text=True)
    from tests.conftest import csrf_token_from

    response = client.post(
        "/login",
        data={"email": hot[0], "password": PASSWORD, "csrf_token": csrf_token_from(page)},
    )
    assert response.status_code in (302, 303)
    assert client.get("/notifications").status_code == 200


@pytest.mark.parametrize("bad", [["--users", "2"], ["--posts", "-1"], ["--avatars", "2"]])
def test_bad_sizes_are_refused_with_a_message(app, bad):
    result = _seed(app, *bad)
    assert result.exit_code == 2
    assert "Invalid value" in result.output
