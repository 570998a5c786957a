"""@mentions: suggestions by prefix (indexed, at most 8, live accounts only, rate-limited), and
a mention in a post notifies when it is published, never for a draft, never twice on edits."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select, text

from blog.core.db import utcnow
from blog.extensions import db
from blog.notifications.models import Notification
from blog.posts import services as posts
from blog.profiles.services import suggest_people
from tests.conftest import new_client
from tests.factories import make_user


@pytest.fixture
def people(app):
    with app.app_context():
        make_user(email="ada@example.com", user_name="ada", email_verified_at=utcnow())
        make_user(user_name="adam_smith", display_name="Adam Smith")
        make_user(user_name="lovelace", display_name="Ada Lovelace")
        make_user(user_name="adagio", status="suspended", suspended_reason="Spam")
        gone = make_user(user_name="adaline")
        gone.deleted_at = utcnow()
        make_user(user_name="bob", display_name="Bob")
        db.session.commit()


def _names(app, prefix: str) -> list[str]:
    with app.app_context():
        return [u.user_name for u in suggest_people(prefix)]


def test_suggestions_match_the_start_of_user_or_display_name(app, people):
    # User-name matches first, then display names; suspended and deleted people left out.
    assert _names(app, "ada") == ["ada", "adam_smith", "lovelace"]
    assert _names(app, "@AdA") == ["ada", "adam_smith", "lovelace"]
    assert _names(app, "love") == ["lovelace"]
    assert _names(app, "smith") == []  # a prefix, not a substring
    assert _names(app, "") == []
    assert _names(app, "a%") == []  # LIKE's wildcards are text
    assert _names(app, "_") == []


def test_at_most_eight_and_no_sequential_scan(app):
    with app.app_context():
        # Enough accounts that a sequential scan would be a choice the planner could make.
        db.session.execute(
            text(
                "INSERT INTO users (email, user_name, display_name, password_hash) "
                "SELECT 'p' || n || '@example.com', 'person' || n, 'Person ' || n, 'x' "
                "FROM generate_series(1, 5000) AS n"
            )
        )
        db.session.commit()
        db.session.execute(text("ANALYZE users"))
        seen: list[tuple[str, object]] = []

        def capture(_conn, _cursor, statement, parameters, _context, _many):
            seen.append((statement, parameters))

        engine = db.engine
        event.listen(engine, "before_cursor_execute", capture)
        try:
            found = suggest_people("person12")
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        assert len(found) == 8
        (statement, parameters) = seen[-1]
        plan = "\n".join(
            row[0]
            for row in db.session.connection().exec_driver_sql("EXPLAIN " + statement, parameters)
        )
    assert "Seq Scan on users" not in plan, plan
    assert "ix_users_user_name_prefix" in plan, plan
    assert "ix_users_display_name_prefix" in plan, plan


def test_the_endpoint_returns_a_listbox_of_options(app, people, sign_in):
    client = new_client(app)
    assert client.get("/people/suggest?q=ada").status_code in (302, 401)  # signed in only
    sign_in(client, "ada@example.com")
    response = client.get("/people/suggest?q=ad&for=content")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<ul id="content-mentions" class="mention-list" role="listbox"' in body
    assert body.count('role="option"') == 3
    assert 'data-user-name="lovelace"' in body
    assert "Ada Lovelace" in body
    assert "@lovelace" in body
    assert 'class="avatar avatar-24' in body
    odd = client.get('/people/suggest?q=ad&for="><script>').get_data(as_text=True)
    assert "<script>" not in odd
    assert 'id="script-mentions"' in odd


def test_suggestions_are_rate_limited(app, people, sign_in, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_PREVIEW_LIMIT", "2/minute")
    client = new_client(app)
    sign_in(client, "ada@example.com")
    codes = [client.get("/people/suggest?q=ad").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def _mentions_of(app, user_name: str) -> list[str]:
    with app.app_context():
        from blog.auth.models import User

        user = db.session.scalar(select(User).where(User.user_name == user_name))
        return list(
            db.session.scalars(
                select(Notification.title).where(
                    Notification.user_id == user.id,
                    Notification.kind == "mention",
                    Notification.type == "websocket",
                )
            )
        )


def test_a_mention_in_a_post_notifies_on_publication_once(app, people, run_jobs):
    with app.app_context():
        from blog.auth.models import User

        ada = db.session.scalar(select(User).where(User.user_name == "ada"))
        post = posts.create_post(
            ada, title="Engines", content="Thanks to @bob and @ada for this.", tag_names=[]
        )
        db.session.commit()
        post_id = post.id
    run_jobs()
    assert _mentions_of(app, "bob") == []  # a draft tells nobody

    with app.app_context():
        post = db.session.get(posts.Post, post_id)
        posts.update_post(
            post, title="Engines", content="Thanks to @bob and @lovelace.", tag_names=[]
        )
        db.session.commit()
    run_jobs()
    assert _mentions_of(app, "bob") == []  # edits of a draft neither

    with app.app_context():
        post = db.session.get(posts.Post, post_id)
        posts.publish_post(post, actor=post.author)
        db.session.commit()
    run_jobs()
    assert _mentions_of(app, "bob") == ["ada mentioned you"]
    assert _mentions_of(app, "lovelace") == ["ada mentioned you"]
    assert _mentions_of(app, "ada") == []  # not yourself

    with app.app_context():
        post = db.session.get(posts.Post, post_id)
        posts.update_post(
            post,
            title="Engines",
            content="Thanks to @bob, @lovelace and @adam_smith!",
            tag_names=[],
        )
        db.session.commit()
    run_jobs()
    assert _mentions_of(app, "bob") == ["ada mentioned you"]  # not twice
    assert _mentions_of(app, "adam_smith") == ["ada mentioned you"]  # newly mentioned
