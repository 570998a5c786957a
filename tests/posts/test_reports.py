"""Reports of a person and of a chat message: members only (404 for others), CSRF, one open
report per reporter, the queue shows a message with its neighbours, decisions and the audit."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from blog.audit.models import AuditLog
from blog.auth.models import User
from blog.chat import services as chat
from blog.chat.models import Message
from blog.core.db import utcnow
from blog.extensions import db
from blog.flags import reports
from blog.flags.models import Flag
from tests.conftest import new_client
from tests.factories import make_user


@pytest.fixture
def chat_world(app, sign_in):
    with app.app_context():
        people = {
            name: make_user(
                email=f"{name}@example.com",
                user_name=name,
                email_verified_at=utcnow(),
                role="moderator" if name == "mod" else "user",
            )
            for name in ("alice", "bob", "eve", "mod")
        }
        conversation = chat.start_direct(people["alice"], people["bob"])
        db.session.flush()
        start = utcnow() - timedelta(minutes=30)
        messages = []
        for i in range(9):
            sender = people["bob"] if i % 2 == 0 else people["alice"]
            m = Message(
                conversation_id=conversation.id,
                sender_id=sender.id,
                body=f"message number {i}",
                created_at=start + timedelta(minutes=i),
            )
            db.session.add(m)
            messages.append(m)
        db.session.commit()
        ids = {
            "conversation": conversation.id,
            "messages": [m.id for m in messages],
            **{name: u.id for name, u in people.items()},
        }

    def browser(who: str, htmx: bool = False):
        client = new_client(app, htmx=htmx)
        sign_in(client, f"{who}@example.com")
        return client

    ids["as"] = browser
    return ids


def _report_message(client, message_id, reason="threats", csrf_from=None):
    path = f"/chat/messages/{message_id}/report"
    return client.post_form(path, {"reason": reason}, csrf_from=csrf_from or path)


# --------------------------------------------------------------------------- service


def test_a_report_of_a_message_is_one_per_reporter_and_not_of_your_own(app, chat_world):
    target = chat_world["messages"][4]  # bob's
    with app.app_context():
        alice = db.session.get(User, chat_world["alice"])
        bob = db.session.get(User, chat_world["bob"])
        message = db.session.get(Message, target)
        assert reports.report_message(message, reporter=alice, reason="threats") is True
        assert reports.report_message(message, reporter=alice, reason="again") is False
        with pytest.raises(reports.ReportRefused):
            reports.report_message(message, reporter=bob, reason="mine")
        with pytest.raises(reports.ReportRefused):
            reports.report_person(alice, reporter=alice, reason="me")
        db.session.commit()
        assert db.session.scalar(select(Flag.reason).where(Flag.message_id == target)) == "threats"


def test_neighbours_are_a_few_before_and_after_in_one_statement(app, chat_world, count_queries):
    ids = chat_world["messages"]
    with app.app_context(), count_queries() as q:
        around = reports.neighbours({ids[4], ids[0]})
    assert q.count == 1
    assert [m.id for m in around[ids[4]]] == ids[1:8]  # 3 before, itself, 3 after
    assert [m.id for m in around[ids[0]]] == ids[0:4]


# --------------------------------------------------------------------------- views


def test_a_member_reports_a_message_and_the_moderator_sees_it_with_its_neighbours(app, chat_world):
    ids = chat_world["messages"]
    alice = chat_world["as"]("alice")
    conversation = alice.get(f"/chat/{chat_world['conversation']}").get_data(as_text=True)
    assert f'href="/chat/messages/{ids[4]}/report"' in conversation  # bob's message: a menu
    assert f'href="/chat/messages/{ids[3]}/report"' not in conversation  # her own: none
    page = alice.get(f"/chat/messages/{ids[4]}/report").get_data(as_text=True)
    assert reports.SHARING_NOTICE in page
    assert "message number 4" in page
    response = _report_message(alice, ids[4])
    assert response.status_code == 302
    again = _report_message(alice, ids[4])
    assert again.status_code == 302
    queue = chat_world["as"]("mod").get("/admin/flags").get_data(as_text=True)
    assert f'id="flagged-message-{ids[4]}"' in queue
    for i in range(1, 8):
        assert f"message number {i}<" in queue, i
    assert "message number 0<" not in queue
    assert "message number 8<" not in queue
    assert "alice: threats" in queue
    with app.app_context():
        assert db.session.scalar(select(Flag.id).where(Flag.message_id == ids[4])) is not None
        assert len(db.session.scalars(select(Flag).where(Flag.message_id == ids[4])).all()) == 1


def test_a_non_member_gets_404_and_nothing_is_recorded(app, chat_world):
    eve = chat_world["as"]("eve")
    target = chat_world["messages"][4]
    assert eve.get(f"/chat/messages/{target}/report").status_code == 404
    assert _report_message(eve, target, csrf_from="/").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(Flag.id)) is None


def test_a_report_without_a_csrf_token_is_refused(app, chat_world):
    alice = chat_world["as"]("alice")
    target = chat_world["messages"][4]
    response = alice.post(f"/chat/messages/{target}/report", data={"reason": "x"})
    assert response.status_code == 400
    person = alice.post("/u/bob/report", data={"reason": "x"})
    assert person.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(Flag.id)) is None


def test_an_empty_reason_is_a_422_beside_the_form(app, chat_world):
    alice = chat_world["as"]("alice")
    target = chat_world["messages"][4]
    response = _report_message(alice, target, reason="  ")
    assert response.status_code == 422
    assert "Say what is wrong" in response.get_data(as_text=True)


def test_agreeing_removes_the_message_and_is_audited(app, chat_world):
    target = chat_world["messages"][8]  # bob's, the conversation's last
    _report_message(chat_world["as"]("alice"), target)
    mod = chat_world["as"]("mod")
    response = mod.post_form(f"/admin/flags/message/{target}/agreed", {}, csrf_from="/admin/flags")
    assert response.status_code == 302
    with app.app_context():
        message = db.session.get(Message, target)
        assert message.removed_at is not None  # type: ignore[union-attr]
        assert message.removed_by_id == chat_world["mod"]  # type: ignore[union-attr]
        flag = db.session.scalars(select(Flag).where(Flag.message_id == target)).one()
        assert flag.resolution == "agreed"
        audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "flags.agreed")).one()
        assert audit.entity_type == "message"
    page = chat_world["as"]("bob").get(f"/chat/{chat_world['conversation']}")
    html = page.get_data(as_text=True)
    assert "Removed by a moderator." in html
    assert "message number 8<" not in html
    listing = chat_world["as"]("alice").get("/chat").get_data(as_text=True)
    assert "Removed by a moderator." in listing
    assert "message number 8" not in listing
    assert "No open flags." in mod.get("/admin/flags").get_data(as_text=True)


def test_reporting_a_person_from_the_profile_and_suspending_them(app, chat_world):
    alice = chat_world["as"]("alice", htmx=True)
    profile = alice.get("/u/bob").get_data(as_text=True)
    assert 'action="/u/bob/report"' in profile
    response = alice.post_form("/u/bob/report", {"reason": "harasses me"}, csrf_from="/u/bob")
    assert response.status_code == 200
    assert "moderators will look at it" in response.get_data(as_text=True)
    again = alice.post_form("/u/bob/report", {"reason": "again"}, csrf_from="/u/bob")
    assert "already reported" in again.get_data(as_text=True)
    assert alice.post_form("/u/nobody/report", {"reason": "x"}, csrf_from="/").status_code == 404
    mod = chat_world["as"]("mod")
    queue = mod.get("/admin/flags").get_data(as_text=True)
    assert f'id="flagged-user-{chat_world["bob"]}"' in queue
    assert "alice: harasses me" in queue
    response = mod.post_form(
        f"/admin/flags/user/{chat_world['bob']}/agreed", {}, csrf_from="/admin/flags"
    )
    assert response.status_code == 302
    with app.app_context():
        bob = db.session.get(User, chat_world["bob"])
        assert bob.status == "suspended"  # type: ignore[union-attr]
        actions = set(db.session.scalars(select(AuditLog.action)))
        assert {"flags.agreed", "user.suspend"} <= actions


def test_dismissing_a_report_changes_nothing_else(app, chat_world):
    target = chat_world["messages"][4]
    _report_message(chat_world["as"]("alice"), target)
    mod = chat_world["as"]("mod")
    mod.post_form(f"/admin/flags/message/{target}/disagreed", {}, csrf_from="/admin/flags")
    with app.app_context():
        assert db.session.get(Message, target).removed_at is None  # type: ignore[union-attr]
        flag = db.session.scalars(select(Flag).where(Flag.message_id == target)).one()
        assert flag.resolution == "disagreed"


def test_reports_are_rate_limited_by_the_flag_limit(app, chat_world):
    alice = chat_world["as"]("alice")
    from blog.auth.limits import LIMIT_DEFAULTS

    allowed = int(LIMIT_DEFAULTS["flag"].split("/")[0])
    statuses = [
        _report_message(alice, chat_world["messages"][i % 9 // 2 * 2]).status_code
        for i in range(allowed + 1)
    ]
    assert statuses[-1] == 429, statuses


def test_the_queue_runs_the_same_statements_for_few_and_many_reports(
    app, chat_world, count_queries
):
    from tests.posts.test_pages import _statements

    mod = chat_world["as"]("mod")
    alice = chat_world["as"]("alice")
    bob = chat_world["as"]("bob")
    _report_message(alice, chat_world["messages"][0])
    alice.post_form("/u/bob/report", {"reason": "rude"}, csrf_from="/u/bob")
    few = _statements(count_queries, mod, "/admin/flags")
    for i in range(1, 9):
        reporter = alice if i % 2 == 0 else bob
        _report_message(reporter, chat_world["messages"][i])
    bob.post_form("/u/alice/report", {"reason": "rude"}, csrf_from="/u/alice")
    bob.post_form("/u/eve/report", {"reason": "rude"}, csrf_from="/u/eve")
    queue = mod.get("/admin/flags").get_data(as_text=True)
    assert len(re.findall(r'id="flagged-message-[0-9a-f-]{36}"', queue)) == 9
    assert len(re.findall(r'id="flagged-user-[0-9a-f-]{36}"', queue)) == 3
    assert _statements(count_queries, mod, "/admin/flags") == few
