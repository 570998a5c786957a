"""The daily email digest of unread notifications, against the real local SMTP server."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from blog.core.db import utcnow
from blog.extensions import db
from blog.notifications import services
from blog.notifications.digest import send_daily_digests
from blog.notifications.models import DIGEST_KIND, Notification
from tests.posts.helpers import new_author, signed_in


def _opt_in(app, *user_ids: uuid.UUID, enabled: bool = True) -> None:
    with app.app_context():
        for user_id in user_ids:
            services.set_preference(user_id, DIGEST_KIND, "email", enabled)
        db.session.commit()


def _notify(app, user_id: uuid.UUID, title: str, *, link: str | None = "/") -> uuid.UUID:
    with app.app_context():
        services.set_preference(user_id, "mention", "email", False)  # only the digest mails
        services.notify_users(
            [user_id],
            services.Notice(kind="mention", title=title, message=f"About {title}", link=link),
            event_id=uuid.uuid4(),
        )
        db.session.commit()
        row_id = db.session.scalar(
            select(Notification.id).where(
                Notification.user_id == user_id,
                Notification.title == title,
                Notification.type == "websocket",
            )
        )
        assert row_id is not None
        return row_id


def _digest(app, now=None) -> dict[str, int]:
    with app.app_context():
        try:
            return send_daily_digests(now)
        finally:
            db.session.remove()


def _digests_to(smtp_server, address: str) -> list[Any]:
    return [m for m in smtp_server.messages if m["To"] == address and "digest" in m["Subject"]]


def _digest_rows(app, user_id: uuid.UUID) -> list[Notification]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(Notification)
                .where(Notification.user_id == user_id, Notification.kind == DIGEST_KIND)
                .order_by(Notification.created_at)
            )
        )
        db.session.expunge_all()
        db.session.remove()
        return rows


def test_an_opted_in_user_gets_one_digest_of_their_unread_notifications(app, smtp_server):
    reader, quiet, all_read, no_news = (new_author(app) for _ in range(4))
    _opt_in(app, reader.id, all_read.id, no_news.id)
    _notify(app, reader.id, "First news", link="/posts/first#comment-1")
    _notify(app, reader.id, "Second <news>")
    _notify(app, quiet.id, "Not opted in")
    read_id = _notify(app, all_read.id, "Already seen")
    with app.app_context():
        db.session.get(Notification, read_id).mark_read(utcnow())  # type: ignore[union-attr]
        db.session.commit()

    assert _digest(app) == {"made": 1, "sent": 1, "failed": 0}

    [mail] = _digests_to(smtp_server, reader.email)
    assert mail["Subject"] == "Your daily digest: 2 unread notifications · Blog"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "* First news" in text
    assert f"{app.config['SITE_URL']}/posts/first#comment-1" in text
    assert "Second <news>" in text
    assert "Second &lt;news&gt;" in html  # escaped in HTML
    assert text.index("Second") < text.index("First")  # newest first
    # The signed one-click unsubscribe that every notification mail carries.
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = mail["List-Unsubscribe"].strip("<>")
    assert link.startswith(app.config["SITE_URL"] + "/notifications/unsubscribe/")
    assert link in text
    assert [m["To"] for m in smtp_server.messages] == [reader.email]
    [row] = _digest_rows(app, reader.id)
    assert (row.type, row.status, row.attempts) == ("email", "sent", 1)
    assert _digest_rows(app, quiet.id) == _digest_rows(app, all_read.id) == []


def test_a_rerun_the_same_day_sends_nothing_twice_and_the_next_covers_only_new_ones(
    app, smtp_server
):
    me = new_author(app)
    _opt_in(app, me.id)
    _notify(app, me.id, "Old news")
    assert _digest(app)["sent"] == 1

    assert _digest(app) == {"made": 0, "sent": 0, "failed": 0}
    _notify(app, me.id, "Fresh news")
    assert _digest(app) == {"made": 0, "sent": 0, "failed": 0}  # one a day, even with news
    assert len(_digests_to(smtp_server, me.email)) == 1

    tomorrow = utcnow() + timedelta(days=1)
    assert _digest(app, tomorrow) == {"made": 1, "sent": 1, "failed": 0}
    assert _digest(app, tomorrow)["sent"] == 0
    first, second = _digests_to(smtp_server, me.email)
    assert "Old news" in first.get_body(("plain",)).get_content()
    text = second.get_body(("plain",)).get_content()
    assert "Fresh news" in text
    assert "Old news" not in text  # it was in the last digest
    assert second["Subject"] == "Your daily digest: 1 unread notification · Blog"
    # Nothing new since: the day after brings no mail.
    assert _digest(app, tomorrow + timedelta(days=1))["made"] == 0


def test_the_digest_is_made_in_one_statement_and_sent_by_one_job(
    app, smtp_server, count_queries, run_jobs
):
    def statements_for(n: int) -> tuple[int, int]:
        people = [new_author(app) for _ in range(n)]
        _opt_in(app, *(p.id for p in people))
        for p in people:
            _notify(app, p.id, f"News for {p.user_name}")
        run_jobs()  # the sign-up mails and badges of the set-up
        with app.app_context():
            from blog.jobs.queues import get_queue

            get_queue("default").enqueue(send_daily_digests)
        with count_queries() as q:
            assert run_jobs() == 1  # one job for everyone
        for p in people:
            assert len(_digests_to(smtp_server, p.email)) == 1
        items = [s for s in q.statements if "row_number() OVER" in s]
        assert len(items) == 1  # every digest's items in one read
        inserts = [s for s in q.statements if s.startswith("INSERT INTO notifications")]
        assert len(inserts) == 1
        # The runtime settings are re-read when their cache lapses, whoever is being sent to:
        # a time-based statement, not a per-person one.
        mine = [s for s in q.statements if "FROM configuration" not in s]
        return len(mine), mine

    two, _ = statements_for(2)
    six, many = statements_for(6)
    # What each digest costs: its row lock and its update (no per-person reads).
    assert (six - two) / 4 <= 2, "\n".join(s.split("\n")[0] for s in many)


def test_a_failed_digest_keeps_its_error_and_the_sweep_sends_it(app, smtp_server):
    from blog.notifications.jobs import deliver_notification_email

    me = new_author(app)
    _opt_in(app, me.id)
    _notify(app, me.id, "Kept for later")
    app.config["SMTP_URL"] = None
    try:
        assert _digest(app) == {"made": 1, "sent": 0, "failed": 1}
    finally:
        app.config["SMTP_URL"] = smtp_server.url
    [row] = _digest_rows(app, me.id)
    assert row.status == "pending"
    assert row.attempts == 1
    assert "BLOG_SMTP_URL is not set" in (row.last_error or "")

    with app.app_context():  # the sweep's delivery job, a few minutes later
        assert deliver_notification_email(str(row.id)) == "sent"
    [mail] = _digests_to(smtp_server, me.email)
    assert "Kept for later" in mail.get_body(("plain",)).get_content()
    assert _digest(app)["sent"] == 0  # and the cron's re-run does not send it again


def test_the_digest_is_a_preference_off_by_default_and_one_click_turns_it_off(app, client):
    from blog.notifications.mail import unsubscribe_token

    me = new_author(app)
    with app.app_context():
        assert services.preferences(me.id)[(DIGEST_KIND, "email")] is False
    browser = signed_in(app, me.email)
    page = browser.get("/notifications/preferences").get_data(as_text=True)
    assert '<input id="daily_digest" name="daily_digest" type="checkbox" value="y">' in page

    response = browser.post_form(
        "/notifications/preferences",
        {"daily_digest": "y", "mention__in_app": "y"},
        csrf_from="/notifications/preferences",
    )
    assert response.status_code == 302
    with app.app_context():
        assert services.preferences(me.id)[(DIGEST_KIND, "email")] is True
        token = unsubscribe_token(me.id, DIGEST_KIND)
    confirm = client.get(f"/notifications/unsubscribe/{token}")
    assert "Daily digest of unread notifications" in confirm.get_data(as_text=True)

    done = client.post(
        f"/notifications/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}
    )

    assert done.status_code == 200
    with app.app_context():
        assert services.preferences(me.id)[(DIGEST_KIND, "email")] is False
