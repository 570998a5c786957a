"""The audit log: append-only in the database, a filterable page for admins, and the public
moderation log of staff actions on content."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from blog.audit.services import record_audit
from blog.extensions import db
from tests.conftest import new_client
from tests.factories import make_user
from tests.posts.helpers import make_post


@pytest.fixture
def admin(app, sign_in):
    with app.app_context():
        make_user(email="admin@example.com", user_name="root", role="admin")
    browser = new_client(app)
    sign_in(browser, "admin@example.com")
    return browser


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET action = 'nothing.happened'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
def test_the_application_cannot_change_or_delete_an_audit_row(app, statement):
    with app.app_context():
        record_audit(actor_id=None, action="user.suspend", entity_type="user", entity_id="x")
        db.session.commit()
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
        assert db.session.execute(text("SELECT action FROM audit_log")).scalars().all() == [
            "user.suspend"
        ]


def test_admins_filter_the_audit_log(app, admin):
    with app.app_context():
        ada = make_user(user_name="ada")
        record_audit(actor_id=ada.id, action="user.delete", entity_type="user", entity_id="u-1")
        record_audit(
            actor_id=None, action="user.suspension_expired", entity_type="user", entity_id="u-2"
        )
        record_audit(
            actor_id=ada.id,
            action="config.change",
            entity_type="configuration",
            entity_id="testing:retention",
        )
        db.session.commit()

    def actions(query: str) -> list[str]:
        body = admin.get(f"/admin/audit?{query}").get_data(as_text=True)
        return sorted(
            a
            for a in ("user.delete", "user.suspension_expired", "config.change")
            if f"<td>{a}</td>" in body
        )

    assert actions("") == ["config.change", "user.delete", "user.suspension_expired"]
    assert actions("action=user.") == ["user.delete", "user.suspension_expired"]
    assert actions("actor=ada") == ["config.change", "user.delete"]
    assert actions("entity_type=configuration") == ["config.change"]
    assert actions("entity_id=u-2") == ["user.suspension_expired"]
    assert actions("action=%25") == []  # LIKE wildcards are literal


def test_the_audit_log_pages_by_keyset(app, admin, count_queries):
    with app.app_context():
        for n in range(60):
            record_audit(
                actor_id=None, action=f"test.entry{n:02d}", entity_type="test", entity_id=str(n)
            )
        db.session.commit()
    admin.get("/admin/audit")  # warm the settings cache

    with count_queries() as q:
        first = admin.get("/admin/audit").get_data(as_text=True)
    after = first.split("after=")[1].split('"')[0]
    second = admin.get(f"/admin/audit?after={after}").get_data(as_text=True)

    assert first.count("<td>test.entry") == 50
    assert second.count("<td>test.entry") == 10
    assert q.count <= 3, q.statements  # the session, the unread badge, the page with names
    assert admin.get("/admin/audit?after=garbage").status_code == 200


def test_only_admins_read_the_audit_log(app, client, sign_in):
    with app.app_context():
        make_user(email="mod@example.com", role="moderator")
    assert client.get("/admin/audit").status_code == 302
    sign_in(client, "mod@example.com")
    assert client.get("/admin/audit").status_code == 403


def test_the_public_moderation_log_shows_staff_actions_on_content(app, client):
    from blog.posts import services

    with app.app_context():
        author = make_user(user_name="ada")
        mod = make_user(user_name="modesty", role="moderator")
        by_mod = make_post(author, title="Buy cheap watches here")
        own = make_post(author, title="My own archived post")
        services.archive_post(by_mod, actor=mod)
        services.archive_post(own, actor=author)
        record_audit(
            actor_id=mod.id,
            action="comment.remove",
            entity_type="comment",
            entity_id="c-1",
            new={"reason": "<script>alert(1)</script> spam"},
        )
        db.session.commit()

    body = client.get("/moderation-log").get_data(as_text=True)

    assert "archived a post" in body
    assert "Buy cheap watches here" in body
    assert "modesty" in body
    assert "My own archived post" not in body  # an author's own archive is not moderation
    assert "removed a comment" in body
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;" in body
