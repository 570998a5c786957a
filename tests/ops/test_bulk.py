"""`flask seed-bulk`: small sizes here (the million is benchmarks/scale.py's job)."""

from __future__ import annotations

import hashlib

import pytest
from flask import Flask
from sqlalchemy import text

from blog.core.markdown import render_markdown
from blog.extensions import db
from blog.ops.bulk import COMMON_WORD, PASSWORD, seed_bulk_command
from tests.auth.helpers import sign_in
from tests.conftest import new_client

SMALL = ["--users", "30", "--posts", "400", "--seed", "7"]
# What each table holds, in a stable order, hashed: equal digests, equal data.
DIGESTS = {
    "users": "id, email, user_name, role, status, display_name, avatar_file_id",
    "posts": "id, author_id, title, slug, content, content_html, status, published_at, like_count",
    "post_tags": "post_id, tag_id",
    "comments": "id, post_id, author_id, content, created_at, parent_id, root_id, path, like_count",
    "post_reactions": "user_id, post_id, kind, created_at",
    "comment_reactions": "user_id, comment_id, kind, created_at",
    "bookmarks": "user_id, post_id, created_at",
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
    assert other["post_reactions"] != once["post_reactions"]
    assert other["comments"] != once["comments"]


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


def test_append_after_a_run_of_other_proportions(app):
    """Each table's numbering continues after its own rows: a first run with 5 comments a
    post and 3 audit rows a post, then the defaults, collide nowhere."""
    first = _seed(app, *SMALL, "--comments", "2000", "--audit", "1200", "--messages", "500")
    assert first.exit_code == 0, first.output
    appended = _seed(app, *SMALL, "--append")
    assert appended.exit_code == 0, appended.output
    with app.app_context():
        counts = db.session.execute(
            text(
                "SELECT (SELECT count(*) FROM comments), (SELECT count(*) FROM audit_log),"
                " (SELECT count(*) FROM messages), (SELECT count(*) FROM posts)"
            )
        ).one()
        db.session.remove()
    assert tuple(counts) == (2000 + 800, 1200 + 400, 500 + 80, 800)


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
    person = sign_in(app, hot[0], PASSWORD)
    assert person.get("/notifications").status_code == 200


# Each of these counts rows that break a rule blog.reactions or blog.comments enforces; all 0.
BROKEN_RULES = {
    "a post's or comment's like_count that is not the count of its reactions": (
        "SELECT (SELECT count(*) FROM posts p WHERE like_count <> "
        "(SELECT count(*) FROM post_reactions r WHERE r.post_id = p.id)) + "
        "(SELECT count(*) FROM comments c WHERE like_count <> "
        "(SELECT count(*) FROM comment_reactions r WHERE r.comment_id = c.id))"
    ),
    "a like of your own post": (
        "SELECT count(*) FROM post_reactions r JOIN posts p ON p.id = r.post_id "
        "WHERE r.user_id = p.author_id"
    ),
    "a like of your own comment": (
        "SELECT count(*) FROM comment_reactions r JOIN comments c ON c.id = r.comment_id "
        "WHERE r.user_id = c.author_id"
    ),
    "a like of a post that is not published, or before it was": (
        "SELECT count(*) FROM post_reactions r JOIN posts p ON p.id = r.post_id "
        "WHERE p.status <> 'published' OR p.hidden_at IS NOT NULL "
        "OR r.created_at < p.published_at"
    ),
    "a like of a comment not shown, under a post not published, or before it was written": (
        "SELECT count(*) FROM comment_reactions r JOIN comments c ON c.id = r.comment_id "
        "JOIN posts p ON p.id = c.post_id WHERE p.status <> 'published' "
        "OR p.hidden_at IS NOT NULL OR c.deleted_at IS NOT NULL OR c.removed_at IS NOT NULL "
        "OR c.hidden_at IS NOT NULL OR r.created_at < c.created_at"
    ),
    "a bookmark of a post that is not published, or before it was": (
        "SELECT count(*) FROM bookmarks b JOIN posts p ON p.id = b.post_id "
        "WHERE p.status <> 'published' OR p.hidden_at IS NOT NULL "
        "OR b.created_at < p.published_at"
    ),
    # add_comment: root_id = the parent's root or the parent, path = the parent's path and
    # the parent; a reply answers a shown comment of the same post, after it was written.
    "a reply whose root, path, post or time disagrees with its parent": (
        "SELECT count(*) FROM comments c JOIN comments parent ON parent.id = c.parent_id "
        "WHERE c.root_id IS DISTINCT FROM coalesce(parent.root_id, parent.id) "
        "OR c.path <> parent.path || parent.id OR c.post_id <> parent.post_id "
        "OR c.created_at <= parent.created_at "
        "OR parent.deleted_at IS NOT NULL OR parent.removed_at IS NOT NULL"
    ),
    "a reply whose parent is missing": (
        "SELECT count(*) FROM comments c WHERE c.parent_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM comments parent WHERE parent.id = c.parent_id)"
    ),
}


def test_likes_bookmarks_and_replies_follow_the_services_rules(app):
    result = _seed(app, "--users", "40", "--posts", "800", "--seed", "5")
    assert result.exit_code == 0, result.output
    for table in ("post_reactions", "comment_reactions", "bookmarks"):
        assert f"\n{table} " in result.output  # its own progress line
    with app.app_context():
        q = db.session.execute
        broken = {name: q(text(sql)).scalar() for name, sql in BROKEN_RULES.items()}
        assert {name: rows for name, rows in broken.items() if rows} == {}
        likes, comment_likes, bookmarks = q(
            text(
                "SELECT (SELECT count(*) FROM post_reactions), "
                "(SELECT count(*) FROM comment_reactions), (SELECT count(*) FROM bookmarks)"
            )
        ).one()
        assert likes > 800
        assert comment_likes > 0
        assert 150 <= bookmarks <= 250  # posts / 4, roughly
        # Skewed: the 5% most liked posts hold a good third of the likes.
        top = q(
            text(
                "SELECT sum(like_count) FROM (SELECT like_count FROM posts "
                "ORDER BY like_count DESC LIMIT 40) s"
            )
        ).scalar()
        assert top > likes / 3
        replies, deepest, comments = q(
            text(
                "SELECT count(*) FILTER (WHERE parent_id IS NOT NULL), max(cardinality(path)), "
                "count(*) FROM comments"
            )
        ).one()
        assert 0.3 <= replies / comments <= 0.4
        assert deepest == 4
        # The person scale.py signs in (most notifications) has the most bookmarks.
        hot = q(
            text(
                "SELECT u.email, (SELECT count(*) FROM bookmarks b WHERE b.user_id = u.id), "
                "(SELECT max(n) FROM (SELECT count(*) AS n FROM bookmarks GROUP BY user_id) s) "
                "FROM users u WHERE u.id = (SELECT user_id FROM notifications GROUP BY user_id "
                "ORDER BY count(*) DESC LIMIT 1)"
            )
        ).one()
        deep_post = q(
            text(
                "SELECT p.slug FROM comments c JOIN posts p ON p.id = c.post_id "
                "ORDER BY cardinality(c.path) DESC, c.id LIMIT 1"
            )
        ).scalar()
        db.session.remove()
    assert hot[1] == hot[2] == 100  # half the bookmarks, at most HOT_BOOKMARKS
    client = new_client(app)
    assert client.get(f"/posts/{deep_post}").status_code == 200
    saved = sign_in(app, hot[0], PASSWORD).get("/saved")
    assert saved.status_code == 200
    assert "before=" in saved.get_data(as_text=True)  # more than one page


@pytest.mark.parametrize("bad", [["--users", "2"], ["--posts", "-1"], ["--avatars", "2"]])
def test_bad_sizes_are_refused_with_a_message(app, bad):
    result = _seed(app, *bad)
    assert result.exit_code == 2
    assert "Invalid value" in result.output
