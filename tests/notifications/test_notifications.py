"""Notifications end to end: events → handler jobs → rows, mail and the inbox, through HTTP."""

from __future__ import annotations

import contextlib
import re
import uuid
from typing import Any

from sqlalchemy import func, select

from blog.auth.models import User
from blog.auth.services import suspend_user
from blog.extensions import db
from blog.notifications import services
from blog.notifications.handlers import notify_account_suspended, notify_comment_created
from blog.notifications.mail import unsubscribe_token
from blog.notifications.models import Follow, Notification
from blog.outbox.events import emit
from tests.factories import make_user
from tests.posts.helpers import htmx_client, new_author, new_post, signed_in


def _rows(app, user_id: uuid.UUID, type_: str = "websocket") -> list[Notification]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(Notification)
                .where(Notification.user_id == user_id, Notification.type == type_)
                .order_by(Notification.created_at)
            )
        )
        db.session.expunge_all()
        db.session.remove()
        return rows


def _suspend(app, user_id: uuid.UUID, reason: str = "Spam links") -> None:
    with app.app_context():
        moderator = make_user(role="moderator")
        suspend_user(db.session.get(User, user_id), actor=moderator, reason=reason)
        db.session.commit()


def _emit(app, event_type: str, aggregate_id: Any, data: dict[str, Any]) -> dict[str, Any]:
    with app.app_context():
        event = emit(event_type, aggregate_type="post", aggregate_id=aggregate_id, data=data)
        db.session.commit()
        db.session.refresh(event)
        return event.as_message()


def _mail_to(smtp_server, address: str) -> list[Any]:
    """The notification mail sent to `address` (not the sign-up confirmation)."""
    return [
        m
        for m in smtp_server.messages
        if m["To"] == address and "Confirm your email" not in m["Subject"]
    ]


def _notify(app, user_id: uuid.UUID, n: int = 1, kind: str = "mention") -> None:
    with app.app_context():
        for i in range(n):
            services.notify_users(
                [user_id],
                services.Notice(kind=kind, title=f"Note {i}", message=f"Message {i}", link="/"),
                event_id=uuid.uuid4(),
            )
            db.session.commit()  # each its own time (now() is the transaction's)


# --------------------------------------------------------------------------- sources


def test_a_suspension_notifies_in_app_and_by_email_with_unsubscribe_headers(
    app, run_jobs, smtp_server
):
    person = new_author(app)

    _suspend(app, person.id, reason="Spam <b>links</b>")
    run_jobs()

    [in_app] = _rows(app, person.id)
    assert in_app.kind == "account_suspended"
    assert in_app.status == "sent"
    assert in_app.is_unread
    assert "Spam <b>links</b>" in in_app.message
    [email] = _rows(app, person.id, "email")
    assert email.status == "sent"
    assert email.sent_at is not None
    assert email.attempts == 1
    [mail] = _mail_to(smtp_server, person.email)
    assert "suspended" in mail["Subject"]
    # A suspension is always mailed: no unsubscribe offered for it.
    assert "List-Unsubscribe" not in mail


def test_the_same_event_delivered_twice_notifies_once(app, run_jobs, smtp_server):
    person = new_author(app)
    message = _emit(app, "user.suspended", person.id, {"reason": "x", "until": None})
    message = {**message, "aggregate_type": "user"}

    for _ in range(2):
        with app.app_context():
            notify_account_suspended(message)
            db.session.commit()
    run_jobs()

    assert len(_rows(app, person.id)) == 1
    assert len(_rows(app, person.id, "email")) == 1
    assert len(_mail_to(smtp_server, person.email)) == 1


def test_a_comment_notifies_the_post_author_and_the_people_mentioned(app, run_jobs, smtp_server):
    author, commenter = new_author(app), new_author(app)
    named, by_id, silent = new_author(app), new_author(app), new_author(app)
    post = new_post(app, author)
    with app.app_context():
        services.set_preference(silent.id, "mention", "in_app", False)
        services.set_preference(silent.id, "mention", "email", False)
        db.session.commit()
    data = {
        "comment_id": str(uuid.uuid4()),
        "post_id": str(post.id),
        "post_author_id": str(author.id),
        "author_id": str(commenter.id),
        "mentions": [
            {"id": str(by_id.id), "user_name": by_id.user_name},
            named.user_name,
            str(author.id),  # the author, mentioned too: still one notice
            str(commenter.id),  # yourself: nothing
            str(silent.id),
        ],
        "excerpt": "Nice post, @someone!",
    }
    message = _emit(app, "comment.created", post.id, data)
    run_jobs()

    [to_author] = _rows(app, author.id)
    assert to_author.kind == "comment_on_post"
    assert to_author.link == f"/posts/{post.slug}#comment-{data['comment_id']}"
    assert [r.kind for r in _rows(app, named.id)] == ["mention"]
    assert [r.kind for r in _rows(app, by_id.id)] == ["mention"]
    assert _rows(app, commenter.id) == []
    assert _rows(app, silent.id) == []
    assert _rows(app, silent.id, "email") == []
    notices = [m for m in smtp_server.messages if "Confirm" not in m["Subject"]]
    assert sorted(m["To"] for m in notices) == sorted([author.email, named.email, by_id.email])
    # Delivered again (a retry after a crash): nothing new.
    with app.app_context():
        notify_comment_created(message)
        db.session.commit()
    assert len(_rows(app, author.id)) == 1
    assert len(_rows(app, named.id)) == 1


def test_new_posts_reach_followers_in_one_statement_per_channel(
    app, run_jobs, count_queries, smtp_server
):
    author = new_author(app)
    with app.app_context():
        followers = [make_user() for _ in range(40)]
        for f in followers:
            db.session.add(Follow(follower_id=f.id, followed_id=author.id))
        services.set_preference(followers[0].id, "followed_author_posted", "in_app", False)
        services.set_preference(followers[1].id, "followed_author_posted", "email", True)
        db.session.commit()
        ids = [f.id for f in followers]
        emails = {f.id: f.email for f in followers}
    run_jobs()

    with count_queries() as q:
        post = new_post(app, author)
        run_jobs()

    with app.app_context():
        in_app = db.session.scalar(
            select(func.count()).where(
                Notification.kind == "followed_author_posted", Notification.type == "websocket"
            )
        )
        mails = list(
            db.session.scalars(select(Notification.user_id).where(Notification.type == "email"))
        )
    assert in_app == 39
    assert mails == [ids[1]]
    assert [r.link for r in _rows(app, ids[2])] == [f"/posts/{post.slug}"]
    inserts = [s for s in q.statements if s.startswith("INSERT INTO notifications")]
    assert len(inserts) == 3  # one per channel (in-app, email, push), not one per follower
    assert emails  # (kept for clarity of the setup)


def test_the_fan_out_costs_the_same_statements_for_5_or_60_followers(
    app, run_jobs, count_queries, smtp_server
):
    def statements_for(n: int) -> int:
        author = new_author(app)
        with app.app_context():
            for _ in range(n):
                db.session.add(Follow(follower_id=make_user().id, followed_id=author.id))
            db.session.commit()
        run_jobs()
        with count_queries() as q:
            new_post(app, author)
            run_jobs()
        # What an N+1 would multiply (the runtime settings refresh on a timer adds noise).
        return len([s for s in q.statements if "notification" in s or "follows" in s])

    five, sixty = statements_for(5), statements_for(60)
    assert five == sixty
    # The three INSERT ... SELECTs at least (no badge COUNT: none of the followers has a tab
    # open, test_live.py covers the badges of people present).
    assert five >= 3


def test_a_moderator_archiving_a_post_notifies_its_author_but_the_author_does_not(app, run_jobs):
    from blog.posts import services as posts
    from blog.posts.models import Post

    author = new_author(app)
    mine, theirs = new_post(app, author), new_post(app, author)
    with app.app_context():
        moderator = make_user(role="moderator")
        posts.archive_post(db.session.get(Post, theirs.id), actor=moderator)
        posts.archive_post(db.session.get(Post, mine.id), actor=db.session.get(User, author.id))
        db.session.commit()
    run_jobs()

    [row] = _rows(app, author.id)
    assert row.kind == "post_archived"
    assert theirs.title in row.message


def test_a_removed_comment_notifies_its_writer_with_the_reason(app, run_jobs):
    author, writer = new_author(app), new_author(app)
    post = new_post(app, author)
    _emit(
        app,
        "comment.removed",
        post.id,
        {
            "comment_id": str(uuid.uuid4()),
            "post_id": str(post.id),
            "author_id": str(writer.id),
            "reason": "Off topic",
            "actor_id": str(uuid.uuid4()),
        },
    )
    run_jobs()

    [row] = _rows(app, writer.id)
    assert row.kind == "comment_removed"
    assert "Off topic" in row.message


# --------------------------------------------------------------------------- email delivery


def test_a_failing_delivery_keeps_its_error_then_waits_for_the_sweep(app, run_jobs):
    # Issue 19: after RQ's quick retries an email is not given up but handed to the cron
    # sweep for a day (tests/notifications/test_mail_retries.py follows it to the end).
    from blog.notifications.jobs import MAX_ATTEMPTS, deliver_notification_email

    person = new_author(app)
    app.config["SMTP_URL"] = None  # mail cannot be sent
    _suspend(app, person.id)
    run_jobs(allow_failures=True)
    [row] = _rows(app, person.id, "email")
    assert row.status == "pending"
    assert row.attempts == 1
    assert "BLOG_SMTP_URL is not set" in (row.last_error or "")

    with app.app_context():
        for _ in range(MAX_ATTEMPTS - 1):
            # The retries RQ would make.
            with contextlib.suppress(Exception):
                deliver_notification_email(str(row.id))
            db.session.remove()
    [row] = _rows(app, person.id, "email")
    assert row.status == "pending"
    assert row.attempts == MAX_ATTEMPTS
    assert row.next_attempt_at is not None


def test_one_click_unsubscribe_stops_that_kind_of_mail(app, client):
    person = new_author(app)
    with app.app_context():
        token = unsubscribe_token(person.id, "mention")

    page = client.get(f"/notifications/unsubscribe/{token}")
    assert page.status_code == 200
    assert "Mentions of you" in page.get_data(as_text=True)
    with app.app_context():  # a GET (a mail scanner) changes nothing
        assert services.preferences(person.id)[("mention", "email")] is True

    # RFC 8058: the mail client POSTs List-Unsubscribe=One-Click, with no CSRF token.
    done = client.post(
        f"/notifications/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}
    )
    assert done.status_code == 200
    with app.app_context():
        prefs = services.preferences(person.id)
    assert prefs[("mention", "email")] is False
    assert prefs[("mention", "in_app")] is True
    assert client.post(f"/notifications/unsubscribe/{token[:-2]}xx").status_code == 404


def test_notification_mail_carries_list_unsubscribe(app, run_jobs, smtp_server):
    author, commenter = new_author(app), new_author(app)
    post = new_post(app, author)
    _emit(
        app,
        "comment.created",
        post.id,
        {"post_id": str(post.id), "author_id": str(commenter.id), "excerpt": "Hello"},
    )
    run_jobs()

    [mail] = _mail_to(smtp_server, author.email)
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = mail["List-Unsubscribe"].strip("<>")
    assert link.startswith(app.config["SITE_URL"] + "/notifications/unsubscribe/")
    assert link in mail.get_body(("plain",)).get_content()


# --------------------------------------------------------------------------- inbox


def test_the_inbox_lists_only_your_notifications_and_pages(app):
    me, other = new_author(app), new_author(app)
    _notify(app, me.id, 25)
    _notify(app, other.id, 1)
    browser = signed_in(app, me.email)

    first = browser.get("/notifications").get_data(as_text=True)
    assert first.count('class="notification unread"') == services.INBOX_PAGE
    assert "Note 24" in first
    assert "Note 0" not in first
    older = first.split('href="/notifications?after=')[1].split('"')[0]
    second = browser.get(f"/notifications?after={older}").get_data(as_text=True)
    assert second.count('class="notification unread"') == 5
    assert "Note 0" in second
    assert "Older notifications" not in second
    titles = re.findall(r"href=\"/\">(Note \d+)</a>", first + second)
    assert sorted(titles) == sorted(f"Note {i}" for i in range(25))


def test_another_users_notification_is_404(app):
    me, other = new_author(app), new_author(app)
    _notify(app, other.id)
    [theirs] = _rows(app, other.id)
    browser = signed_in(app, me.email)

    response = browser.post_form(f"/notifications/{theirs.id}/read", {}, csrf_from="/notifications")
    assert response.status_code == 404
    assert _rows(app, other.id)[0].is_unread
    missing = browser.post_form(f"/notifications/{uuid.uuid4()}/read", {})
    assert missing.status_code == 404


def test_marking_needs_csrf_and_a_session(app, client):
    me = new_author(app)
    _notify(app, me.id)
    [row] = _rows(app, me.id)
    assert client.post(f"/notifications/{row.id}/read").status_code in (302, 400)
    browser = signed_in(app, me.email)
    assert browser.post(f"/notifications/{row.id}/read").status_code == 400
    assert browser.post("/notifications/read-all").status_code == 400
    assert _rows(app, me.id)[0].is_unread


def test_mark_one_and_all_read_with_htmx_update_the_badge(app):
    me = new_author(app)
    _notify(app, me.id, 3)
    rows = _rows(app, me.id)
    browser = htmx_client(app, me.email)

    one = browser.post_form(f"/notifications/{rows[0].id}/read", {}, csrf_from="/notifications")
    html = one.get_data(as_text=True)
    assert one.status_code == 200
    assert f'id="notification-{rows[0].id}" class="notification"' in html
    assert 'id="notification-badge" class="badge" hx-swap-oob="true" data-count="2"' in html

    everything = browser.post_form("/notifications/read-all", {}, csrf_from="/notifications")
    html = everything.get_data(as_text=True)
    assert 'class="notification unread"' not in html
    assert 'data-count="0" hidden' in html
    assert all(not r.is_unread for r in _rows(app, me.id))


def test_mark_all_read_without_javascript_redirects_back(app):
    me = new_author(app)
    _notify(app, me.id, 2)
    browser = signed_in(app, me.email)

    response = browser.post_form("/notifications/read-all", {}, csrf_from="/notifications")
    assert response.status_code == 302
    assert response.location.endswith("/notifications")
    assert "Marked 2 notifications read." in browser.get("/notifications").get_data(as_text=True)


def test_the_badge_is_right_on_page_load_for_one_statement(app, count_queries):
    me = new_author(app)
    browser = signed_in(app, me.email)
    browser.get("/")  # warm up (session touch, runtime settings)

    with count_queries() as before:
        page = browser.get("/").get_data(as_text=True)
    assert 'data-count="0" hidden' in page

    _notify(app, me.id, 120)
    with count_queries() as after:
        page = browser.get("/").get_data(as_text=True)
    assert 'data-count="100"' in page
    assert "99+" in page
    assert after.count == before.count
    # The badges come with the session lookup (blog.auth.sessions read_with_session).
    assert after.statements[0].startswith("EXECUTE session_lookup(")
    assert not [s for s in after.statements if "nav_badge_counts" in s]


def test_the_badge_count_uses_the_partial_index(app):
    from sqlalchemy import text

    me = new_author(app)
    # A reader's inbox: many notifications already read, a few not. With only a handful of rows
    # the inbox index costs the same and the planner's pick between them was a coin toss (it
    # flipped once in CI); here the partial index is the one that skips the read ones.
    with app.app_context():
        db.session.execute(
            text(
                "INSERT INTO notifications (user_id, type, kind, title, message, status, sent_at,"
                " read_at, event_id) SELECT :u, 'websocket', 'mention', 'Old', 'Old', 'sent',"
                " now(), now(), gen_random_uuid() FROM generate_series(1, 500)"
            ),
            {"u": me.id},
        )
        db.session.commit()
    _notify(app, me.id, 5)
    with app.app_context():
        db.session.execute(text("ANALYZE notifications"))
        db.session.commit()
        db.session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = db.session.execute(
            text(
                "EXPLAIN SELECT count(*) FROM (SELECT id FROM notifications WHERE user_id = :u "
                "AND type = 'websocket' AND read_at IS NULL LIMIT 100) AS c"
            ),
            {"u": me.id},
        ).scalars()
        assert "ix_notifications_unread" in "\n".join(plan)
        db.session.rollback()


# --------------------------------------------------------------------------- preferences


def test_preferences_page_saves_choices_and_keeps_required_ones(app):
    me = new_author(app)
    browser = signed_in(app, me.email)
    page = browser.get("/notifications/preferences").get_data(as_text=True)
    assert "Comments on your posts" in page
    assert "Always" in page

    response = browser.post_form(
        "/notifications/preferences",
        {"comment_on_post__in_app": "y", "mention__email": "y"},
        csrf_from="/notifications/preferences",
    )
    assert response.status_code == 302
    with app.app_context():
        prefs = services.preferences(me.id)
    assert prefs[("comment_on_post", "in_app")] is True
    assert prefs[("comment_on_post", "email")] is False
    assert prefs[("mention", "in_app")] is False
    assert prefs[("mention", "email")] is True
    assert prefs[("account_suspended", "email")] is True  # cannot be switched off


def test_preferences_need_sign_in(client):
    assert client.get("/notifications/preferences").status_code == 302


# --------------------------------------------------------------------------- follows


def test_follow_and_unfollow_from_the_profile(app, client):
    me, author = new_author(app), new_author(app)
    browser = htmx_client(app, me.email)
    profile = f"/u/{author.user_name}"
    assert "Sign in to follow" in client.get(profile).get_data(as_text=True)
    assert 'aria-pressed="false"' in browser.get(profile, headers={}).get_data(as_text=True)

    followed = browser.post_form(f"{profile}/follow", {}, csrf_from=profile)
    html = followed.get_data(as_text=True)
    assert followed.status_code == 200
    assert 'aria-pressed="true"' in html
    assert "1 follower" in html
    again = browser.post_form(f"{profile}/follow", {}, csrf_from=profile)  # idempotent
    assert again.status_code == 200
    with app.app_context():
        assert services.is_following(me.id, author.id)
        assert services.follower_count(author.id) == 1

    unfollowed = browser.post_form(f"{profile}/unfollow", {}, csrf_from=profile)
    assert 'aria-pressed="false"' in unfollowed.get_data(as_text=True)
    with app.app_context():
        assert not services.is_following(me.id, author.id)


def test_you_cannot_follow_yourself_and_follows_need_csrf(app):
    me = new_author(app)
    browser = signed_in(app, me.email)
    profile = f"/u/{me.user_name}"
    assert "Follow" not in browser.get(profile).get_data(as_text=True).split("follower")[0][-300:]

    refused = browser.post_form(f"{profile}/follow", {}, csrf_from=profile)
    assert refused.status_code == 302
    assert "You cannot follow yourself." in browser.get(profile).get_data(as_text=True)
    assert browser.post(f"/u/{new_author(app).user_name}/follow").status_code == 400
    assert browser.post_form("/u/nobody-here/follow", {}).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Follow)) == 0


def test_an_error_page_after_a_failed_statement_still_renders_for_a_signed_in_user(app, make_app):
    from sqlalchemy import text

    failing = make_app()

    @failing.get("/_test/bad-sql")
    def bad_sql():  # type: ignore[no-untyped-def]
        from flask_login import current_user

        assert current_user.is_authenticated  # loaded first, as most views do
        db.session.execute(text("SELECT 1/0"))  # the transaction is now aborted

    person = new_author(failing)
    browser = signed_in(failing, person.email)
    _notify(failing, person.id, 2)
    assert 'data-count="2"' in browser.get("/").get_data(as_text=True)

    page = browser.get("/_test/bad-sql")

    assert page.status_code == 500
    body = page.get_data(as_text=True)
    assert "We hit an unexpected error." in body
    assert 'id="notification-badge"' in body  # the nav is there, the badge merely hidden
